"""The partner portal, "Organization users": a partner user signs in with OpenID Connect and, as an Admin,
manages the partner's users; a User sees their own profile and the credit available.

GET  /api/portal                           the users page (Admin), the profile (User), or the sign-in page
GET  /api/portal/sign-in                   starts a sign-in: 302 to the issuer's authorize endpoint
GET  /api/portal/callback                  the issuer's answer: code → tokens → a session; 303 to /api/portal
POST /api/portal/sign-out                  ends the session
POST /api/portal/users                     an Admin adds a user
GET/POST /api/portal/users/{userId}        an Admin edits a user (names, role, spending limit, language)
GET/POST /api/portal/users/{userId}/remove an Admin removes a user (GET confirms, POST does)

Server-side design (a "backend for frontend"): the token stays on the server side, in an HttpOnly cookie sealed
with PORTAL_SESSION_SECRET that no script can read; every request verifies it with the partner API's own
verifier (PARTNER_TOKEN_*) and calls the same services the partner API calls with the verified Caller, so the
API's checks decide (who is an Admin, the last Admin, an email signed in elsewhere). Forms work without
JavaScript; every POST carries the session's CSRF token.
"""
from __future__ import annotations

import functools
import hmac
import logging
from dataclasses import dataclass, field
from urllib.parse import parse_qsl, urlsplit

import azure.functions as func

from functions._http import RequestRefused, html_response, problem, read_body, request_cookies, see_other
from functions._runtime import container
from shared.domain.errors import (
    ConcurrencyConflict,
    DomainError,
    Forbidden,
    InvalidInput,
    NotConfigured,
    NotFound,
    TokenKeysUnavailable,
    Unauthenticated,
)
from shared.observability import correlation
from shared.ports import Caller
from shared.web.pages import render
from shared.web.portal_session import (
    COOKIE_PATH,
    FLOW_COOKIE,
    FLOW_SECONDS,
    SESSION_COOKIE,
    Session,
    secure_cookie,
)

log = logging.getLogger("b2b.portal")

bp = func.Blueprint()

PORTAL = "/api/portal"
FORM_TYPE = "application/x-www-form-urlencoded"
MAX_FORM_FIELDS = 20
# The languages a partner user can get emails in (the email templates that ship); the storefront's i18n
# will name them in each page's language.
LANGUAGES = (("en", "English"), ("sv-SE", "Svenska"))


def language_name(tag: str) -> str:
    """A user's email language in its own words ("sv" and "sv-SE" both read Svenska), from CLDR via Babel; an
    unknown tag as it is."""
    from babel import Locale, UnknownLocaleError

    try:
        own = Locale.parse(tag, sep="-")
    except (ValueError, TypeError, UnknownLocaleError):
        return tag
    return (own.get_language_name(own) or tag).capitalize()
ROLES = ("User", "Approver", "Admin")


# --- cookies --------------------------------------------------------------------------------------------
def _set_cookie(response: func.HttpResponse, name: str, value: str, max_age: int | None) -> func.HttpResponse:
    """One Set-Cookie per answer: the Functions worker passes on one header of each name."""
    secure = "; Secure" if secure_cookie(container().settings.public_base_url) else ""
    age = "" if max_age is None else f"; Max-Age={max_age}"
    response.headers["Set-Cookie"] = f"{name}={value}; Path={COOKIE_PATH}; HttpOnly; SameSite=Lax{secure}{age}"
    return response


def _ended(response: func.HttpResponse) -> func.HttpResponse:
    return _set_cookie(response, SESSION_COOKIE, "", 0)


# --- pages ----------------------------------------------------------------------------------------------
def _page(template: str, status: int = 200, **values) -> func.HttpResponse:
    values.setdefault("local_issuer", container().settings.local_issuer)
    values.setdefault("notice", None)
    return html_response(render(f"portal/{template}", **values), status)


def _refusal(status: int, title: str, detail: str, *, signed_in: bool = True) -> func.HttpResponse:
    return _page("refusal.html", status, title=title, detail=detail, signed_in=signed_in)


