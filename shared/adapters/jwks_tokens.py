"""Bearer JWTs verified against the issuer's published keys (a JWKS), as Entra External ID / Azure AD B2C
issue them: RS256 only, issuer and audience fixed by settings, expiry required.

The caller is an account: the token's issuer and its subject claim (``sub`` by default; ``oid`` where so
configured). Email claims are mutable and not meant for authorization (Microsoft says so of ``email`` and
``preferred_username``), so a token's email names no one here: it only counts as ``verified_email`` when
the issuer vouches for it, in one of the ways ``email_trust`` allows, and serves to bind the account to
the partner user added with that email at the account's first sign-in. ``preferred_username`` is never read.

PyJWT, cryptography and requests are imported on first use, never at import time (cold start).
Nothing here logs or repeats the token; the reasons in ``Unauthenticated`` are fixed phrases.
"""
from __future__ import annotations

import logging
import re
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from types import MappingProxyType
from typing import Any

from shared.domain.errors import TokenKeysUnavailable, Unauthenticated
from shared.ports import Caller

log = logging.getLogger(__name__)

ALGORITHM = "RS256"
# RFC 6750 §2.1: b64token. A JWS in compact form is three base64url parts joined by dots.
_CREDENTIALS = re.compile(r"[A-Za-z0-9\-._~+/]+=*")
_EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s.]+")
_MAX_JWKS_BYTES = 512 * 1024
SUBJECT_CLAIMS = frozenset({"sub", "oid"})


def _address(value: object) -> str | None:
    if isinstance(value, str) and _EMAIL.fullmatch(value.strip()):
        return value.strip().lower()
    return None


def _verified_email_claim(claims: Mapping[str, Any]) -> str | None:
    """OpenID Connect's ``email`` with ``email_verified`` true (a boolean; some issuers send the string)."""
    verified = claims.get("email_verified")
    if verified is True or (isinstance(verified, str) and verified.strip().lower() == "true"):
        return _address(claims.get("email"))
    return None


def _local_account_emails_claim(claims: Mapping[str, Any]) -> str | None:
    """B2C / External ID's ``emails`` (its first entry) for a local account, whose email the sign-up flow
    verified. An account of a federated provider carries ``idp`` naming that provider, and its email is
    that provider's word, not this issuer's: it does not count."""
    idp = claims.get("idp")
    if idp is not None and idp != claims.get("iss"):
        return None
    emails = claims.get("emails")
    return _address(emails[0]) if isinstance(emails, list) and emails else None


# PARTNER_TOKEN_EMAIL_TRUST names these: each is a way an issuer vouches for an email in its token.
EMAIL_TRUST: Mapping[str, Callable[[Mapping[str, Any]], str | None]] = MappingProxyType({
    "email_verified": _verified_email_claim,
    "emails_claim": _local_account_emails_claim,
})


