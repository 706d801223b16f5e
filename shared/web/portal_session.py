"""The portal's cookies: a sign-in in progress and a signed-in session, sealed with PORTAL_SESSION_SECRET.

Sealed means encrypted and authenticated (Fernet, from ``cryptography``: AES-CBC with an HMAC, and a time
stamp checked on opening). The session holds the partner user's token, which must neither be read nor
changed by anyone holding the cookie jar's file; HttpOnly keeps scripts from it.

A sign-in in progress keeps only its random ``state`` in the browser. The PKCE code verifier and the nonce are
derived from the state with the secret (HMAC), on the server, when the flow starts and again at the callback:
the verifier never leaves the server, and nothing about the flow needs storage between the two requests.
The CSRF token of a session is derived the same way from the session's random id.
"""
from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
from dataclasses import dataclass, replace

FLOW_COOKIE = "b2b_portal_flow"
SESSION_COOKIE = "b2b_portal_session"
COOKIE_PATH = "/api/portal"
FLOW_SECONDS = 600  # a sign-in must come back from the issuer within ten minutes
MIN_SECRET_LENGTH = 32
# An App Service Key Vault reference that could not be resolved stays in the setting as this text: it must
# never serve as the secret.
_UNRESOLVED_REFERENCE = "@Microsoft.KeyVault("


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


class SessionSecretMissing(ValueError):
    pass


@dataclass(frozen=True)
class Session:
    session_id: str
    token: str  # the bearer token the partner services verify
    expires_at: int  # the token's exp (seconds since the epoch)
    # One line for the next page (what a form post changed), shown once. It rides in the session cookie because
    # an answer sets one cookie: the Functions worker passes on one header of each name.
    notice: str | None = None

    def with_notice(self, notice: str) -> Session:
        return replace(self, notice=notice)

    def without_notice(self) -> Session:
        return replace(self, notice=None)


class PortalSeal:
    """Seals and opens the portal's cookies with one secret; derives the values a flow or session needs."""

    def __init__(self, secret: str, *, clock=None):
        if not secret or secret.startswith(_UNRESOLVED_REFERENCE) or len(secret) < MIN_SECRET_LENGTH:
            raise SessionSecretMissing(f"PORTAL_SESSION_SECRET must be a random value of at least "
                                       f"{MIN_SECRET_LENGTH} characters")
        from cryptography.fernet import Fernet

        material = secret.encode("utf-8")
        self._derive_key = hashlib.sha256(b"b2b-portal-derive\0" + material).digest()
        self._fernet = Fernet(base64.urlsafe_b64encode(hashlib.sha256(b"b2b-portal-seal\0" + material).digest()))
        self._clock = clock

    # -- derived values ---------------------------------------------------------------------------------
    def _derived(self, purpose: str, value: str) -> str:
        return _b64(hmac.new(self._derive_key, f"{purpose}\0{value}".encode(), hashlib.sha256).digest())

    def code_verifier(self, state: str) -> str:
        """RFC 7636's verifier: 43 characters of base64url (256 bits)."""
        return self._derived("pkce-verifier", state)

    def nonce(self, state: str) -> str:
        return self._derived("nonce", state)

    def csrf_token(self, session: Session) -> str:
        return self._derived("csrf", session.session_id)

    def csrf_matches(self, session: Session, sent: str | None) -> bool:
        return bool(sent) and hmac.compare_digest(self.csrf_token(session), sent)

    @staticmethod
    def code_challenge(verifier: str) -> str:
        """S256: base64url(SHA-256(verifier)), no padding."""
        return _b64(hashlib.sha256(verifier.encode("ascii")).digest())

    # -- sealing ----------------------------------------------------------------------------------------
    def _seal(self, kind: str, body: dict) -> str:
        return self._fernet.encrypt(json.dumps({"kind": kind, **body}).encode()).decode("ascii")

    def _open(self, kind: str, sealed: str | None, ttl: int | None) -> dict | None:
        from cryptography.fernet import InvalidToken

        if not sealed:
            return None
        try:
            body = json.loads(self._fernet.decrypt(sealed.encode("ascii"), ttl=ttl))
        except (InvalidToken, ValueError, UnicodeEncodeError):
            return None  # forged, changed, too old, or sealed with another secret: as if there were none
        return body if isinstance(body, dict) and body.get("kind") == kind else None

    def new_flow(self) -> tuple[str, str]:
        """A fresh sign-in: its state and the sealed cookie value that remembers it."""
        state = secrets.token_urlsafe(32)
        return state, self._seal("flow", {"state": state})

    def flow_state(self, sealed: str | None) -> str | None:
        body = self._open("flow", sealed, FLOW_SECONDS)
        return body.get("state") if body else None

    def new_session(self, token: str, expires_at: int) -> tuple[Session, str]:
        session = Session(secrets.token_urlsafe(24), token, int(expires_at))
        return session, self.seal_session(session)

    def seal_session(self, session: Session) -> str:
        return self._seal("session", {"sid": session.session_id, "token": session.token, "exp": session.expires_at,
                                      "notice": session.notice})

    def session(self, sealed: str | None) -> Session | None:
        body = self._open("session", sealed, None)  # the token's own exp bounds it; the services check that
        if not body or not isinstance(body.get("token"), str) or not isinstance(body.get("sid"), str):
            return None
        notice = body.get("notice")
        return Session(body["sid"], body["token"], int(body.get("exp") or 0),
                       notice if isinstance(notice, str) else None)


def secure_cookie(public_base_url: str) -> bool:
    """Secure everywhere but on a plain-http loopback host (make run), where a browser would drop it."""
    return not public_base_url.startswith("http://")