def _sign_in_page(status: int = 200, notice: str | None = None) -> func.HttpResponse:
    return _page("sign_in.html", status, notice=notice)


def _guarded(handler):
    """Correlation id, and whatever a page cannot do said on a page (never a stack trace, never a 500 for bad
    input): the portal's counterpart of http_function."""

    @functools.wraps(handler)
    def wrapper(req: func.HttpRequest) -> func.HttpResponse:
        with correlation(None) as correlation_id:
            try:
                response = handler(req)
            except RequestRefused as refused:
                response = _refusal(refused.status, refused.title, refused.detail)
            except InvalidInput:  # a form body that is not a form
                response = _refusal(400, "The form could not be read", "Please go back and send the form again.")
            except NotConfigured as error:
                response = _refusal(503, "Sign-in is not available", str(error), signed_in=False)
            except (TokenKeysUnavailable, ConcurrencyConflict):
                log.warning("portal request could not be served now", exc_info=True)
                response = _refusal(503, "Please try again", "The service is busy or the sign-in service cannot "
                                    "be reached right now. Please try again in a minute.")
                response.headers["Retry-After"] = "30"
            except Exception:
                # As every route answers a fault (the document's one 500): problem+json with the correlation id.
                log.exception("portal request failed")
                response = problem(500, "Internal Server Error", "the request could not be handled; please try "
                                   "again later")
            response.headers["x-correlation-id"] = correlation_id
            return response

    return wrapper


# --- the signed-in visit --------------------------------------------------------------------------------
@dataclass
class PortalVisit:
    caller: Caller
    session: Session
    user: object  # PartnerUser
    hierarchy: object  # CustomerHierarchy
    form: dict[str, str] = field(default_factory=dict)
    notice: str | None = None

    @property
    def is_admin(self) -> bool:
        return self.user.role.value == "Admin"

    @property
    def csrf(self) -> str:
        return container().portal_seal.csrf_token(self.session)

    def page(self, template: str, status: int = 200, **values) -> func.HttpResponse:
        response = _page(template, status, visit=self, csrf=self.csrf, notice=self.notice, **values)
        if self.session.notice:  # shown once: the cookie goes back without it
            _set_cookie(response, SESSION_COOKIE, container().portal_seal.seal_session(self.session.without_notice()),
                        None)
        return response

    def done(self, location: str, notice: str) -> func.HttpResponse:
        sealed = container().portal_seal.seal_session(self.session.with_notice(notice))
        return _set_cookie(see_other(location), SESSION_COOKIE, sealed, None)


def _form(req: func.HttpRequest) -> dict[str, str]:
    body = read_body(req, (FORM_TYPE,))
    try:
        pairs = parse_qsl(body.decode("utf-8"), keep_blank_values=True, max_num_fields=MAX_FORM_FIELDS,
                          strict_parsing=False)
    except (UnicodeDecodeError, ValueError):
        raise RequestRefused(400, "The form could not be read", "Please go back and send the form again.") from None
    return dict(pairs)


