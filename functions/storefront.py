"""The onboarding form of the B2B storefront, server-rendered, posting to the intake service."""
from __future__ import annotations

import re

import azure.functions as func

from functions._http import base_url, http_function, read_body
from functions._runtime import container
from shared.domain.errors import InvalidInput
from shared.storefront import confirmation_page, errors_by_field, form_fields, form_page, payload_from_form

bp = func.Blueprint()

_CHANNEL = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")
DEFAULT_CHANNEL = "b2b-web"


def _html(text: str, status: int = 200) -> func.HttpResponse:
    return func.HttpResponse(text, status_code=status, mimetype="text/html", charset="utf-8",
                             headers={"Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'"})


@bp.function_name("storefront_form")
@bp.route(route="signup", methods=["GET"], auth_level=func.AuthLevel.ANONYMOUS)
@http_function
def storefront_form(req: func.HttpRequest) -> func.HttpResponse:
    channel = req.params.get("channel") or DEFAULT_CHANNEL
    return _html(form_page("/api/signup", channel if _CHANNEL.match(channel) else DEFAULT_CHANNEL))


@bp.function_name("storefront_submit")
@bp.route(route="signup", methods=["POST"], auth_level=func.AuthLevel.ANONYMOUS)
@http_function
def storefront_submit(req: func.HttpRequest) -> func.HttpResponse:
    fields = form_fields(read_body(req, ("application/x-www-form-urlencoded",)))
    try:
        receipt = container().intake.submit(payload_from_form(fields))
    except InvalidInput as error:
        channel = fields.get("channel_id") or DEFAULT_CHANNEL
        return _html(form_page("/api/signup", channel, fields, errors_by_field(error.problems)), status=422)
    status_url = f"{base_url(req)}/api/signups/{receipt.signup_id}"
    return _html(confirmation_page(receipt.signup_id, status_url), status=201)
