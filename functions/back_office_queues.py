"""The back office's queues and emails over HTTP (function key), for automation; the console pages and the
CLI call the same services (OperatorService's poison actions, EmailOutbox).

GET  /api/backoffice/queues                                        depth of every queue and its poison queue
GET  /api/backoffice/queues/{queue}/poison                         its poison messages, masked
GET  /api/backoffice/queues/{queue}/poison/{messageId}             one, pretty-printed and masked
POST /api/backoffice/queues/{queue}/poison/{messageId}/reveal      {"operator"}: unmasked, audited
POST /api/backoffice/queues/{queue}/poison/{messageId}/replay      {"operator"}: back to its queue, audited
POST /api/backoffice/queues/{queue}/replay                         {"operator"}: all its poison messages back
POST /api/backoffice/queues/{queue}/poison/{messageId}/discard     {"operator", "reason"}: deleted, audited
GET  /api/backoffice/audit                                         the newest audit records
GET  /api/backoffice/emails?status=&template=&toDomain=&cursor=&limit=   the email outbox, newest first
GET  /api/backoffice/emails/{emailId}                              one, as rendered, with its attempts and error
POST /api/backoffice/emails/{emailId}/retry                        {"operator"}: a failed one back in line"""
from __future__ import annotations

import azure.functions as func

from functions._http import http_function, json_object, json_response
from functions._runtime import container

bp = func.Blueprint()

_KEY = func.AuthLevel.FUNCTION


def _route(req: func.HttpRequest) -> tuple[str, str]:
    return req.route_params["queue"], req.route_params.get("messageId", "")


@bp.function_name("backoffice_queues")
@bp.route(route="backoffice/queues", methods=["GET"], auth_level=_KEY)
@http_function
def backoffice_queues(req: func.HttpRequest) -> func.HttpResponse:
    return json_response({"queues": [d.to_json() for d in container().operator.queue_depths()]}, no_store=True)


@bp.function_name("backoffice_poison")
@bp.route(route="backoffice/queues/{queue}/poison", methods=["GET"], auth_level=_KEY)
@http_function
def backoffice_poison(req: func.HttpRequest) -> func.HttpResponse:
    queue, _ = _route(req)
    messages = container().operator.poison_summaries(queue)
    return json_response({"messages": [m.to_json() for m in messages]}, no_store=True)


@bp.function_name("backoffice_poison_message")
@bp.route(route="backoffice/queues/{queue}/poison/{messageId}", methods=["GET"], auth_level=_KEY)
@http_function
def backoffice_poison_message(req: func.HttpRequest) -> func.HttpResponse:
    return json_response(container().operator.masked_poison_message(*_route(req)).to_json(), no_store=True)


@bp.function_name("backoffice_poison_reveal")
@bp.route(route="backoffice/queues/{queue}/poison/{messageId}/reveal", methods=["POST"], auth_level=_KEY)
@http_function
def backoffice_poison_reveal(req: func.HttpRequest) -> func.HttpResponse:
    revealed = container().operator.reveal_poison(*_route(req), json_object(req).get("operator"))
    return json_response(revealed.to_json(), no_store=True)


@bp.function_name("backoffice_poison_replay")
@bp.route(route="backoffice/queues/{queue}/poison/{messageId}/replay", methods=["POST"], auth_level=_KEY)
@http_function
def backoffice_poison_replay(req: func.HttpRequest) -> func.HttpResponse:
    replayed = container().operator.replay_poison(*_route(req), json_object(req).get("operator"))
    return json_response(replayed.to_json(), no_store=True)


@bp.function_name("backoffice_poison_replay_all")
@bp.route(route="backoffice/queues/{queue}/replay", methods=["POST"], auth_level=_KEY)
@http_function
def backoffice_poison_replay_all(req: func.HttpRequest) -> func.HttpResponse:
    queue, _ = _route(req)
    replayed = container().operator.replay_all_poison(queue, json_object(req).get("operator"))
    return json_response({"replayed": [r.to_json() for r in replayed]}, no_store=True)


@bp.function_name("backoffice_poison_discard")
@bp.route(route="backoffice/queues/{queue}/poison/{messageId}/discard", methods=["POST"], auth_level=_KEY)
@http_function
def backoffice_poison_discard(req: func.HttpRequest) -> func.HttpResponse:
    payload = json_object(req)
    entry = container().operator.discard_poison(*_route(req), payload.get("reason"), payload.get("operator"))
    return json_response(entry.to_json(), no_store=True)


@bp.function_name("backoffice_audit")
@bp.route(route="backoffice/audit", methods=["GET"], auth_level=_KEY)
@http_function
def backoffice_audit(req: func.HttpRequest) -> func.HttpResponse:
    return json_response({"entries": [e.to_json() for e in container().operator.audit()]}, no_store=True)


_EMAIL_FILTERS = {"status": "status", "template": "template", "toDomain": "to_domain", "cursor": "cursor",
                  "limit": "limit"}


@bp.function_name("backoffice_emails")
@bp.route(route="backoffice/emails", methods=["GET"], auth_level=_KEY)
@http_function
def backoffice_emails(req: func.HttpRequest) -> func.HttpResponse:
    from shared.services.outbox import email_summary_json

    # An empty filter is no filter (a form's empty select sends status=); a limit, when given, must be a number.
    filters = {field: req.params[name] for name, field in _EMAIL_FILTERS.items()
               if req.params.get(name) or (name == "limit" and name in req.params)}
    page = container().email_outbox.page(filters)
    return json_response({"emails": [email_summary_json(e) for e in page.emails], "nextCursor": page.next_cursor},
                         no_store=True)


@bp.function_name("backoffice_email")
@bp.route(route="backoffice/emails/{emailId}", methods=["GET"], auth_level=_KEY)
@http_function
def backoffice_email(req: func.HttpRequest) -> func.HttpResponse:
    from shared.services.outbox import email_view_json

    return json_response(email_view_json(container().email_outbox.email(req.route_params["emailId"])), no_store=True)


@bp.function_name("backoffice_email_retry")
@bp.route(route="backoffice/emails/{emailId}/retry", methods=["POST"], auth_level=_KEY)
@http_function
def backoffice_email_retry(req: func.HttpRequest) -> func.HttpResponse:
    from shared.services.outbox import email_summary_json

    queued = container().email_outbox.retry_email(req.route_params["emailId"], json_object(req).get("operator"))
    return json_response(email_summary_json(queued), no_store=True)
