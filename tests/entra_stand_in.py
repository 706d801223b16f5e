"""A stand-in for Entra External ID's OpenID Connect endpoints, on loopback, behaving as Microsoft documents them:

- discovery at ``<authority>/.well-known/openid-configuration`` whose ``issuer`` is not the authority URL
  (External ID: ``https://<tenant-id>.ciamlogin.com/<tenant-id>/v2.0``), with ``authorization_endpoint``,
  ``token_endpoint`` and ``jwks_uri`` (``/discovery/v2.0/keys``);
- authorize (``/oauth2/v2.0/authorize``): ``response_type=code``, the registered ``redirect_uri``, ``state``
  and ``nonce`` echoed, PKCE ``code_challenge`` with ``code_challenge_method=S256``; here it signs in whoever
  ``sign_in_as`` names at once (no page) and redirects with ``code`` and ``state``;
- token (``/oauth2/v2.0/token``): a confidential web client sends ``client_secret``; the code is redeemed once
  (AADSTS54005 after), expires (AADSTS70008; ten minutes at Entra, ``code_seconds`` here), must come with the
  verifier of its challenge (AADSTS501481) and the same redirect URI; the answer has an ID token (``aud`` the
  client, ``nonce``, ``iss``, ``sub``, ``email``) and, for a scope of the API (``api://…/…``), an access token
  whose ``aud`` is the API's.

Tests change what it does through attributes: ``sign_in_as``, ``id_token_claims`` (claims to add or replace in
the next ID tokens), ``access_token_audience``, ``code_seconds``; ``reset_flow()`` puts them back.
"""
from __future__ import annotations

import base64
import hashlib
import json
import secrets
import threading
import time
from http.server import BaseHTTPRequestHandler
from urllib.parse import parse_qsl, urlencode, urlsplit

from tests.auth_keys import LocalIssuer
from tests.loopback import LoopbackServer

TENANT = "aaaabbbb-0000-cccc-1111-dddd2222eeee"
CLIENT_ID = "11112222-bbbb-3333-cccc-4444dddd5555"  # the portal's app registration
CLIENT_SECRET = "stand-in-secret-value"
API_APP_ID = "99998888-aaaa-7777-bbbb-6666cccc5555"  # the partner API's app registration
API_SCOPE = f"api://{API_APP_ID}/Partners.Manage"
ISSUER = f"https://{TENANT}.ciamlogin.com/{TENANT}/v2.0"


