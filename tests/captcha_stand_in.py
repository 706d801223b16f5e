"""A loopback stand-in of the CAPTCHA providers' siteverify APIs (Cloudflare Turnstile, hCaptcha, Google
reCAPTCHA), answering as each one documents: a form-encoded POST of ``secret``, ``response`` and
``remoteip`` (hCaptcha: ``sitekey`` too), a JSON answer with ``success`` and, on failure, ``error-codes``.

Tokens the stand-in knows (a token is good once, as the providers' are):
- ``pass-…``: solved (reCAPTCHA answers a v3 ``score`` of 0.9); ``score-0.3-…``: solved, score 0.3 (reCAPTCHA)
- ``slow-…``: the answer comes after ``slow_seconds`` (a provider that does not answer in time)
- ``broken-…``: a 502 with an HTML page (a proxy in between), not the API's answer
- anything else: not a token it issued (``invalid-input-response``)
"""
from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler
from urllib.parse import parse_qs

from tests.loopback import LoopbackServer

SECRET = "stand-in-secret"
SITE_KEY = "stand-in-site-key"

# What each provider answers for a token used a second time (Turnstile and reCAPTCHA: timeout-or-duplicate;
# hCaptcha: already-seen-response).
DUPLICATE_CODE = {"turnstile": "timeout-or-duplicate", "hcaptcha": "already-seen-response",
                  "recaptcha": "timeout-or-duplicate"}


class _Siteverify(BaseHTTPRequestHandler):
    def log_message(self, *args) -> None:  # quiet: the tests read what they need from the server
        pass

    def do_POST(self) -> None:
        server = self.server
        length = int(self.headers.get("Content-Length") or 0)
        form = {name: values[0] for name, values in parse_qs(self.rfile.read(length).decode()).items()}
        with server.lock:
            server.requests.append(form)
        token = form.get("response", "")
        if token.startswith("slow-"):
            time.sleep(server.slow_seconds)
        if token.startswith("broken-"):
            return self._send(502, b"<html><body>Bad gateway</body></html>", "text/html")
        self._answer(server.provider, form, token)

    def _answer(self, provider: str, form: dict, token: str) -> None:
        server = self.server
        secret = form.get("secret")
        if not secret:
            return self._json(_failure("missing-input-secret"))
        if secret != SECRET:
            return self._json(_failure("invalid-input-secret"))
        if not token:
            return self._json(_failure("missing-input-response"))
        if provider == "hcaptcha" and form.get("sitekey") not in (None, SITE_KEY):
            return self._json(_failure("sitekey-secret-mismatch"))
        with server.lock:
            seen = token in server.spent
            server.spent.add(token)
        if seen:
            return self._json(_failure(DUPLICATE_CODE[provider]))
        if not token.startswith(("pass-", "score-", "slow-")):
            return self._json(_failure("invalid-input-response"))
        answer = {"success": True, "challenge_ts": "2026-12-03T12:00:00Z", "hostname": "127.0.0.1"}
        if provider == "turnstile":
            answer.update({"error-codes": [], "action": "", "cdata": ""})
        elif provider == "hcaptcha":
            answer["credit"] = False
        else:
            answer.update({"score": float(token.split("-")[1]) if token.startswith("score-") else 0.9,
                           "action": "signup"})
        self._json(answer)

    def _json(self, body: dict) -> None:
        self._send(200, json.dumps(body).encode(), "application/json")

    def _send(self, status: int, body: bytes, content_type: str) -> None:
        try:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
        except (BrokenPipeError, ConnectionResetError):
            pass  # a slow answer's client gave up waiting, as it should


def _failure(code: str) -> dict:
    return {"success": False, "error-codes": [code]}


class SiteverifyStandIn(LoopbackServer):
    """One provider's siteverify at ``url`` + ``/siteverify``; ``requests`` holds every form it was sent."""

    def __init__(self, provider: str, slow_seconds: float = 3.0):
        self.requests: list[dict] = []
        super().__init__(_Siteverify, f"{provider}-siteverify", provider=provider, requests=self.requests,
                         spent=set(), lock=threading.Lock(), slow_seconds=slow_seconds)

    @property
    def verify_url(self) -> str:
        return f"{self.url}/siteverify"
