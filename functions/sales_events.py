"""The Dataverse webhook endpoint: decisions made in Sales arrive here and go on the outcome queue.

Registered in Dataverse as a webhook with WebhookKey authentication: Dataverse sends the key as the
``code`` query parameter, which is a function key, so the host refuses anyone without it.

Dataverse retries (once) only a 502, 503 or 504, and waits 60 s at most: a transient fault answers 503 with
``Retry-After`` (never 500, which Dataverse never retries), and the service answers within its budget
(``SALES_WEBHOOK_BUDGET_SECONDS``).
"""
from __future__ import annotations

import azure.functions as func

from functions._http import http_function, json_response, problem, read_body
from functions._runtime import container

bp = func.Blueprint()

# A RemoteExecutionContext with entity images can be far larger than a signup; still bounded.
MAX_WEBHOOK_BYTES = 512 * 1024
_JSON_TYPES = ("application/json", "text/json")


@bp.function_name("sales_events")
@bp.route(route="sales/events", methods=["POST"], auth_level=func.AuthLevel.FUNCTION)
@http_function
def sales_events(req: func.HttpRequest) -> func.HttpResponse:
    from shared.services.sales_webhook import WebhookRejected, WebhookUnavailable

    body = read_body(req, _JSON_TYPES, max_bytes=MAX_WEBHOOK_BYTES, type_optional=True)
    try:
        result = container().sales_webhook.handle(body, req.headers)
    except WebhookRejected as rejected:
        return problem(400, "Bad Request", str(rejected))
    except WebhookUnavailable as unavailable:
        response = problem(503, "Service Unavailable", str(unavailable))
        response.headers["Retry-After"] = str(unavailable.retry_after)
        return response
    return json_response({"status": result.status, "kind": result.kind, "event_id": result.event_id}, status=202)
