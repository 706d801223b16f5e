"""The back-office console's shell: sign-in, roles, CSRF and the page frame every console page shares.

A console page is a thin handler under ``@console_view("read")`` or ``@console_view("act")``; this module has
checked who is asking before it runs (shared/services/console_access.py decides), and gives it a
``ConsoleVisit`` to render pages and answer POSTs with 303 + a one-line notice.

GET  /api/console/sign-in      the development sign-in (loopback only; in Azure: App Service Authentication)
POST /api/console/sign-in      signs in as the chosen role
POST /api/console/sign-out     signs out"""
from __future__ import annotations

import logging
from dataclasses import dataclass, field
from http.cookies import CookieError, SimpleCookie
from typing import Callable
from urllib.parse import parse_qsl, quote, unquote, urlsplit

import azure.functions as func

from functions._http import RequestRefused, html_response, http_function, read_body, see_other
from functions._runtime import container
from shared.domain.errors import DomainError, InvalidInput, MalformedBody, NotFound

bp = func.Blueprint()
log = logging.getLogger(__name__)

CSRF_FIELD = "csrf"
NOTICE_COOKIE = "b2b_console_notice"
CONSOLE_PATH = "/api/console"
NAV = (("All prospects", "/api/console"), ("Partners", "/api/console/partners"),
       ("Queues", "/api/console/queues"), ("Emails", "/api/console/emails"), ("Drift", "/api/console/drift"))
_MAX_FORM_FIELDS = 200
_FORM_TYPES = ("application/x-www-form-urlencoded",)


def _cookies(req: func.HttpRequest) -> dict[str, str]:
    jar = SimpleCookie()
    try:
        jar.load(req.headers.get("cookie") or "")
    except CookieError:
        return {}
    return {name: morsel.value for name, morsel in jar.items()}


def _secure(req: func.HttpRequest) -> bool:
    return req.url.lower().startswith("https://")


def _csrf_cookie_name(req: func.HttpRequest) -> str:
    # __Host-: the browser takes it only from this exact host over https, so no sibling subdomain can plant it.
    return "__Host-b2b_csrf" if _secure(req) else "b2b_csrf"


def _cookie(req: func.HttpRequest, name: str, value: str, *, max_age: int | None = None, path: str = "/",
            same_site: str = "Strict") -> str:
    parts = [f"{name}={value}", f"Path={path}", "HttpOnly", f"SameSite={same_site}"]
    if _secure(req):
        parts.append("Secure")
    if max_age is not None:
        parts.append(f"Max-Age={max_age}")
    return "; ".join(parts)


@dataclass
class ConsoleVisit:
    """One request to the console by a signed-in clerk."""

    req: func.HttpRequest
    principal: object  # shared.services.console_access.ConsolePrincipal
    can_act: bool
    csrf: str
    development: bool
    form: dict[str, str] = field(default_factory=dict)
    notice: str = ""
    notice_refused: bool = False
    _set_cookies: list[str] = field(default_factory=list)

    @property
    def operator(self) -> str:
        """The operator as services and the history name them: the signed-in principal, never a typed name."""
        return self.principal.operator

    @property
    def path(self) -> str:
        return urlsplit(self.req.url).path

    def page(self, template: str, status: int = 200, **values) -> func.HttpResponse:
        """``template`` (extending console/layout.html) rendered with the frame's values."""
        from shared.web.pages import render

        current = self.path.rstrip("/") or CONSOLE_PATH
        nav = [(label, href, current == href or (href != CONSOLE_PATH and current.startswith(href + "/")))
               for label, href in NAV]
        text = render(template, visit=self, csrf=self.csrf, nav=nav, notice=self.notice,
                      notice_refused=self.notice_refused, development=self.development, **values)
        return html_response(text, status)

    def done(self, location: str, notice: str, *, refused: bool = False) -> func.HttpResponse:
        """303 to ``location``, which shows ``notice`` once: what changed, or (``refused``) why nothing did."""
        value = quote(("!" if refused else "") + notice[:400], safe="")
        self._set_cookies.append(_cookie(self.req, NOTICE_COOKIE, value, max_age=120, path=CONSOLE_PATH,
                                         same_site="Lax"))
        return see_other(location)

    def _with_cookies(self, response: func.HttpResponse) -> func.HttpResponse:
        """The cookies this visit sets (the form token, the notice) on whatever the page answered."""
        for value in self._set_cookies:
            response.headers.add("Set-Cookie", value)
        self._set_cookies.clear()
        return response


