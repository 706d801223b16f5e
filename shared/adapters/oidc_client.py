"""OpenID Connect for the partner portal: authorization code with PKCE (S256), as a confidential web client of
Entra External ID or Azure AD B2C, from the issuer's discovery document.

What the callback checks (the function checks ``state`` against its sealed cookie first):
- the code is redeemed at the token endpoint with the PKCE verifier (and the client secret when one is set);
  the issuer refuses a code used before, expired, or for another verifier (RFC 6749 §10.5, RFC 7636);
- the ID token: RS256 signature by a key of the discovery's ``jwks_uri``, ``iss`` the discovery's issuer,
  ``aud`` this client, ``exp``/``iat``, and ``nonce`` the one this sign-in sent (OIDC Core §3.1.3.7).
The token handed to the partner services (the access token for PORTAL_API_SCOPE, else the ID token) is then
verified by their own verifier (PARTNER_TOKEN_*), not here: the API's checks decide who the caller is.

PyJWT (already the project's JWT library) verifies; requests talks to the issuer. Both are imported on first
use. Nothing here logs a token, a code or a claim.
"""
from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass
from urllib.parse import urlencode

from shared.domain.errors import TokenKeysUnavailable

log = logging.getLogger("b2b.portal")

DISCOVERY_PATH = "/.well-known/openid-configuration"
_MAX_DOCUMENT_BYTES = 256 * 1024
DISCOVERY_SECONDS = 3600


class SignInFailed(Exception):
    """The sign-in cannot complete; the text is a fixed phrase fit to show (never the issuer's own words)."""


@dataclass(frozen=True)
class Discovery:
    issuer: str
    authorization_endpoint: str
    token_endpoint: str
    jwks_uri: str


@dataclass(frozen=True)
class SignedIn:
    token: str  # for the partner services
    expires_at: int  # seconds since the epoch


