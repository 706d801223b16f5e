"""Signup intake and status: the storefront's JSON API, and the status page a browser gets at the same URL."""
from __future__ import annotations

import azure.functions as func

from functions._http import (
    html_response,
    http_function,
    json_response,
    parse_json_body,
    problem,
    read_body,
    signup_status_url,
)
from functions._runtime import container
from functions.storefront import decoy_status, reader_of
from shared.domain.intake_defenses import CAPTCHA_HEADER
from shared.services.intake_guard import CaptchaRefused, CaptchaUnavailable, RateLimited
from shared.domain.errors import NotFound
from shared.web.storefront import form_channel, not_found_page, status_page

bp = func.Blueprint()


@bp.function_name("signup_intake")
@bp.route(route="signups", methods=["POST"], auth_level=func.AuthLevel.ANONYMOUS)
@http_function
def signup_intake(req: func.HttpRequest) -> func.HttpResponse:
    payload = parse_json_body(read_body(req, ("application/json",)))
    refused = _defended(req, payload)
    if refused is not None:
        return refused
    receipt = container().intake.submit(payload, req.headers.get("idempotency-key"))
    status_url = signup_status_url(receipt.signup_id)
    return json_response(
        {"id": receipt.signup_id, "status": receipt.status, "status_url": status_url},
        status=202,
        headers={"Location": status_url},
    )


def _defended(req: func.HttpRequest, payload: object) -> func.HttpResponse | None:
    """The rate limits and the CAPTCHA (its token in the X-Captcha-Token header): a problem answer when one
    refuses the request, None when it may go on."""
    guard = container().intake_guard
    named = payload.get("channel_id") if isinstance(payload, dict) else None
    channel = form_channel(named if isinstance(named, str) else None)  # for the logs; validation comes later
    address = guard.client_address(req.headers)
    try:
        guard.admit(address, req.headers.get(CAPTCHA_HEADER), payload, channel)
    except RateLimited as limited:
        response = problem(429, "Too Many Requests", str(limited), extensions={"code": "rate_limited"})
        response.headers["Retry-After"] = str(limited.retry_after)
        return response
    except CaptchaRefused as captcha:
        return problem(422, "Unprocessable Content", str(captcha), extensions={"code": captcha.code})
    except CaptchaUnavailable:
        response = problem(503, "Service Unavailable", "the CAPTCHA cannot be checked right now; please try again",
                           extensions={"code": "captcha_unavailable"})
        response.headers["Retry-After"] = "60"
        return response
    return None


@bp.function_name("signup_status")
@bp.route(route="signups/{id}", methods=["GET"], auth_level=func.AuthLevel.ANONYMOUS)
@http_function
def signup_status(req: func.HttpRequest) -> func.HttpResponse:
    c = container()
    signup_id = req.route_params["id"]
    here = f"/api/signups/{signup_id}"
    try:
        view = c.signup_status.status(signup_id)
    except NotFound:
        # A decoy (the answer to a form post taken for a bot's) reads as a received request, as a real one does.
        view = decoy_status(signup_id, req.params.get("channel"))
        if view is None and "text/html" not in (req.headers.get("accept") or ""):
            raise
        if view is None:
            branding = c.settings.branding(form_channel(None))
            return html_response(not_found_page(reader_of(req, branding.store_time_zone), branding, here), 404)
    if "text/html" not in (req.headers.get("accept") or ""):
        return json_response(view.to_json(), no_store=True)
    branding = c.settings.branding(view.channel_id)
    # scripts: the page loads its own refresh script (a file from this host; never inline).
    return html_response(status_page(reader_of(req, branding.store_time_zone), branding, view, here,
                                     auto_update=req.params.get("updates") != "off"), scripts=True)