def console_view(need: str):
    """Guards a console page: ``need`` is "read" (Viewer or Operator) or "act" (Operator). GET and POST alike:
    no principal → the sign-in; a role that may not → 403; a POST without the form's CSRF token → 403."""
    if need not in ("read", "act"):
        raise ValueError("need is 'read' or 'act'")

    def decorate(handler: Callable[[func.HttpRequest, ConsoleVisit], func.HttpResponse]):
        def guarded(req: func.HttpRequest) -> func.HttpResponse:
            return _guard(req, need, handler)

        # Named as the page, but with the trigger's own signature (req only): the Functions host binds every
        # parameter it sees, and `visit` is no binding. So no functools.wraps, whose __wrapped__ shows it.
        guarded.__name__, guarded.__qualname__, guarded.__doc__ = handler.__name__, handler.__qualname__, handler.__doc__
        guarded.__module__ = handler.__module__
        return http_function(guarded)

    return decorate


def _guard(req: func.HttpRequest, need: str, handler) -> func.HttpResponse:
    from shared.services.console_access import UntrustedPrincipal, new_form_token

    access, host, cookies = container().console_access, urlsplit(req.url).netloc, _cookies(req)
    try:
        principal = access.principal(req.headers, cookies, host)
    except UntrustedPrincipal:
        log.warning("console request refused: principal header without platform authentication",
                    extra={"route": urlsplit(req.url).path})
        return _refusal(403, "Not signed in through the platform",
                        "This request carried a sign-in header that only App Service Authentication may set, and "
                        "App Service Authentication is not turned on for this app. Turn it on (see the README's "
                        "console section) and sign in again.")
    if principal is None:
        sign_in = access.sign_in_url(_next_path(req), host)
        if sign_in is None:
            return _refusal(403, "The console needs a sign-in",
                            "The console is reached through App Service Authentication with Microsoft Entra ID, "
                            "which is not configured for this app (see the README's console section).")
        return func.HttpResponse(status_code=302, headers={"Location": sign_in, "Cache-Control": "no-store"})
    if not access.can_read(principal) or (need == "act" and not access.can_act(principal)):
        role = access.operator_role if access.can_read(principal) else access.viewer_role
        return _refusal(403, "Not allowed", f"Your sign-in does not have the {role} role this needs. Ask an "
                                            "administrator of the app registration to assign it.")
    set_cookies, token = [], cookies.get(_csrf_cookie_name(req), "")
    if req.method == "POST":
        form = _form(req)
        if isinstance(form, func.HttpResponse):
            return form
        if not _same_origin(req) or not _token_ok(token, form.get(CSRF_FIELD, "")):
            log.warning("console form refused: CSRF check failed", extra={"route": urlsplit(req.url).path})
            return _refusal(403, "This form has expired",
                            "The form was not sent from this console's own page (or it is too old). "
                            "Go back, reload the page and try again.")
    else:
        form = {}
        if not _token_ok(token, token):
            token = new_form_token()
            set_cookies.append(_cookie(req, _csrf_cookie_name(req), token))
    visit = ConsoleVisit(req, principal, access.can_act(principal), token, principal.development, form,
                         _set_cookies=set_cookies)
    notice = cookies.get(NOTICE_COOKIE)
    if notice and req.method == "GET":
        text = unquote(notice)
        visit.notice, visit.notice_refused = text.removeprefix("!"), text.startswith("!")
        set_cookies.append(_cookie(req, NOTICE_COOKIE, "", max_age=0, path=CONSOLE_PATH, same_site="Lax"))
    try:
        response = handler(req, visit)
    except InvalidInput as error:
        details = "; ".join(f"{name}: {message}" for name, message in error.problems)
        response = _refusal(422, "Not done: some values are not valid", details, visit)
    except NotFound as error:
        response = _refusal(404, "Not found", str(error), visit)
    except DomainError as error:
        response = _refusal(409, "Not done", str(error), visit)
    return visit._with_cookies(response)


def _token_ok(cookie_token: str, form_token: str) -> bool:
    from shared.services.console_access import form_token_matches

    return form_token_matches(cookie_token, form_token)


def _same_origin(req: func.HttpRequest) -> bool:
    """A browser names where a form came from: refuse one from another site even before the token check."""
    if req.headers.get("sec-fetch-site", "same-origin") not in ("same-origin", "none"):
        return False
    origin = req.headers.get("origin")
    if not origin or origin == "null":
        return origin is None
    mine = urlsplit(req.url)
    return origin.rstrip("/").lower() == f"{mine.scheme}://{mine.netloc}".lower()


