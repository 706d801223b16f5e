"""The signups the benchmarks submit: company i with its own domain, so every requester has an email of
their own (one email is one sign-in user: shared emails would send every approval after the first down
the "signs in elsewhere already" path instead of the normal one)."""
from __future__ import annotations

from shared.demo import demo_signup


def numbered_signup(i: int, tag: str = "") -> dict:
    return demo_signup(f"Company{tag}{i} AB", "Anna", f"Berg{i}", "sv-SE", "SE", "111 22")
