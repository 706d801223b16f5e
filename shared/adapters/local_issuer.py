"""The local development issuer (LOCAL_ISSUER=true, `make run` only): a small OpenID Connect provider so that a
newcomer can sign in to the partner portal, and try the partner API, without an Entra tenant.

It speaks the protocol the portal speaks to Entra External ID: a discovery document, a JWKS, an authorize step
(a labelled page where one picks the partner user to be, instead of a password) and a token endpoint that
redeems a code once, within a minute, for the client and redirect URI it was issued to, and only with the PKCE
verifier whose S256 challenge the authorize step received. Its tokens are RS256 with ``sub``, a verified
``email``, ``nonce``, ``aud`` = the portal's client id (which LOCAL_ISSUER makes PARTNER_TOKEN_AUDIENCE).

The signing key lives in DATA_DIR/local-issuer/ (created on first use, readable by its owner only), so that
tokens survive a restart and ``b2b token EMAIL`` signs what the host accepts. Settings refuse LOCAL_ISSUER in
Azure and off loopback (shared/config.py).
"""
from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import secrets
import threading
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from shared.config import LOCAL_CLIENT_ID, LOCAL_ISSUER_ID
from shared.domain.signup import Email

CODE_SECONDS = 60
TOKEN_SECONDS = 3600
_FOLDER = "local-issuer"
_KEY_FILE = "signing-key.pem"
_SESSION_SECRET_FILE = "portal-session-secret"


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _create_once(path: Path, make: callable) -> bytes:
    """The file's bytes; made by ``make`` when absent. Two processes (the host and the CLI) starting together
    both end with the one file that won: it is written under a temporary name and linked in place."""
    if path.exists():
        return path.read_bytes()
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{uuid.uuid4().hex}")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as file:
        file.write(make())
    try:
        os.link(temporary, path)
    except FileExistsError:
        pass
    finally:
        temporary.unlink()
    return path.read_bytes()


def local_session_secret(data_dir: Path) -> str:
    """PORTAL_SESSION_SECRET for a local host that sets none: random, kept in the state folder."""
    return _create_once(Path(data_dir) / _FOLDER / _SESSION_SECRET_FILE,
                        lambda: secrets.token_urlsafe(48).encode()).decode().strip()


def subject_for(email: str) -> str:
    """One account per email, stable across restarts (as an External ID local account's ``sub`` is)."""
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"{LOCAL_ISSUER_ID}:{email.strip().lower()}"))


class AuthorizeRequest(BaseModel):
    """The authorize step's parameters (RFC 6749 §4.1.1 with RFC 7636 and OIDC's nonce)."""

    model_config = ConfigDict(extra="ignore", str_strip_whitespace=True)

    client_id: str = Field(min_length=1, max_length=200)
    redirect_uri: str = Field(min_length=1, max_length=2000)
    response_type: Literal["code"]
    scope: str = Field(max_length=1000)
    state: str = Field(min_length=1, max_length=500)
    nonce: str = Field(min_length=1, max_length=500)
    code_challenge: str = Field(pattern=r"^[A-Za-z0-9_-]{43}$")
    code_challenge_method: Literal["S256"]


class TokenRequest(BaseModel):
    model_config = ConfigDict(extra="ignore", str_strip_whitespace=True)

    grant_type: Literal["authorization_code"]
    code: str = Field(min_length=1, max_length=200)
    redirect_uri: str = Field(min_length=1, max_length=2000)
    client_id: str = Field(min_length=1, max_length=200)
    code_verifier: str = Field(pattern=r"^[A-Za-z0-9._~-]{43,128}$")


class SignInChoice(BaseModel):
    model_config = ConfigDict(extra="ignore", str_strip_whitespace=True)

    email: Email


class OAuthError(Exception):
    """An OAuth error answer (RFC 6749 §5.2): ``error`` is the code, the message its description."""

    def __init__(self, error: str, description: str):
        super().__init__(description)
        self.error = error


@dataclass(frozen=True)
class _Grant:
    request: AuthorizeRequest
    email: str
    expires_at: float