class EntraStandIn(LocalIssuer):
    def __init__(self):
        super().__init__(issuer=ISSUER, audience=API_APP_ID)
        self.sign_in_as = "admin@partner.example"
        self.id_token_claims: dict = {}
        self.access_token_audience = API_APP_ID
        self.code_seconds = 600
        self._codes: dict[str, dict] = {}
        self._code_lock = threading.Lock()
        self.redeemed: list[str] = []

    def reset_flow(self) -> None:
        self.reset()
        self.sign_in_as, self.id_token_claims, self.code_seconds = "admin@partner.example", {}, 600
        self.access_token_audience = API_APP_ID
        self.redeemed = []

    # -- wiring -----------------------------------------------------------------------------------------
    @property
    def authority(self) -> str:
        return f"{self._http.url}/{TENANT}/v2.0"

    def portal_env(self, *, api_scope: bool = True) -> dict[str, str]:
        """Settings of a portal registered with this tenant (the partner API's audience with the scope, the
        portal's client id without)."""
        env = {"PARTNER_TOKEN_ISSUER": self.issuer, "PARTNER_TOKEN_JWKS_URL": self.jwks_url,
               "PORTAL_OIDC_AUTHORITY": self.authority, "PORTAL_CLIENT_ID": CLIENT_ID,
               "PORTAL_CLIENT_SECRET": CLIENT_SECRET, "PORTAL_SESSION_SECRET": "s" * 16 + secrets.token_hex(16)}
        if api_scope:
            return {**env, "PARTNER_TOKEN_AUDIENCE": API_APP_ID, "PORTAL_API_SCOPE": API_SCOPE}
        return {**env, "PARTNER_TOKEN_AUDIENCE": CLIENT_ID}

    def start(self) -> EntraStandIn:
        stand_in = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):  # noqa: N802
                path, _, query = self.path.partition("?")
                base = f"/{TENANT}/v2.0"
                if path == f"{base}/.well-known/openid-configuration":
                    return self._json(200, stand_in.discovery())
                if path == "/discovery/v2.0/keys":
                    return self._json(200, stand_in.jwks())
                if path == f"{base}/oauth2/v2.0/authorize":
                    return self._redirect(stand_in.authorize(dict(parse_qsl(query))))
                return self._json(404, {"error": "not_found"})

            def do_POST(self):  # noqa: N802
                length = int(self.headers.get("Content-Length") or 0)
                form = dict(parse_qsl(self.rfile.read(length).decode()))
                if self.path == f"/{TENANT}/v2.0/oauth2/v2.0/token":
                    status, body = stand_in.token(form)
                    return self._json(status, body)
                return self._json(404, {"error": "not_found"})

            def _json(self, status: int, body: dict) -> None:
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def _redirect(self, location: str) -> None:
                self.send_response(302)
                self.send_header("Location", location)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        self._http = LoopbackServer(Handler, "entra-stand-in").start()
        return self

    # -- endpoints --------------------------------------------------------------------------------------
    def discovery(self) -> dict:
        base = f"{self._http.url}/{TENANT}/v2.0"
        return {"issuer": self.issuer, "authorization_endpoint": f"{base}/oauth2/v2.0/authorize",
                "token_endpoint": f"{base}/oauth2/v2.0/token", "jwks_uri": self.jwks_url,
                "response_modes_supported": ["query", "fragment", "form_post"],
                "response_types_supported": ["code", "id_token", "code id_token"],
                "scopes_supported": ["openid", "profile", "email", "offline_access"],
                "subject_types_supported": ["pairwise"], "id_token_signing_alg_values_supported": ["RS256"],
                "token_endpoint_auth_methods_supported": ["client_secret_post", "private_key_jwt",
                                                          "client_secret_basic"],
                "tenant_region_scope": "EU"}

    def authorize(self, query: dict) -> str:
        """Where the browser goes next: the redirect URI with a code (or an error)."""
        redirect = query.get("redirect_uri", "")
        if query.get("client_id") != CLIENT_ID or not redirect:
            raise AssertionError("the portal sent another client id or no redirect URI")
        missing = [name for name in ("state", "nonce", "code_challenge") if not query.get(name)]
        if query.get("response_type") != "code" or query.get("code_challenge_method") != "S256" or missing:
            return f"{redirect}?{urlencode({'error': 'invalid_request', 'state': query.get('state', '')})}"
        code = secrets.token_urlsafe(40)
        with self._code_lock:
            self._codes[code] = {"query": query, "email": self.sign_in_as, "at": time.time()}
        return f"{redirect}?{urlencode({'code': code, 'state': query['state'], 'session_state': 'x'})}"

    def code_for(self, query: dict) -> str:
        return dict(parse_qsl(urlsplit(self.authorize(query)).query))["code"]

    def token(self, form: dict) -> tuple[int, dict]:
        def refused(code: str, text: str, error: str = "invalid_grant") -> tuple[int, dict]:
            return 400, {"error": error, "error_description": f"{code}: {text}", "error_codes": [int(code[6:])]}

        if form.get("client_id") != CLIENT_ID:
            return refused("AADSTS700016", "Application not found in the directory", "unauthorized_client")
        if form.get("client_secret") != CLIENT_SECRET:
            return refused("AADSTS7000218", "The request body must contain client_assertion or client_secret",
                           "invalid_client")
        with self._code_lock:
            grant = self._codes.get(form.get("code", ""))
            if grant is not None and grant.get("redeemed"):
                return refused("AADSTS54005", "OAuth2 Authorization code was already redeemed")
            if grant is not None:
                grant["redeemed"] = True
        if grant is None:
            return refused("AADSTS9002313", "Invalid request. Request is malformed or invalid")
        if time.time() - grant["at"] > self.code_seconds:
            return refused("AADSTS70008", "The provided authorization code or refresh token has expired")
        query = grant["query"]
        if form.get("redirect_uri") != query["redirect_uri"]:
            return refused("AADSTS500112", "The reply address does not match the reply address of the request")
        verifier = form.get("code_verifier", "")
        challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
        if challenge != query["code_challenge"]:
            return refused("AADSTS501481", "The Code_Verifier does not match the code_challenge supplied in the "
                                           "authorization request")
        self.redeemed.append(form["code"])
        email = grant["email"]
        claims = {"nonce": query["nonce"], "tid": TENANT, "ver": "2.0", **self.id_token_claims}
        id_token = self.sign(self.claims_for(email, audience=CLIENT_ID, lifetime_seconds=3600, **claims))
        answer = {"token_type": "Bearer", "scope": query.get("scope", ""), "expires_in": 3600,
                  "ext_expires_in": 3600, "id_token": id_token}
        if API_SCOPE in query.get("scope", "").split():
            answer["access_token"] = self.token_for(email, audience=self.access_token_audience, lifetime_seconds=3600,
                                                    scp="Partners.Manage", azp=CLIENT_ID, tid=TENANT, ver="2.0")
        return 200, answer