def _form(req: func.HttpRequest) -> dict[str, str] | func.HttpResponse:
    try:
        body = read_body(req, _FORM_TYPES)
        pairs = parse_qsl(body.decode("utf-8", errors="replace"), keep_blank_values=True,
                          max_num_fields=_MAX_FORM_FIELDS)
    except (RequestRefused, MalformedBody, ValueError) as refused:
        status = refused.status if isinstance(refused, RequestRefused) else 400
        return _refusal(status, "The form could not be read", "Go back, reload the page and send it again.")
    form: dict[str, str] = {}
    for name, value in pairs:
        form.setdefault(name, value)  # the first of a repeated field, as a form has each once
    return form


def _next_path(req: func.HttpRequest) -> str:
    parts = urlsplit(req.url)
    return parts.path + (f"?{parts.query}" if parts.query else "")


def safe_next(value: str | None) -> str:
    """A console path to return to after sign-in; anything else (another site, //host) goes to the console."""
    if value and value.startswith(CONSOLE_PATH) and "//" not in value and "\\" not in value:
        return value
    return CONSOLE_PATH


def _refusal(status: int, title: str, detail: str, visit: ConsoleVisit | None = None) -> func.HttpResponse:
    from shared.web.pages import render

    text = render("console/refused.html", title=title, detail=detail, signed_in=visit is not None)
    return html_response(text, status)


# -- the development sign-in ------------------------------------------------------------------------------

@bp.function_name("console_sign_in")
@bp.route(route="console/sign-in", methods=["GET", "POST"], auth_level=func.AuthLevel.ANONYMOUS)
@http_function
def console_sign_in(req: func.HttpRequest) -> func.HttpResponse:
    from shared.services.console_access import DEVELOPMENT_COOKIE, new_form_token
    from shared.web.pages import render

    access, host = container().console_access, urlsplit(req.url).netloc
    next_path = safe_next(req.params.get("next"))
    if not access.development_available(host):
        sign_in = access.sign_in_url(next_path, host)
        if sign_in:
            return func.HttpResponse(status_code=302, headers={"Location": sign_in, "Cache-Control": "no-store"})
        return _refusal(404, "No development sign-in here",
                        "The development sign-in exists only on a developer's own computer (the local host on "
                        "loopback). This console signs in with Microsoft Entra ID through App Service "
                        "Authentication.")
    cookies = _cookies(req)
    token = cookies.get(_csrf_cookie_name(req), "")
    if req.method == "POST":
        form = _form(req)
        if isinstance(form, func.HttpResponse):
            return form
        if not _same_origin(req) or not _token_ok(token, form.get(CSRF_FIELD, "")):
            return _refusal(403, "This form has expired", "Reload the sign-in page and try again.")
        role = form.get("role", "")
        name = " ".join(form.get("name", "").split())[:80] or "Local clerk"
        if role not in ("operator", "viewer"):
            text = render("console/sign_in.html", csrf=token, next_path=safe_next(form.get("next")),
                          name=name, error="Choose what you want to do: act as an operator, or only read.")
            return html_response(text, 422)
        response = see_other(safe_next(form.get("next")))
        response.headers.add("Set-Cookie", _cookie(req, DEVELOPMENT_COOKIE, access.development_cookie(name, role),
                                                   path=CONSOLE_PATH, same_site="Lax"))
        return response
    set_cookie = None
    if not _token_ok(token, token):
        token = new_form_token()
        set_cookie = _cookie(req, _csrf_cookie_name(req), token)
    response = html_response(render("console/sign_in.html", csrf=token, next_path=next_path, name="", error=""))
    if set_cookie:
        response.headers.add("Set-Cookie", set_cookie)
    return response


@bp.function_name("console_sign_out")
@bp.route(route="console/sign-out", methods=["POST"], auth_level=func.AuthLevel.ANONYMOUS)
@console_view("read")
def console_sign_out(req: func.HttpRequest, visit: ConsoleVisit) -> func.HttpResponse:
    from shared.services.console_access import DEVELOPMENT_COOKIE

    access = container().console_access
    response = see_other(access.sign_out_url() if not visit.development else "/api/console/sign-in")
    response.headers.add("Set-Cookie", _cookie(req, DEVELOPMENT_COOKIE, "", max_age=0, path=CONSOLE_PATH,
                                               same_site="Lax"))
    return response
