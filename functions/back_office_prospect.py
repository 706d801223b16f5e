"""One prospect's whole timeline and its repairs, and drift, over HTTP (a function key; automation's routes).

GET  /api/backoffice/prospects/{key}              the prospect with its timeline (history, Sales, queues, emails)
POST /api/backoffice/prospects/{key}/replay       {"operator": "…"}  its poisoned messages back on their queues
POST /api/backoffice/emails/{emailId}/retry       {"operator": "…"}  a failed email queued again
GET  /api/backoffice/drift?limit=100              prospects whose state disagrees with Sales (Pending first)
POST /api/backoffice/drift/reconcile              {"key": "PRO-000001"} or {} for every drifting one: applies now
                                                  what Sales says, and answers what changed
Each calls the service the console and the CLI call; the decisions are functions/back_office.py's routes."""
from __future__ import annotations

import azure.functions as func

from functions._http import http_function, json_object, json_response
from functions._runtime import container
from shared.domain.errors import InvalidInput

bp = func.Blueprint()


def drift_limit(raw: object, field: str = "limit") -> int:
    """How many prospects a drift check may compare with Sales (one read each): 1 to MAX_DRIFT_LIMIT."""
    from shared.services.drift import DRIFT_LIMIT, MAX_DRIFT_LIMIT

    if raw is None or raw == "":
        return DRIFT_LIMIT
    if isinstance(raw, bool) or not (isinstance(raw, int) or (isinstance(raw, str) and raw.isdecimal())) \
            or not 1 <= int(raw) <= MAX_DRIFT_LIMIT:
        raise InvalidInput([(field, f"must be a whole number from 1 to {MAX_DRIFT_LIMIT}")])
    return int(raw)


@bp.function_name("backoffice_prospect")
@bp.route(route="backoffice/prospects/{key}", methods=["GET"], auth_level=func.AuthLevel.FUNCTION)
@http_function
def backoffice_prospect(req: func.HttpRequest) -> func.HttpResponse:
    return json_response(container().prospect_timeline.show(req.route_params["key"]).to_json(), no_store=True)


@bp.function_name("backoffice_replay")
@bp.route(route="backoffice/prospects/{key}/replay", methods=["POST"], auth_level=func.AuthLevel.FUNCTION)
@http_function
def backoffice_replay(req: func.HttpRequest) -> func.HttpResponse:
    operator = json_object(req).get("operator")
    done = container().prospect_timeline.replay(req.route_params["key"], operator)
    return json_response({"changed": bool(done), "replayed": [
        {"queue": r.queue, "messageId": r.message_id, "newMessageId": r.new_message_id} for r in done]})


@bp.function_name("backoffice_drift")
@bp.route(route="backoffice/drift", methods=["GET"], auth_level=func.AuthLevel.FUNCTION)
@http_function
def backoffice_drift(req: func.HttpRequest) -> func.HttpResponse:
    report = container().drift.report(limit=drift_limit(req.params.get("limit")))
    return json_response(report.to_json(), no_store=True)


@bp.function_name("backoffice_drift_reconcile")
@bp.route(route="backoffice/drift/reconcile", methods=["POST"], auth_level=func.AuthLevel.FUNCTION)
@http_function
def backoffice_drift_reconcile(req: func.HttpRequest) -> func.HttpResponse:
    payload = json_object(req)
    key = payload.get("key")
    if key is not None and (not isinstance(key, str) or not key.strip() or len(key) > 100):
        raise InvalidInput([("key", "must be a prospect's number or id")])
    done = container().drift.reconcile(key, limit=drift_limit(payload.get("limit")))
    return json_response({"reconciled": [r.to_json() for r in done]})
