"""Signup intake and status: the storefront's JSON API."""
from __future__ import annotations

import azure.functions as func

from functions._http import html_response, http_function, json_response, parse_json_body, read_body, signup_status_url
from functions._runtime import container
from shared.storefront import status_page

bp = func.Blueprint()


@bp.function_name("signup_intake")
@bp.route(route="signups", methods=["POST"], auth_level=func.AuthLevel.ANONYMOUS)
@http_function
def signup_intake(req: func.HttpRequest) -> func.HttpResponse:
    payload = parse_json_body(read_body(req, ("application/json",)))
    receipt = container().intake.submit(payload, req.headers.get("idempotency-key"))
    status_url = signup_status_url(receipt.signup_id)
    return json_response(
        {"id": receipt.signup_id, "status": "pending", "status_url": status_url},
        status=202,
        headers={"Location": status_url},
    )


@bp.function_name("signup_status")
@bp.route(route="signups/{id}", methods=["GET"], auth_level=func.AuthLevel.ANONYMOUS)
@http_function
def signup_status(req: func.HttpRequest) -> func.HttpResponse:
    view = container().signup_status.status(req.route_params["id"]).to_json()
    if "text/html" in (req.headers.get("accept") or ""):
        return html_response(status_page(view))
    return json_response(view, no_store=True)
