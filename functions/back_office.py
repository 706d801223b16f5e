"""Back-office decisions over HTTP: approve or reject a prospect directly (admin key only).

POST /api/backoffice/prospects/{key}/approve   {"operator": "…"}
POST /api/backoffice/prospects/{key}/reject    {"operator": "…", "reason": "…"}
200 with the prospect's status, 404 unknown prospect, 409 decided the other way already."""
from __future__ import annotations

import azure.functions as func

from functions._http import http_function, json_response, parse_json_body, problem, read_body
from functions._runtime import container
from shared.domain.errors import InvalidInput
from shared.domain.errors import DecisionConflict

bp = func.Blueprint()


def _payload(req: func.HttpRequest) -> dict:
    payload = parse_json_body(read_body(req, ("application/json",)))
    if not isinstance(payload, dict):
        raise InvalidInput([("(body)", "must be a JSON object")])
    return payload


def _decide(req: func.HttpRequest, target: str) -> func.HttpResponse:
    payload = _payload(req)
    back_office, key = container().back_office, req.route_params["key"]
    try:
        if target == "approve":
            decision = back_office.approve(key, payload.get("operator"))
        else:
            decision = back_office.reject(key, payload.get("reason"), payload.get("operator"))
    except DecisionConflict as conflict:
        return problem(409, "Conflict", str(conflict))
    return json_response(decision.to_json(), headers={"Cache-Control": "no-store"})


@bp.function_name("backoffice_approve")
@bp.route(route="backoffice/prospects/{key}/approve", methods=["POST"], auth_level=func.AuthLevel.ADMIN)
@http_function
def backoffice_approve(req: func.HttpRequest) -> func.HttpResponse:
    return _decide(req, "approve")


@bp.function_name("backoffice_reject")
@bp.route(route="backoffice/prospects/{key}/reject", methods=["POST"], auth_level=func.AuthLevel.ADMIN)
@http_function
def backoffice_reject(req: func.HttpRequest) -> func.HttpResponse:
    return _decide(req, "reject")
