"""The onboarding form of the B2B storefront, server-rendered, posting to the intake service."""
from __future__ import annotations

import uuid

import azure.functions as func

from functions._http import RequestRefused, html_response, http_function, read_body, signup_status_url
from functions._runtime import container
from shared.domain.errors import IdempotencyConflict, InvalidInput, MalformedBody
from shared.storefront import (
    DEFAULT_CHANNEL,
    FORM_KEY,
    confirmation_page,
    errors_by_field,
    form_channel,
    form_fields,
    form_page,
    payload_from_form,
)

bp = func.Blueprint()

FORM_ACTION = "/api/signup"
_TOO_LARGE = "Your request was too large to send. Please fill in the form again with shorter texts."
_UNREADABLE = "Your request could not be read. Please fill in the form again and send it."


@bp.function_name("storefront_form")
@bp.route(route="signup", methods=["GET"], auth_level=func.AuthLevel.ANONYMOUS)
@http_function
def storefront_form(req: func.HttpRequest) -> func.HttpResponse:
    return html_response(form_page(FORM_ACTION, form_channel(req.params.get("channel")), form_key=str(uuid.uuid4())))


@bp.function_name("storefront_submit")
@bp.route(route="signup", methods=["POST"], auth_level=func.AuthLevel.ANONYMOUS)
@http_function
def storefront_submit(req: func.HttpRequest) -> func.HttpResponse:
    try:
        fields = form_fields(read_body(req, ("application/x-www-form-urlencoded",)))
    except (RequestRefused, MalformedBody) as refused:
        # A browser shows a page, not problem+json: the form again (its values could not be read) saying why.
        status = refused.status if isinstance(refused, RequestRefused) else 400
        notice = _TOO_LARGE if status == 413 else _UNREADABLE
        return html_response(form_page(FORM_ACTION, DEFAULT_CHANNEL, str(uuid.uuid4()), notice=notice), status)
    channel = fields.get("channel_id") or DEFAULT_CHANNEL
    form_key = fields.get(FORM_KEY) or str(uuid.uuid4())
    try:
        receipt = container().intake.submit(payload_from_form(fields), idempotency_key=form_key)
    except InvalidInput as error:
        return html_response(form_page(FORM_ACTION, channel, form_key, fields, errors_by_field(error.problems)), 422)
    except IdempotencyConflict:
        notice = "This form was sent already. Open the form again to send another request."
        return html_response(form_page(FORM_ACTION, channel, str(uuid.uuid4()), fields, notice=notice), 409)
    return html_response(confirmation_page(receipt.signup_id, signup_status_url(receipt.signup_id)), status=201)
