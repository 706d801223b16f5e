"""The local development issuer's endpoints (LOCAL_ISSUER=true; 404 otherwise). See shared/adapters/local_issuer.py.

GET      /api/local-issuer/.well-known/openid-configuration   discovery
GET      /api/local-issuer/keys                               JWKS
GET/POST /api/local-issuer/authorize                          the labelled page: pick the partner user to be
POST     /api/local-issuer/demo-partner                       create the demo partner (then back to the page)
POST     /api/local-issuer/token                              code + PKCE verifier → tokens

No CSRF token on the page's forms: a forged post can only send a code to the local portal's own callback, which
refuses it without the state cookie of a sign-in this browser started.
"""
from __future__ import annotations

import json
from urllib.parse import parse_qsl, urlencode

import azure.functions as func

from functions._http import html_response, http_function, json_response, read_body, see_other
from functions._runtime import container
from shared.domain.errors import InvalidInput, NotFound
from shared.web.pages import render

bp = func.Blueprint()

FORM_TYPE = "application/x-www-form-urlencoded"


def _issuer():
    issuer = container().local_issuer
    if issuer is None:
        raise NotFound("there is no local development issuer here (LOCAL_ISSUER is off)")
    return issuer


def validated(model, payload):
    """shared.domain.validation's, imported on first use: pydantic stays out of the app's cold start."""
    from shared.domain.validation import validated as checked

    return checked(model, payload)


def _form(req: func.HttpRequest) -> dict[str, str]:
    try:
        return dict(parse_qsl(read_body(req, (FORM_TYPE,)).decode("utf-8"), keep_blank_values=True,
                              max_num_fields=20))
    except (UnicodeDecodeError, ValueError):
        raise InvalidInput([("(body)", "is not a form post")]) from None


@bp.function_name("local_issuer_discovery")
@bp.route(route="local-issuer/.well-known/openid-configuration", methods=["GET"],
          auth_level=func.AuthLevel.ANONYMOUS)
@http_function
def local_issuer_discovery(req: func.HttpRequest) -> func.HttpResponse:
    return json_response(_issuer().discovery())


@bp.function_name("local_issuer_keys")
@bp.route(route="local-issuer/keys", methods=["GET"], auth_level=func.AuthLevel.ANONYMOUS)
@http_function
def local_issuer_keys(req: func.HttpRequest) -> func.HttpResponse:
    return json_response(_issuer().jwks())


def _authorize_page(query: dict[str, str], status: int = 200, problem: str | None = None) -> func.HttpResponse:
    from shared.demo import DEMO_PARTNER, demo_partner_admin_email, sign_in_choices

    return html_response(render("portal/local_issuer.html", choices=sign_in_choices(container()), query=query,
                                demo_company=DEMO_PARTNER[0], demo_admin=demo_partner_admin_email(),
                                problem=problem), status)


def _checked(issuer, given: dict[str, str]):
    """The authorize request in ``given``, checked; or the page saying what is wrong. Never a redirect to a URI not
    checked."""
    from shared.adapters.local_issuer import AuthorizeRequest, OAuthError

    try:
        request = validated(AuthorizeRequest, given)
        issuer.check_authorize(request)
    except (InvalidInput, OAuthError) as error:
        return html_response(render("portal/local_issuer_refused.html", detail=str(error)), 400)
    return request


@bp.function_name("local_issuer_authorize")
@bp.route(route="local-issuer/authorize", methods=["GET", "POST"], auth_level=func.AuthLevel.ANONYMOUS)
@http_function
def local_issuer_authorize(req: func.HttpRequest) -> func.HttpResponse:
    from shared.adapters.local_issuer import SignInChoice

    issuer = _issuer()
    given = _form(req) if req.method == "POST" else dict(req.params)
    request = _checked(issuer, given)
    if isinstance(request, func.HttpResponse):
        return request
    if req.method == "GET":
        return _authorize_page(request.model_dump())
    try:
        email = validated(SignInChoice, given).email
    except InvalidInput:
        return _authorize_page(request.model_dump(), 422, "Type an email address, such as someone@example.com.")
    code = issuer.issue_code(request, email)
    return see_other(f"{request.redirect_uri}?{urlencode({'code': code, 'state': request.state})}")


@bp.function_name("local_issuer_demo_partner")
@bp.route(route="local-issuer/demo-partner", methods=["POST"], auth_level=func.AuthLevel.ANONYMOUS)
@http_function
def local_issuer_demo_partner(req: func.HttpRequest) -> func.HttpResponse:
    from shared.demo import create_demo_partner

    issuer = _issuer()
    request = _checked(issuer, _form(req))
    if isinstance(request, func.HttpResponse):
        return request
    create_demo_partner(container())
    return see_other(f"{issuer.base_url}/authorize?{urlencode(request.model_dump())}")


@bp.function_name("local_issuer_token")
@bp.route(route="local-issuer/token", methods=["POST"], auth_level=func.AuthLevel.ANONYMOUS)
@http_function
def local_issuer_token(req: func.HttpRequest) -> func.HttpResponse:
    from shared.adapters.local_issuer import OAuthError, TokenRequest

    issuer = _issuer()
    try:
        answer = issuer.redeem(validated(TokenRequest, _form(req)))
    except InvalidInput as error:
        return _oauth_error("invalid_request", str(error))
    except OAuthError as error:
        return _oauth_error(error.error, str(error))
    return json_response(answer, no_store=True)


def _oauth_error(error: str, description: str) -> func.HttpResponse:
    """RFC 6749 §5.2: 400 with ``error`` and ``error_description``."""
    return func.HttpResponse(json.dumps({"error": error, "error_description": description}), status_code=400,
                             mimetype="application/json", charset="utf-8", headers={"Cache-Control": "no-store"})
