"""The signups the benchmarks submit: company i with its own domain, so every requester has an email of
their own (one email is one sign-in user: shared emails would send every approval after the first down
the "signs in elsewhere already" path instead of the normal one); and how the benchmarks decide them."""
from __future__ import annotations

from shared.demo import demo_signup


def numbered_signup(i: int, tag: str = "") -> dict:
    return demo_signup(f"Company{tag}{i} AB", "Anna", f"Berg{i}", "sv-SE", "SE", "111 22")


def decide_in_thirds(sales) -> None:
    """As a salesperson in the embedded Sales: a third of the B2B leads each qualified and won,
    disqualified, qualified and lost (in lead order)."""
    for i, lead in enumerate(sales.b2b_leads()):
        if i % 3 == 1:
            sales.disqualify(lead["leadid"])
            continue
        opportunity = sales.qualify(lead["leadid"]).opportunity_id
        (sales.win if i % 3 == 0 else sales.lose)(opportunity)
