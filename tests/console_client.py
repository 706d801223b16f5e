"""The console over plain HTTP, as a browser without JavaScript uses it: a requests session that signs in through
the local host's development sign-in and sends each form with its CSRF token, as the pages do."""
from __future__ import annotations

import requests


class ConsoleClient:
    def __init__(self, base_url: str, role: str = "operator", name: str = "Alice Clerk", *, sign_in: bool = True):
        self.base_url = base_url.rstrip("/")
        self.session = requests.Session()
        if sign_in:
            self.sign_in(role, name)

    def url(self, path: str) -> str:
        return path if path.startswith("http") else f"{self.base_url}{path}"

    @property
    def csrf(self) -> str:
        """The form token the console's pages put in their forms (the double-submit cookie's value)."""
        for name in ("b2b_csrf", "__Host-b2b_csrf"):
            if name in self.session.cookies:
                return self.session.cookies[name]
        return ""

    def sign_in(self, role: str = "operator", name: str = "Alice Clerk") -> requests.Response:
        self.get("/api/console/sign-in")
        answer = self.post("/api/console/sign-in", {"name": name, "role": role})
        assert answer.status_code == 303, answer.text[:300]
        return answer

    def get(self, path: str, **kwargs) -> requests.Response:
        return self.session.get(self.url(path), allow_redirects=False, timeout=30, **kwargs)

    def post(self, path: str, data: dict[str, str] | None = None, *, csrf: str | None = None,
             **kwargs) -> requests.Response:
        """A form post; ``csrf`` overrides the token (a forged or missing one, for the refusal tests)."""
        form = {"csrf": self.csrf if csrf is None else csrf, **(data or {})}
        return self.session.post(self.url(path), data=form, allow_redirects=False, timeout=30, **kwargs)
