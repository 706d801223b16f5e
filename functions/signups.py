"""Signup intake and status: the storefront's JSON API, and the status page a browser gets at the same URL."""
from __future__ import annotations

import azure.functions as func

from functions._http import html_response, http_function, json_response, parse_json_body, read_body, signup_status_url
from functions._runtime import container
from functions.storefront import reader_of
from shared.domain.errors import NotFound
from shared.web.storefront import form_channel, not_found_page, status_page

bp = func.Blueprint()


@bp.function_name("signup_intake")
@bp.route(route="signups", methods=["POST"], auth_level=func.AuthLevel.ANONYMOUS)
@http_function
def signup_intake(req: func.HttpRequest) -> func.HttpResponse:
    payload = parse_json_body(read_body(req, ("application/json",)))
    receipt = container().intake.submit(payload, req.headers.get("idempotency-key"))
    status_url = signup_status_url(receipt.signup_id)
    return json_response(
        {"id": receipt.signup_id, "status": receipt.status, "status_url": status_url},
        status=202,
        headers={"Location": status_url},
    )


@bp.function_name("signup_status")
@bp.route(route="signups/{id}", methods=["GET"], auth_level=func.AuthLevel.ANONYMOUS)
@http_function
def signup_status(req: func.HttpRequest) -> func.HttpResponse:
    c = container()
    signup_id = req.route_params["id"]
    if "text/html" not in (req.headers.get("accept") or ""):
        return json_response(c.signup_status.status(signup_id).to_json(), no_store=True)
    here = f"/api/signups/{signup_id}"
    try:
        view = c.signup_status.status(signup_id)
    except NotFound:
        branding = c.settings.branding(form_channel(None))
        return html_response(not_found_page(reader_of(req, branding.store_time_zone), branding, here), 404)
    branding = c.settings.branding(view.channel_id)
    # scripts: the page loads its own refresh script (a file from this host; never inline).
    return html_response(status_page(reader_of(req, branding.store_time_zone), branding, view, here,
                                     auto_update=req.params.get("updates") != "off"), scripts=True)
