"""The onboarding pages of the B2B storefront, server-rendered in the reader's language, posting to the intake
service: the form (GET/POST /api/signup), its confirmation (POST → 303 → GET /api/signup/received/{id}, so a
reload or Back never sends it again) and the channel's theme stylesheet."""
from __future__ import annotations

import uuid

import azure.functions as func

from functions._http import RequestRefused, html_response, http_function, page_policy, read_body, see_other
from functions._runtime import container
from shared.domain.errors import IdempotencyConflict, InvalidInput, MalformedBody, NotFound
from shared.services.intake_guard import CaptchaRefused, CaptchaUnavailable, RateLimited
from shared.web.i18n import Reader, negotiate
from shared.web.intake_defenses import (
    captcha_page_origins,
    confirmation_location,
    decoy_view,
    form_defenses,
    take_defense_fields,
    try_later_page,
)
from shared.web.storefront import (
    FORM_KEY,
    confirmation_page,
    field_errors,
    form_channel,
    form_fields,
    form_page,
    not_found_page,
    payload_from_form,
    received_path,
    theme_css,
    theme_version,
)

bp = func.Blueprint()


def reader_of(req: func.HttpRequest, time_zone: str) -> Reader:
    """The request's language: ?lang=, then Accept-Language, then the default."""
    return Reader(negotiate(req.params.get("lang"), req.headers.get("accept-language")), time_zone)


@bp.function_name("storefront_form")
@bp.route(route="signup", methods=["GET"], auth_level=func.AuthLevel.ANONYMOUS)
@http_function
def storefront_form(req: func.HttpRequest) -> func.HttpResponse:
    channel = form_channel(req.params.get("channel"))
    branding = container().settings.branding(channel)
    reader = reader_of(req, branding.store_time_zone)
    page = form_page(reader, branding, channel_id=channel, form_key=str(uuid.uuid4()),
                     defenses=_defenses(container().intake_guard.new_stamp(), reader))
    return _form_response(page)


def _defenses(stamp: str, reader: Reader) -> dict:
    s = container().settings
    return form_defenses(stamp, s.captcha_provider, s.captcha_site_key, reader.language)


def _form_response(page: str, status: int = 200, headers: dict[str, str] | None = None) -> func.HttpResponse:
    """The form's page, under a policy that lets the CAPTCHA provider's widget in (this page only)."""
    policy = page_policy(allow=captcha_page_origins(container().settings.captcha_provider))
    return html_response(page, status, headers={"Content-Security-Policy": policy, **(headers or {})})


@bp.function_name("storefront_submit")
@bp.route(route="signup", methods=["POST"], auth_level=func.AuthLevel.ANONYMOUS)
@http_function
def storefront_submit(req: func.HttpRequest) -> func.HttpResponse:
    settings = container().settings
    try:
        fields = form_fields(read_body(req, ("application/x-www-form-urlencoded",)))
    except (RequestRefused, MalformedBody) as refused:
        # A browser shows a page, not problem+json: the form again (its values could not be read) saying why.
        status = refused.status if isinstance(refused, RequestRefused) else 400
        branding = settings.branding(form_channel(None))
        reader = reader_of(req, branding.store_time_zone)
        page = form_page(reader, branding, channel_id=form_channel(None), form_key=str(uuid.uuid4()),
                         notice="too_large" if status == 413 else "unreadable",
                         defenses=_defenses(container().intake_guard.new_stamp(), reader))
        return _form_response(page, status)
    channel = form_channel(fields.get("channel_id"))
    branding = settings.branding(channel)
    reader = reader_of(req, branding.store_time_zone)
    form_key = fields.get(FORM_KEY) or str(uuid.uuid4())
    policy = branding.privacy_policy_url
    guard = container().intake_guard
    posted = take_defense_fields(fields, guard.captcha.token_field if guard.captcha else None)
    bot = guard.bot_reason(posted.stamp, posted.honeypot)
    if bot is not None:
        # Answered as an accepted request is (the same 303, to a confirmation of a decoy id), and not kept.
        return see_other(confirmation_location(guard.decoy(bot, channel), reader.language, channel))
    # The stamp goes back as it came: a correction is timed from when the form was first served.
    defenses = _defenses(posted.stamp, reader)
    address = guard.client_address(req.headers)
    try:
        guard.admit(address, posted.captcha_token, payload_from_form(fields), channel)
    except RateLimited as limited:
        return html_response(try_later_page(reader, branding, channel, limited.retry_after), 429,
                             headers={"Retry-After": str(limited.retry_after)})
    except (CaptchaRefused, CaptchaUnavailable) as refused:
        notice, status = (refused.code, 422) if isinstance(refused, CaptchaRefused) else ("captcha_unavailable", 503)
        page = form_page(reader, branding, channel_id=channel, form_key=form_key, values=fields, notice=notice,
                         defenses=defenses)
        return _form_response(page, status, {"Retry-After": "60"} if status == 503 else None)
    try:
        receipt = container().intake.submit(payload_from_form(fields, policy), idempotency_key=form_key,
                                             privacy_policy_url=policy or None)
    except InvalidInput as error:
        errors = field_errors(error.problems, error.kinds, reader)
        page = form_page(reader, branding, channel_id=channel, form_key=form_key, values=fields, errors=errors,
                         defenses=defenses)
        return _form_response(page, 422)
    except IdempotencyConflict:
        page = form_page(reader, branding, channel_id=channel, form_key=str(uuid.uuid4()), values=fields,
                         notice="sent_already", defenses=_defenses(guard.new_stamp(), reader))
        return _form_response(page, 409)
    return see_other(confirmation_location(receipt.signup_id, reader.language, channel))


@bp.function_name("storefront_received")
@bp.route(route="signup/received/{id}", methods=["GET"], auth_level=func.AuthLevel.ANONYMOUS)
@http_function
def storefront_received(req: func.HttpRequest) -> func.HttpResponse:
    c = container()
    signup_id = req.route_params["id"]
    try:
        view = c.signup_status.status(signup_id)
    except NotFound:
        view = decoy_status(signup_id, req.params.get("channel"))
        if view is None:
            branding = c.settings.branding(form_channel(None))
            reader = reader_of(req, branding.store_time_zone)
            return html_response(not_found_page(reader, branding, received_path(signup_id)), 404)
    branding = c.settings.branding(view.channel_id)
    page = confirmation_page(reader_of(req, branding.store_time_zone), branding, view,
                             c.signup_status_url(signup_id), received_email=c.settings.send_received_email)
    return html_response(page)


def decoy_status(signup_id: str, channel: str | None):
    """A decoy request (the answer to a post taken for a bot's) as a received one; None for any other id."""
    received_at = container().intake_guard.decoy_received_at(signup_id)
    return None if received_at is None else decoy_view(signup_id, received_at, form_channel(channel))


@bp.function_name("storefront_theme")
@bp.route(route="signup/theme/{channel}", methods=["GET"], auth_level=func.AuthLevel.ANONYMOUS)
@http_function
def storefront_theme(req: func.HttpRequest) -> func.HttpResponse:
    """The channel's colours as a stylesheet: the pages' CSP forbids inline styles, and a stylesheet of our own
    built from a checked hex colour cannot carry anything else."""
    branding = container().settings.branding(form_channel(req.route_params["channel"]))
    current = req.params.get("v") == theme_version(branding)
    caching = "public, max-age=31536000, immutable" if current else "public, max-age=300"
    return func.HttpResponse(theme_css(branding), mimetype="text/css", charset="utf-8",
                             headers={"Cache-Control": caching, "X-Content-Type-Options": "nosniff"})
