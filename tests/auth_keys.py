"""A local token issuer for tests: RSA key pairs, their JWKS served on loopback, and tokens signed with them.

Importing this module does nothing (no keys, no server, no cryptography import); ``LocalIssuer()`` makes the
keys and ``start()`` (or ``with``) serves the JWKS. The ``jwks`` fixture in tests/conftest.py hands out one
running issuer, reset for every test:

    def test_admin_lists_users(jwks):
        verifier = jwks.verifier()                  # a JwksTokenVerifier for this issuer
        token = jwks.token_for("Admin@Partner.example")
        assert verifier.verify(f"Bearer {token}").verified_email == "admin@partner.example"
        Settings.from_env({**jwks.settings_env(), ...})  # the PARTNER_TOKEN_* settings for a Container
"""
from __future__ import annotations

import base64
import hashlib
import hmac
import json
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler
from typing import Any

from tests.loopback import LoopbackServer

ISSUER = "https://login.partners.test/11111111-2222-3333-4444-555555555555/v2.0"
AUDIENCE = "api://b2b-partners"
JWKS_PATH = "/discovery/v2.0/keys"


def _rsa_key():
    from cryptography.hazmat.primitives.asymmetric import rsa

    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


class LocalIssuer:
    """Key pairs, a JWKS endpoint on 127.0.0.1 (ephemeral port) and a signer.

    ``key``/``kid``: the published signing key; ``attacker_key``: a key pair never published. ``fetches``
    counts JWKS requests; set ``fail_with`` to an HTTP status to make the endpoint fail."""

    def __init__(self, issuer: str = ISSUER, audience: str = AUDIENCE):
        self.issuer, self.audience = issuer, audience
        self.key, self.attacker_key = _rsa_key(), _rsa_key()
        self.kid = "key-1"
        self._lock = threading.Lock()
        self._published: dict[str, Any] = {}
        self.fetches = 0
        self.fail_with: int | None = None
        self._http: LoopbackServer | None = None
        self.reset()

    # -- the JWKS endpoint --------------------------------------------------------------------------------
    def start(self) -> LocalIssuer:
        issuer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):  # noqa: N802 (http.server's name)
                with issuer._lock:
                    issuer.fetches += 1
                    status = issuer.fail_with or (200 if self.path == JWKS_PATH else 404)
                    body = json.dumps(issuer.jwks()).encode() if status == 200 else b'{"error": "nope"}'
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):  # keep test output quiet
                pass

        self._http = LoopbackServer(Handler, "local-jwks").start()
        return self

    def stop(self) -> None:
        if self._http is not None:
            self._http.stop()
            self._http = None

    def __enter__(self) -> LocalIssuer:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    @property
    def jwks_url(self) -> str:
        assert self._http is not None, "start() the issuer first"
        return self._http.url + JWKS_PATH

    def jwks(self) -> dict:
        """The JWKS document as served now: the public halves of the published keys."""
        from jwt.algorithms import RSAAlgorithm

        keys = []
        for kid, private in self._published.items():
            entry = json.loads(RSAAlgorithm.to_jwk(private.public_key()))
            keys.append({**entry, "kid": kid, "use": "sig", "alg": "RS256"})
        return {"keys": keys}

    # -- keys ---------------------------------------------------------------------------------------------
    def publish(self, kid: str, key=None):
        """Add a key to the JWKS (a fresh one unless given), as an issuer rotating its keys does; returns it."""
        key = key or _rsa_key()
        with self._lock:
            self._published = {**self._published, kid: key}
        return key

    def withdraw(self, kid: str) -> None:
        with self._lock:
            self._published = {k: v for k, v in self._published.items() if k != kid}

    def reset(self) -> None:
        """Back to one published key (``key`` as ``kid``), no fetches counted, no failure."""
        with self._lock:
            self._published = {self.kid: self.key}
            self.fetches = 0
            self.fail_with = None

    @property
    def public_pem(self) -> bytes:
        from cryptography.hazmat.primitives import serialization

        return self.key.public_key().public_bytes(serialization.Encoding.PEM,
                                                  serialization.PublicFormat.SubjectPublicKeyInfo)

    # -- tokens -------------------------------------------------------------------------------------------
    def sign(self, claims: dict, *, key=None, kid: str | None = None, alg: str = "RS256",
             headers: dict | None = None) -> str:
        """A compact JWS of ``claims``. RS256 (or RS512, PS256…) signs with ``key`` (default: the published one) under ``kid``
        (default: its kid; pass ``kid=""`` for none). For attacks: ``alg="none"`` gives an unsigned token,
        ``alg="HS256"`` an HMAC with ``key`` as the secret (bytes, e.g. ``public_pem``), which PyJWT itself
        would refuse to produce from a PEM."""
        kid = self.kid if kid is None else kid
        header = {"alg": alg, "typ": "JWT", **({"kid": kid} if kid else {}), **(headers or {})}
        if alg.startswith(("RS", "PS")):
            import jwt

            return jwt.encode(claims, key or self.key, algorithm=alg, headers=header)
        signing_input = f"{_b64(json.dumps(header).encode())}.{_b64(json.dumps(claims).encode())}"
        if alg.lower() == "none":
            return signing_input + "."
        if alg == "HS256":
            secret = key if isinstance(key, bytes) else self.public_pem
            return f"{signing_input}.{_b64(hmac.new(secret, signing_input.encode(), hashlib.sha256).digest())}"
        raise ValueError(f"sign does not do {alg}")

    def claims_for(self, email: str, /, issuer: str | None = None, audience: str | None = None,
                   lifetime_seconds: float = 300, **extra) -> dict:
        """Claims as Entra External ID sends them for an account whose email it verified (one account per
        email: ``sub`` derives from it); ``extra`` adds or replaces claims, and a claim given as None is left
        out (``exp=None``: a token that never expires; ``email_verified=None``: an email the issuer does not
        vouch for; ``sub="…"``: another account with the same email)."""
        now = int(time.time())
        claims = {"iss": issuer or self.issuer, "aud": audience or self.audience,
                  "sub": str(uuid.uuid5(uuid.NAMESPACE_URL, f"sub:{email.strip().lower()}")),
                  "email": email, "email_verified": True, "iat": now, "nbf": now, "exp": int(now + lifetime_seconds),
                  **extra}
        return {name: value for name, value in claims.items() if value is not None}

    def token_for(self, email: str, /, issuer: str | None = None, audience: str | None = None,
                  lifetime_seconds: float = 300, **extra) -> str:
        """A valid token for ``email`` signed with the published key (see ``claims_for`` for ``extra``)."""
        return self.sign(self.claims_for(email, issuer, audience, lifetime_seconds, **extra))

    def header_for(self, email: str, /, **kwargs) -> str:
        """``Authorization`` header value carrying ``token_for(email, **kwargs)``."""
        return f"Bearer {self.token_for(email, **kwargs)}"

    # -- wiring -------------------------------------------------------------------------------------------
    def settings_env(self) -> dict[str, str]:
        """The PARTNER_TOKEN_* settings naming this issuer (merge into a Settings.from_env mapping)."""
        return {"PARTNER_TOKEN_ISSUER": self.issuer, "PARTNER_TOKEN_AUDIENCE": self.audience,
                "PARTNER_TOKEN_JWKS_URL": self.jwks_url}

    def verifier(self, **options):
        """A fresh JwksTokenVerifier (its own key cache) for this issuer; ``options`` as its keywords."""
        from shared.adapters.jwks_tokens import JwksTokenVerifier

        return JwksTokenVerifier(self.issuer, self.audience, self.jwks_url, **options)
