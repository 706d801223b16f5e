"""Who may enter the back-office console, and as whom.

In Azure, App Service Authentication (Easy Auth, Microsoft Entra ID) signs the clerk in before a request reaches
the app and hands the principal over in the ``X-MS-CLIENT-PRINCIPAL`` header (base64 JSON of the token's
claims). The platform removes that header from every incoming request when authentication is on, so only then
can the app believe it: App Service sets ``WEBSITE_AUTH_ENABLED=True`` in that case. Anywhere else the header
could come from anyone, so it is refused, never read.

Locally (``make run``) a development sign-in lets a newcomer in at once: only when the app is not in Azure and its
host listens on loopback, and only for a request addressed to a loopback host. The clerk picks a role; the
cookie is signed with a key that lives as long as the process.

Roles are the app registration's app roles (``B2B.Operator`` acts, ``B2B.Viewer`` reads; names configurable)."""
from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import secrets
from dataclasses import dataclass
from typing import Mapping
from urllib.parse import quote, urlsplit

from shared.config import LOOPBACK_HOSTS

PRINCIPAL_HEADER = "x-ms-client-principal"
DEVELOPMENT_COOKIE = "b2b_console_dev"
DEVELOPMENT_ROLES = ("operator", "viewer")
_OBJECT_ID_CLAIMS = ("http://schemas.microsoft.com/identity/claims/objectidentifier", "oid")
_NAME_CLAIMS = ("name", "preferred_username", "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/name")
_MAX_HEADER = 16_384


class UntrustedPrincipal(Exception):
    """A principal header arrived where no platform authentication stands in front of the app."""


@dataclass(frozen=True)
class ConsolePrincipal:
    name: str  # shown in the console and written to the history as the operator
    user_id: str  # the account's stable id (Entra object id), for the logs' correlation: not personal text
    roles: frozenset[str]
    development: bool = False

    @property
    def operator(self) -> str:
        """The operator as the history names them: the signed-in name, marked when it is a development one."""
        return f"{self.name} (development sign-in)" if self.development else self.name


@dataclass(frozen=True)
class ConsoleAccess:
    operator_role: str
    viewer_role: str
    platform_authentication: bool  # Easy Auth in front of the app (WEBSITE_AUTH_ENABLED)
    development_sign_in: bool  # not in Azure, and the host listens on loopback
    development_key: bytes

    @classmethod
    def from_environment(cls, environ: Mapping[str, str], operator_role: str, viewer_role: str) -> ConsoleAccess:
        from shared.deployment import running_in_azure

        host = environ.get("WEBSITE_HOSTNAME", "").strip()
        loopback = _host_name(host) in LOOPBACK_HOSTS if host else False
        return cls(operator_role=operator_role, viewer_role=viewer_role,
                   platform_authentication=environ.get("WEBSITE_AUTH_ENABLED", "").lower() == "true",
                   development_sign_in=loopback and not running_in_azure(environ),
                   development_key=secrets.token_bytes(32))

    # -- who is asking -------------------------------------------------------------------------------------

    def principal(self, headers: Mapping[str, str], cookies: Mapping[str, str], host: str) -> ConsolePrincipal | None:
        """The signed-in clerk, or None when nobody is; UntrustedPrincipal for a principal header the platform
        did not set."""
        header = headers.get(PRINCIPAL_HEADER) or headers.get(PRINCIPAL_HEADER.upper())
        if header:
            if not self.platform_authentication:
                raise UntrustedPrincipal("a client principal header arrived, but no platform authentication "
                                         "stands in front of this app to have set it")
            return self._platform_principal(header)
        if self.development_available(host):
            return self._development_principal(cookies.get(DEVELOPMENT_COOKIE, ""))
        return None

    def _platform_principal(self, header: str) -> ConsolePrincipal | None:
        if len(header) > _MAX_HEADER:
            return None
        try:
            document = json.loads(base64.b64decode(header, validate=False))
            claims = [(str(c["typ"]), str(c["val"])) for c in document.get("claims", [])]
        except (binascii.Error, ValueError, TypeError, KeyError, AttributeError):
            return None
        name_type = document.get("name_typ") or _NAME_CLAIMS[0]
        role_type = document.get("role_typ") or "roles"
        values = lambda *types: [value for kind, value in claims if kind in types]  # noqa: E731
        roles = frozenset(values(role_type, "roles"))
        name = next(iter(values(name_type, *_NAME_CLAIMS)), "")
        user_id = next(iter(values(*_OBJECT_ID_CLAIMS)), "")
        if not (name or user_id):
            return None
        return ConsolePrincipal(name=name or user_id, user_id=user_id or name, roles=roles)

    # -- what they may do ----------------------------------------------------------------------------------

    def can_read(self, principal: ConsolePrincipal) -> bool:
        return bool(principal.roles & {self.operator_role, self.viewer_role})

    def can_act(self, principal: ConsolePrincipal) -> bool:
        return self.operator_role in principal.roles

    def sign_in_url(self, next_path: str, host: str) -> str | None:
        """Where a visitor without a principal signs in, coming back to ``next_path``; None when the console
        has no sign-in here (Azure without App Service Authentication)."""
        if self.platform_authentication:
            return f"/.auth/login/aad?post_login_redirect_uri={quote(next_path, safe='')}"
        if self.development_available(host):
            return f"/api/console/sign-in?next={quote(next_path, safe='')}"
        return None

    def sign_out_url(self) -> str:
        return "/.auth/logout?post_logout_redirect_uri=/api/console" if self.platform_authentication else "/api/console"

    # -- the local development sign-in ---------------------------------------------------------------------

    def development_available(self, host: str) -> bool:
        """Only when the app is not in Azure, listens on loopback, and the request was addressed to loopback
        (so a forwarded port or proxy in front of a developer's machine does not open it to others)."""
        return self.development_sign_in and _host_name(host) in LOOPBACK_HOSTS

    def development_cookie(self, name: str, role: str) -> str:
        if role not in DEVELOPMENT_ROLES:
            raise ValueError(f"role must be one of {DEVELOPMENT_ROLES}")
        payload = base64.urlsafe_b64encode(json.dumps({"name": name, "role": role}).encode()).decode()
        return f"{payload}.{self._signature(payload)}"

    def _development_principal(self, cookie: str) -> ConsolePrincipal | None:
        payload, _, signature = cookie.partition(".")
        if not payload or not hmac.compare_digest(signature, self._signature(payload)):
            return None
        try:
            values = json.loads(base64.urlsafe_b64decode(payload))
        except (binascii.Error, ValueError):
            return None
        role = self.operator_role if values.get("role") == "operator" else self.viewer_role
        name = str(values.get("name") or "Local clerk")
        return ConsolePrincipal(name=name, user_id=f"development:{name}", roles=frozenset({role}), development=True)

    def _signature(self, payload: str) -> str:
        return hmac.new(self.development_key, payload.encode(), hashlib.sha256).hexdigest()


def _host_name(host: str) -> str:
    """The host name of a Host header or WEBSITE_HOSTNAME (``127.0.0.1:7071``, ``[::1]:7071``)."""
    try:
        return (urlsplit(f"//{host.strip()}").hostname or "").lower()
    except ValueError:
        return ""


def new_form_token() -> str:
    """A token for the double-submit check of a form: in a cookie and in the form; a POST must carry both."""
    return secrets.token_urlsafe(32)


def form_token_matches(cookie_token: str, form_token: str) -> bool:
    return bool(cookie_token) and len(cookie_token) >= 32 and hmac.compare_digest(cookie_token, form_token)