def portal_view(*, act: bool):
    """A page for a signed-in partner user. Without a session (or with one whose token no longer verifies) the
    sign-in page; a POST needs the session's CSRF token (403 otherwise) and, with ``act``, an Admin (403)."""

    def decorate(handler):
        def wrapper(req: func.HttpRequest) -> func.HttpResponse:
            c = container()
            sealed = request_cookies(req).get(SESSION_COOKIE)
            # No cookie, no session: said before the seal is needed (a portal not configured still answers so).
            session = c.portal_seal.session(sealed) if sealed else None
            if session is None:
                if req.method != "GET":
                    return _refusal(403, "Please sign in", "Your session has ended. Sign in again, then repeat "
                                    "what you did.", signed_in=False)
                return _sign_in_page()
            try:
                caller = c.token_verifier.verify(f"Bearer {session.token}")
            except Unauthenticated:
                return _ended(_sign_in_page(notice="Your sign-in has ended. Please sign in again."))
            form: dict[str, str] = {}
            if req.method == "POST":
                form = _form(req)
                if not c.portal_seal.csrf_matches(session, form.get("csrf")):
                    return _refusal(403, "This form has expired", "The form was not sent from this session. "
                                    "Go back, reload the page and try again.")
            try:
                user, hierarchy = c.partner_users.me(caller)
            except Forbidden:
                return _ended(_refusal(403, "This account cannot sign in here", "The email of this account signs "
                                       "in with another account already. Ask your organization's Admin.",
                                       signed_in=False))
            except NotFound:
                return _ended(_refusal(403, "No organization for this account", "This account is not a user of a "
                                       "partner organization yet, or has been removed. Ask your organization's "
                                       "Admin to add you.", signed_in=False))
            visit = PortalVisit(caller, session, user, hierarchy, form, session.notice)
            if act and not visit.is_admin:
                return visit.page("refusal.html", 403, title="Only an Admin can do this",
                                  detail="Managing your organization's users takes the Admin role.", signed_in=True)
            try:
                return handler(req, visit)
            except Forbidden:
                return visit.page("refusal.html", 403, title="Only an Admin can do this",
                                  detail="Managing your organization's users takes the Admin role.", signed_in=True)
            except NotFound:
                return visit.page("refusal.html", 404, title="Not found",
                                  detail="That user is not in your organization (or has been removed).",
                                  signed_in=True)

        # Named as the page but with the trigger's own signature (req only), as console_view does: the Functions
        # host binds every parameter it sees, and `visit` is no binding (functools.wraps would show it).
        wrapper.__name__, wrapper.__qualname__, wrapper.__doc__ = handler.__name__, handler.__qualname__, handler.__doc__
        wrapper.__module__ = handler.__module__
        return _guarded(wrapper)

    return decorate


# --- sign-in --------------------------------------------------------------------------------------------
@bp.function_name("portal_sign_in")
@bp.route(route="portal/sign-in", methods=["GET"], auth_level=func.AuthLevel.ANONYMOUS)
@_guarded
def portal_sign_in(req: func.HttpRequest) -> func.HttpResponse:
    c = container()
    public = urlsplit(c.settings.public_base_url)
    if urlsplit(req.url).netloc.lower() != public.netloc.lower():
        # The callback comes back to the public base URL (the redirect URI registered with the issuer): the
        # sign-in's state cookie must be set there, or the browser would not send it back (localhost is not
        # 127.0.0.1 to a browser). So a sign-in begun under another host name begins again under that one.
        return func.HttpResponse(status_code=302, headers={
            "Location": f"{c.settings.public_base_url}{PORTAL}/sign-in", "Cache-Control": "no-store"})
    seal, oidc = c.portal_seal, c.oidc_client
    state, sealed = seal.new_flow()
    verifier = seal.code_verifier(state)
    location = oidc.authorization_url(state, seal.nonce(state), seal.code_challenge(verifier))
    response = func.HttpResponse(status_code=302, headers={"Location": location, "Cache-Control": "no-store"})
    return _set_cookie(response, FLOW_COOKIE, sealed, FLOW_SECONDS)