class LocalIssuer:
    """One per process (the container's); its codes live in memory, as the local host is one process."""

    def __init__(self, data_dir: Path, base_url: str, redirect_uri: str, *, clock=time.time):
        self.issuer = LOCAL_ISSUER_ID
        self.client_id = LOCAL_CLIENT_ID
        self.base_url = f"{base_url}/api/local-issuer"
        self.redirect_uri = redirect_uri
        self._key_path = Path(data_dir) / _FOLDER / _KEY_FILE
        self._clock = clock
        self._key = None
        self._grants: dict[str, _Grant] = {}
        self._lock = threading.Lock()

    # -- keys ---------------------------------------------------------------------------------------------
    def _private_key(self):
        if self._key is None:
            from cryptography.hazmat.primitives import serialization
            from cryptography.hazmat.primitives.asymmetric import rsa

            def make() -> bytes:
                key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
                return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                         serialization.NoEncryption())

            self._key = serialization.load_pem_private_key(_create_once(self._key_path, make), password=None)
        return self._key

    def _public_jwk(self) -> dict:
        from jwt.algorithms import RSAAlgorithm

        jwk = json.loads(RSAAlgorithm.to_jwk(self._private_key().public_key()))
        # RFC 7638's thumbprint as the key id: a new key (a deleted state folder) gets a new kid.
        thumbprint = json.dumps({"e": jwk["e"], "kty": "RSA", "n": jwk["n"]}, separators=(",", ":"), sort_keys=True)
        return {**jwk, "kid": _b64(hashlib.sha256(thumbprint.encode()).digest()), "use": "sig", "alg": "RS256"}

    # -- documents ----------------------------------------------------------------------------------------
    def discovery(self) -> dict:
        return {"issuer": self.issuer, "authorization_endpoint": f"{self.base_url}/authorize",
                "token_endpoint": f"{self.base_url}/token", "jwks_uri": f"{self.base_url}/keys",
                "response_types_supported": ["code"], "response_modes_supported": ["query"],
                "grant_types_supported": ["authorization_code"], "subject_types_supported": ["public"],
                "id_token_signing_alg_values_supported": ["RS256"], "code_challenge_methods_supported": ["S256"],
                "scopes_supported": ["openid", "profile", "email"], "token_endpoint_auth_methods_supported": ["none"],
                "claims_supported": ["sub", "email", "email_verified", "name", "nonce"]}

    def jwks(self) -> dict:
        return {"keys": [self._public_jwk()]}

    def token_for(self, email: str, *, nonce: str | None = None, lifetime_seconds: int = TOKEN_SECONDS) -> str:
        """A token the partner services accept for the account of ``email`` (verified by this issuer)."""
        import jwt

        now = int(self._clock())
        claims = {"iss": self.issuer, "aud": self.client_id, "sub": subject_for(email), "email": email.lower(),
                  "email_verified": True, "iat": now, "nbf": now, "exp": now + lifetime_seconds, "ver": "2.0",
                  **({"nonce": nonce} if nonce else {})}
        return jwt.encode(claims, self._private_key(), algorithm="RS256", headers={"kid": self._public_jwk()["kid"]})

    # -- authorize ----------------------------------------------------------------------------------------
    def check_authorize(self, request: AuthorizeRequest) -> None:
        """Only the portal of this host may ask, and only for its own callback (no open redirect)."""
        if request.client_id != self.client_id:
            raise OAuthError("unauthorized_client", "this issuer knows only the local portal's client id")
        if request.redirect_uri != self.redirect_uri:
            raise OAuthError("invalid_request", "the redirect URI is not the local portal's callback")
        if "openid" not in request.scope.split():
            raise OAuthError("invalid_scope", "the scope must include openid")

    def issue_code(self, request: AuthorizeRequest, email: str) -> str:
        self.check_authorize(request)
        code = secrets.token_urlsafe(32)
        with self._lock:
            now = self._clock()
            self._grants = {c: g for c, g in self._grants.items() if g.expires_at > now}
            self._grants[code] = _Grant(request, email.strip().lower(), now + CODE_SECONDS)
        return code

    # -- token --------------------------------------------------------------------------------------------
    def redeem(self, request: TokenRequest) -> dict:
        with self._lock:
            grant = self._grants.pop(request.code, None)  # once, whatever follows
        if grant is None or grant.expires_at <= self._clock():
            raise OAuthError("invalid_grant", "the code is unknown, used before or expired")
        if request.client_id != grant.request.client_id or request.redirect_uri != grant.request.redirect_uri:
            raise OAuthError("invalid_grant", "the code was issued to another client or redirect URI")
        challenge = _b64(hashlib.sha256(request.code_verifier.encode("ascii")).digest())
        if not hmac.compare_digest(challenge, grant.request.code_challenge):
            raise OAuthError("invalid_grant", "the code verifier does not match the code challenge")
        token = self.token_for(grant.email, nonce=grant.request.nonce)
        return {"token_type": "Bearer", "id_token": token, "access_token": token, "expires_in": TOKEN_SECONDS,
                "scope": grant.request.scope}