class JwksTokenVerifier:
    """``TokenVerifier`` over a JWKS URL. Thread-safe: one instance serves every worker thread.

    Keys are fetched on first use and cached. A token naming a key id (``kid``) the cache lacks makes one
    refetch (key rotation), and so does a cache older than ``cache_seconds``; refetches happen at most once
    per ``refetch_interval_seconds``, so a flood of tokens with made-up key ids cannot hammer the endpoint.
    When a refetch fails the keys already held stay in use.
    """

    def __init__(self, issuer: str, audience: str, jwks_url: str, *, leeway_seconds: float = 60,
                 subject_claim: str = "sub", email_trust: Iterable[str] = ("email_verified", "emails_claim"),
                 timeout_seconds: float = 5, refetch_interval_seconds: float = 30, cache_seconds: float = 3600,
                 monotonic: Callable[[], float] = time.monotonic):
        if not (issuer and audience and jwks_url):
            raise ValueError("issuer, audience and jwks_url are all required")
        if subject_claim not in SUBJECT_CLAIMS:
            raise ValueError(f"subject_claim must be one of {sorted(SUBJECT_CLAIMS)}")
        self.email_trust = tuple(email_trust)
        if not set(self.email_trust) <= set(EMAIL_TRUST):
            raise ValueError(f"email_trust names only {', '.join(EMAIL_TRUST)}")
        self.issuer = issuer
        self.audience = audience
        self.jwks_url = jwks_url
        self.leeway_seconds = leeway_seconds
        self.subject_claim = subject_claim
        self.timeout_seconds = timeout_seconds
        self.refetch_interval_seconds = refetch_interval_seconds
        self.cache_seconds = cache_seconds
        self._monotonic = monotonic
        # Replaced whole, never mutated: readers take the reference without a lock.
        self._keys: Mapping[str, Any] = MappingProxyType({})
        self._fetched_at: float | None = None  # last successful fetch
        self._attempted_at: float | None = None  # last fetch attempt, successful or not
        self._fetch_lock = threading.Lock()

    # -- the port --------------------------------------------------------------------------------------
    def verify(self, authorization: str | None) -> Caller:
        token = _bearer_token(authorization)
        import jwt

        try:
            header = jwt.get_unverified_header(token)
        except jwt.InvalidTokenError:
            raise Unauthenticated("malformed token") from None
        alg = header.get("alg")
        if not isinstance(alg, str) or alg.lower() == "none":
            raise Unauthenticated("unsigned token")
        if alg != ALGORITHM:
            raise Unauthenticated(f"signing algorithm not accepted (only {ALGORITHM})")
        kid = header.get("kid")
        if not isinstance(kid, str) or not kid:
            raise Unauthenticated("token names no signing key (kid)")
        key = self._key(kid)
        claims = self._decode(jwt, token, key)
        subject = claims.get(self.subject_claim)
        if not isinstance(subject, str) or not subject.strip():
            raise Unauthenticated(f"token has no subject ({self.subject_claim})")
        return Caller(issuer=claims["iss"], subject=subject, verified_email=self._verified_email(claims),
                      subject_claim=self.subject_claim)

    # -- claims ----------------------------------------------------------------------------------------
    def _decode(self, jwt, token: str, key) -> dict:
        try:
            return jwt.decode(token, key, algorithms=[ALGORITHM], audience=self.audience, issuer=self.issuer,
                              leeway=self.leeway_seconds, options={"require": ["exp", "iss", "aud", self.subject_claim]})
        except jwt.ExpiredSignatureError:
            reason = "token expired"
        except jwt.ImmatureSignatureError:
            reason = "token not yet valid"
        except jwt.MissingRequiredClaimError as error:
            reason = f"token has no {error.claim} claim"
        except jwt.InvalidAudienceError:
            reason = "token is for another audience"
        except jwt.InvalidIssuerError:
            reason = "token is from another issuer"
        except jwt.InvalidSignatureError:
            reason = "signature does not verify"
        except jwt.DecodeError:
            reason = "malformed token"
        except jwt.InvalidTokenError as error:  # iat not a number, and whatever PyJWT adds later
            reason = f"invalid token ({type(error).__name__})"
        raise Unauthenticated(reason)

    def _verified_email(self, claims: Mapping[str, Any]) -> str | None:
        """The email the issuer vouches for in one of the ``email_trust`` ways, if any."""
        for trust in self.email_trust:
            if (email := EMAIL_TRUST[trust](claims)) is not None:
                return email
        return None

    # -- keys ------------------------------------------------------------------------------------------
    def _key(self, kid: str):
        now = self._monotonic()
        keys = self._keys
        stale = self._fetched_at is None or now - self._fetched_at >= self.cache_seconds
        if kid in keys and not stale:
            return keys[kid]
        keys = self._refresh()
        if kid in keys:
            return keys[kid]
        raise Unauthenticated("token is signed with an unknown key")

    def _refresh(self) -> Mapping[str, Any]:
        """The keys after at most one fetch: none when the last attempt (by any thread, including one this
        call waited for) was less than ``refetch_interval_seconds`` ago."""
        with self._fetch_lock:
            now = self._monotonic()
            if self._attempted_at is not None and now - self._attempted_at < self.refetch_interval_seconds:
                if not self._keys:
                    raise TokenKeysUnavailable("the issuer's signing keys are unavailable; retry later")
                return self._keys
            self._attempted_at = now
            try:
                keys = self._fetch()
            except TokenKeysUnavailable:
                if not self._keys:
                    raise
                log.warning("JWKS refresh failed; keeping the %d keys already held", len(self._keys), exc_info=True)
                return self._keys
            self._keys, self._fetched_at = MappingProxyType(keys), now
            return self._keys

    def _fetch(self) -> dict[str, Any]:
        import requests
        from jwt.algorithms import RSAAlgorithm
        from jwt.exceptions import InvalidKeyError

        try:
            response = requests.get(self.jwks_url, timeout=self.timeout_seconds,
                                    headers={"Accept": "application/json"}, allow_redirects=False)
            response.raise_for_status()
            if len(response.content) > _MAX_JWKS_BYTES:
                raise ValueError(f"JWKS larger than {_MAX_JWKS_BYTES} bytes")
            document = response.json()
            entries = document["keys"]
            if not isinstance(entries, list):
                raise ValueError("'keys' is not a list")
        except (requests.RequestException, ValueError, KeyError, TypeError) as error:
            raise TokenKeysUnavailable(f"cannot read the JWKS at {self.jwks_url}: {error}") from error
        keys: dict[str, Any] = {}
        for entry in entries:
            if not (isinstance(entry, dict) and entry.get("kty") == "RSA" and isinstance(entry.get("kid"), str)
                    and entry.get("use", "sig") == "sig" and entry.get("alg", ALGORITHM) == ALGORITHM):
                continue  # encryption keys, other key types, keys pinned to another algorithm
            try:
                keys[entry["kid"]] = RSAAlgorithm.from_jwk(entry)
            except InvalidKeyError:
                log.warning("JWKS at %s: key %r is not a usable RSA public key", self.jwks_url, entry["kid"][:64])
        log.info("JWKS at %s: %d signing keys", self.jwks_url, len(keys))
        return keys


def _bearer_token(authorization: str | None) -> str:
    if authorization is None or not authorization.strip():
        raise Unauthenticated("no bearer token", error=None)
    scheme, _, credentials = authorization.strip().partition(" ")
    if scheme.lower() != "bearer":
        raise Unauthenticated("not a bearer token", error=None)  # RFC 6750 §3.1: another scheme, no error code
    credentials = credentials.strip()
    if not credentials:
        raise Unauthenticated("empty bearer token", error="invalid_request")
    if not _CREDENTIALS.fullmatch(credentials):
        raise Unauthenticated("malformed token")
    return credentials