@bp.function_name("portal_callback")
@bp.route(route="portal/callback", methods=["GET"], auth_level=func.AuthLevel.ANONYMOUS)
@_guarded
def portal_callback(req: func.HttpRequest) -> func.HttpResponse:
    from shared.adapters.oidc_client import SignInFailed

    c = container()
    seal = c.portal_seal
    state, code = req.params.get("state") or "", req.params.get("code") or ""
    expected = seal.flow_state(request_cookies(req).get(FLOW_COOKIE))
    if expected is None or not hmac.compare_digest(expected.encode(), state.encode()):
        # Not the sign-in this browser started (a forged or replayed callback), or it took over ten minutes.
        return _sign_in_page(403, "This sign-in answer is not for the sign-in this browser started, or it came "
                                  "too late. Please sign in again.")
    if req.params.get("error"):
        # The issuer's own words stay unsaid (they may carry anything); its error code is a fixed token.
        log.info("the issuer ended the sign-in", extra={"error": req.params["error"][:64]})
        return _sign_in_page(400, "The sign-in was cancelled or refused. Please try again.")
    if not code:
        return _sign_in_page(400, "The sign-in came back without a code. Please sign in again.")
    try:
        signed_in = c.oidc_client.redeem(code, seal.code_verifier(state), seal.nonce(state))
        caller = c.token_verifier.verify(f"Bearer {signed_in.token}")  # the partner API's own check
    except SignInFailed as failed:
        return _sign_in_page(400, f"Sign-in failed: {failed}")
    except Unauthenticated:
        log.warning("a token from the portal's sign-in is refused by the partner token settings")
        return _sign_in_page(400, "Sign-in failed: the partner services do not accept this sign-in's token "
                                  "(another audience or issuer).")
    try:
        c.partner_users.me(caller)  # binds the account at its first sign-in; refuses a stranger now
    except Forbidden:
        return _refusal(403, "This account cannot sign in here", "The email of this account signs in with "
                        "another account already. Ask your organization's Admin.", signed_in=False)
    except NotFound:
        return _refusal(403, "No organization for this account", "This account is not a user of a partner "
                        "organization yet, or has been removed. Ask your organization's Admin to add you.",
                        signed_in=False)
    _, sealed = seal.new_session(signed_in.token, signed_in.expires_at)
    log.info("partner user signed in to the portal")
    return _set_cookie(see_other(PORTAL), SESSION_COOKIE, sealed, None)


@bp.function_name("portal_sign_out")
@bp.route(route="portal/sign-out", methods=["POST"], auth_level=func.AuthLevel.ANONYMOUS)
@portal_view(act=False)
def portal_sign_out(req: func.HttpRequest, visit: PortalVisit) -> func.HttpResponse:
    return _ended(_sign_in_page(notice="You have signed out."))


# --- the pages ------------------------------------------------------------------------------------------
def _money(amount) -> str | None:
    from shared.domain.money import format_amount

    return None if amount is None else format_amount(amount)


def _home(visit: PortalVisit, status: int = 200, *, add_form: dict | None = None, errors: dict | None = None,
          problem: str | None = None) -> func.HttpResponse:
    c = container()
    line = c.credit.line_for_member(visit.caller, visit.hierarchy.id)
    if not visit.is_admin:
        return visit.page("profile.html", status, user=visit.user, line=line, money=_money,
                          language_name=language_name)
    users = c.partner_users.list(visit.caller, visit.hierarchy.id, include_removed=True)
    order = {"Active": 0, "Pending": 1, "Removed": 2}
    users.sort(key=lambda u: (order.get(u.status.value, 3), u.last_name.lower(), u.first_name.lower()))
    return visit.page("users.html", status, users=users, line=line, money=_money, languages=LANGUAGES, roles=ROLES,
                      language_name=language_name, add_form=add_form or {"role": "User", "language": "en"},
                      errors=errors or {}, problem=problem)


@bp.function_name("portal_page")
@bp.route(route="portal", methods=["GET"], auth_level=func.AuthLevel.ANONYMOUS)
@portal_view(act=False)
def portal_page(req: func.HttpRequest, visit: PortalVisit) -> func.HttpResponse:
    return _home(visit)


def _payload(form: dict[str, str], *, with_email: bool) -> dict:
    """The form's fields as the partner API's JSON names them; an empty spending limit means none."""
    payload = {"firstName": form.get("firstName", ""), "lastName": form.get("lastName", ""),
               "role": form.get("role", "User"), "language": form.get("language", "en"),
               "spendingLimit": form.get("spendingLimit", "").strip() or None,
               "monthlyLimit": form.get("monthlyLimit", "").strip() or None}
    if with_email:
        payload["email"] = form.get("email", "")
    return payload