class OidcClient:
    def __init__(self, authority: str, client_id: str, redirect_uri: str, *, client_secret: str = "",
                 api_scope: str = "", expected_issuer: str = "", timeout_seconds: float = 10,
                 leeway_seconds: float = 60):
        authority = authority.rstrip("/")
        self.discovery_url = authority if authority.endswith(DISCOVERY_PATH) else authority + DISCOVERY_PATH
        self.client_id, self.redirect_uri = client_id, redirect_uri
        self.client_secret, self.api_scope = client_secret, api_scope
        self.expected_issuer = expected_issuer
        self.timeout_seconds, self.leeway_seconds = timeout_seconds, leeway_seconds
        self._discovery: Discovery | None = None
        self._discovered_at = 0.0
        self._jwks = None
        self._lock = threading.Lock()

    @property
    def scope(self) -> str:
        # offline_access is not asked: the portal keeps no refresh token; a session ends with its token.
        return " ".join(["openid", "profile", "email", *([self.api_scope] if self.api_scope else [])])

    # -- discovery ----------------------------------------------------------------------------------------
    def discovery(self) -> Discovery:
        with self._lock:
            if self._discovery is None or time.monotonic() - self._discovered_at > DISCOVERY_SECONDS:
                self._discovery = self._discover()
                self._discovered_at = time.monotonic()
                self._jwks = None
            return self._discovery

    def _discover(self) -> Discovery:
        document = self._get_json(self.discovery_url)
        try:
            found = Discovery(**{name: document[name] for name in Discovery.__dataclass_fields__})
        except (KeyError, TypeError):
            raise TokenKeysUnavailable("the issuer's discovery document lacks a required field") from None
        if self.expected_issuer and found.issuer != self.expected_issuer:
            # Its tokens would all be refused by the partner services: say so once, plainly, in the log.
            log.error("the portal's issuer is not the partner services' PARTNER_TOKEN_ISSUER",
                      extra={"discovery_url": self.discovery_url})
            raise SignInFailed("sign-in is not set up correctly (the issuer is not the one the partner services "
                               "accept)")
        return found

    def _get_json(self, url: str) -> dict:
        import requests

        try:
            response = requests.get(url, timeout=self.timeout_seconds, headers={"Accept": "application/json"},
                                    allow_redirects=False)
            response.raise_for_status()
            if len(response.content) > _MAX_DOCUMENT_BYTES:
                raise ValueError("document too large")
            document = response.json()
            if not isinstance(document, dict):
                raise ValueError("not a JSON object")
            return document
        except (requests.RequestException, ValueError) as error:
            raise TokenKeysUnavailable(f"cannot read {url}: {type(error).__name__}") from error

    # -- the flow -----------------------------------------------------------------------------------------
    def authorization_url(self, state: str, nonce: str, code_challenge: str) -> str:
        query = {"client_id": self.client_id, "response_type": "code", "redirect_uri": self.redirect_uri,
                 "response_mode": "query", "scope": self.scope, "state": state, "nonce": nonce,
                 "code_challenge": code_challenge, "code_challenge_method": "S256"}
        endpoint = self.discovery().authorization_endpoint
        return f"{endpoint}{'&' if '?' in endpoint else '?'}{urlencode(query)}"

    def redeem(self, code: str, code_verifier: str, nonce: str) -> SignedIn:
        """The code's tokens, the ID token verified; SignInFailed when the issuer refuses or a check fails."""
        import requests

        discovery = self.discovery()
        form = {"grant_type": "authorization_code", "code": code, "redirect_uri": self.redirect_uri,
                "client_id": self.client_id, "code_verifier": code_verifier, "scope": self.scope}
        if self.client_secret:
            form["client_secret"] = self.client_secret
        try:
            response = requests.post(discovery.token_endpoint, data=form, timeout=self.timeout_seconds,
                                     headers={"Accept": "application/json"}, allow_redirects=False)
        except requests.RequestException as error:
            raise TokenKeysUnavailable(f"cannot reach the token endpoint: {type(error).__name__}") from error
        if response.status_code >= 500:
            raise TokenKeysUnavailable(f"the token endpoint answered {response.status_code}")
        try:
            answer = response.json()
        except ValueError:
            answer = {}
        if response.status_code != 200 or not isinstance(answer, dict):
            error = answer.get("error") if isinstance(answer, dict) else None
            log.warning("the issuer refused the authorization code",
                        extra={"status": response.status_code, "error": str(error)[:64]})
            raise SignInFailed("the sign-in could not be completed (the code was refused: used before, expired "
                               "or not this sign-in's); please sign in again")
        id_token = answer.get("id_token")
        if not isinstance(id_token, str):
            raise SignInFailed("the issuer sent no ID token")
        claims = self._verify_id_token(id_token, nonce)
        if self.api_scope:
            token = answer.get("access_token")
            if not isinstance(token, str):
                raise SignInFailed("the issuer sent no access token for the partner API")
            lifetime = answer.get("expires_in")
            expires_at = int(time.time() + int(lifetime)) if str(lifetime).isdigit() else int(claims["exp"])
            return SignedIn(token, expires_at)
        return SignedIn(id_token, int(claims["exp"]))

    def _verify_id_token(self, id_token: str, nonce: str) -> dict:
        import hmac

        import jwt

        discovery = self.discovery()
        try:
            key = self._signing_key(id_token)
            claims = jwt.decode(id_token, key, algorithms=["RS256"], audience=self.client_id,
                                issuer=discovery.issuer, leeway=self.leeway_seconds,
                                options={"require": ["exp", "iat", "iss", "aud", "nonce"]})
        except jwt.ExpiredSignatureError:
            raise SignInFailed("the ID token has expired; please sign in again") from None
        except jwt.InvalidAudienceError:
            raise SignInFailed("the ID token is for another application") from None
        except jwt.InvalidIssuerError:
            raise SignInFailed("the ID token is from another issuer") from None
        except jwt.PyJWKClientConnectionError as error:
            raise TokenKeysUnavailable("cannot read the issuer's keys") from error
        except jwt.PyJWKClientError:
            raise SignInFailed("the ID token is signed with a key the issuer does not publish") from None
        except jwt.InvalidTokenError as error:
            raise SignInFailed(f"the ID token does not verify ({type(error).__name__})") from None
        if not hmac.compare_digest(str(claims.get("nonce")), nonce):
            raise SignInFailed("the ID token is not this sign-in's (nonce); please sign in again")
        return claims

    def _signing_key(self, token: str):
        import jwt

        jwks_uri = self.discovery().jwks_uri
        with self._lock:
            if self._jwks is None:
                self._jwks = jwt.PyJWKClient(jwks_uri, cache_keys=True,
                                             timeout=int(self.timeout_seconds))
            jwks = self._jwks
        return jwks.get_signing_key_from_jwt(token).key