def _problem_words(error: DomainError) -> str:
    """The rules' refusals in words a partner admin acts on."""
    from shared.domain.partners import CurrencyInUse, EmailTaken, LastAdmin

    if isinstance(error, EmailTaken):
        return ("This email address already signs in to the store as a user (of your organization or another "
                "one). One email address belongs to one user: use another address, or ask us to move the user.")
    if isinstance(error, LastAdmin):
        return "Your organization must keep at least one Admin. Make another user Admin first."
    if isinstance(error, CurrencyInUse):
        return str(error)
    return "This change is not possible: " + str(error)


def _field_errors(error: InvalidInput) -> dict[str, str]:
    return {field.split(".")[0]: message for field, message in error.problems}


@bp.function_name("portal_users")
@bp.route(route="portal/users", methods=["POST"], auth_level=func.AuthLevel.ANONYMOUS)
@portal_view(act=True)
def portal_users(req: func.HttpRequest, visit: PortalVisit) -> func.HttpResponse:
    payload = _payload(visit.form, with_email=True)
    try:
        added = container().partner_users.add(visit.caller, visit.hierarchy.id, payload)
    except InvalidInput as error:
        return _home(visit, 422, add_form=visit.form, errors=_field_errors(error))
    except DomainError as error:
        return _home(visit, 409, add_form=visit.form, problem=_problem_words(error))
    user = added.user
    what = "added: they become Active once the sync has set them up" if added.created else "was added already"
    return visit.done(PORTAL, f"{user.first_name} {user.last_name} {what}.")


def _user_of(visit: PortalVisit, user_id: str):
    return container().partner_users.get(visit.caller, visit.hierarchy.id, user_id)


@bp.function_name("portal_user")
@bp.route(route="portal/users/{userId}", methods=["GET", "POST"], auth_level=func.AuthLevel.ANONYMOUS)
@portal_view(act=True)
def portal_user(req: func.HttpRequest, visit: PortalVisit) -> func.HttpResponse:
    user = _user_of(visit, req.route_params["userId"])
    values = {"user": user, "roles": ROLES, "languages": LANGUAGES, "money": _money,
              "line": container().credit.line_for_member(visit.caller, visit.hierarchy.id)}
    if req.method == "GET":
        form = {"firstName": user.first_name, "lastName": user.last_name, "role": user.role.value,
                "spendingLimit": _money(user.spending_limit) or "", "monthlyLimit": _money(user.monthly_limit) or "",
                "language": user.language}
        return visit.page("user.html", edit_form=form, errors={}, problem=None, **values)
    try:
        edited = container().partner_users.edit(visit.caller, visit.hierarchy.id, user.id,
                                                _payload(visit.form, with_email=False))
    except InvalidInput as error:
        return visit.page("user.html", 422, edit_form=visit.form, errors=_field_errors(error), problem=None,
                          **values)
    except DomainError as error:
        return visit.page("user.html", 409, edit_form=visit.form, errors={}, problem=_problem_words(error),
                          **values)
    if edited.sync is None and edited.version == user.version:
        return visit.done(PORTAL, f"Nothing changed for {edited.first_name} {edited.last_name}.")
    return visit.done(PORTAL, f"Saved {edited.first_name} {edited.last_name}: the change applies once the sync "
                              "has run.")


@bp.function_name("portal_user_remove")
@bp.route(route="portal/users/{userId}/remove", methods=["GET", "POST"], auth_level=func.AuthLevel.ANONYMOUS)
@portal_view(act=True)
def portal_user_remove(req: func.HttpRequest, visit: PortalVisit) -> func.HttpResponse:
    user = _user_of(visit, req.route_params["userId"])
    if req.method == "GET":
        return visit.page("remove.html", user=user, problem=None)
    try:
        container().partner_users.remove(visit.caller, visit.hierarchy.id, user.id)
    except DomainError as error:
        return visit.page("remove.html", 409, user=user, problem=_problem_words(error))
    return visit.done(PORTAL, f"{user.first_name} {user.last_name} is removed: they can no longer sign in for "
                              "your organization.")
