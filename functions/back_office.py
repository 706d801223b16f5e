"""Back-office decisions over HTTP: approve or reject a prospect directly.

For automation, with a key of its own (auth level FUNCTION: a host key named `backoffice`, which the Bicep
creates), never the master key; people use the console (/api/console), signed in.

POST /api/backoffice/prospects/{key}/approve   {"operator": "…"}
POST /api/backoffice/prospects/{key}/reject    {"operator": "…", "reason": "…"}
200 with the prospect's status (also for the same decision again, "changed": false), 404 unknown prospect,
409 decided the other way already: problem+json whose "decision" names the one that stands (who, when).
POST /api/backoffice/prospects/{key}/acknowledge {"operator": "…", "note": "…"}  clears the attention flag (200)

PUT  /api/backoffice/partners/{hierarchyId}/credit   {"limit": "5000.00", "currency": "EUR", "allowExceeding"?,
                                                    "operator"?}  (GET reads it; PATCH {"allowExceeding", "operator"?})
POST /api/backoffice/partners/{hierarchyId}/users    a user (e.g. an Admin) added by an operator (201, 200 again);
                                                    GET lists the partner's users, removed ones too
POST /api/backoffice/customers                      an existing customer by account number (201, 200 again)
POST /api/backoffice/partners                       onboard an existing organization and its persons (201);
                                                    GET lists partners in number order, a page at a time
                                                    (?q= name, CH-number or a user's email, ?cursor=, ?limit=)
GET  /api/backoffice/outbox                         the emails the transport keeps (outbox folder or storage)
GET  /api/backoffice/outbox/{messageId}             one of them as its .eml (message/rfc822)
The partner's own actions (rename, block, reactivate, users): functions/back_office_partners.py."""
from __future__ import annotations

import azure.functions as func

from functions._http import http_function, json_object, json_response, problem
from functions._runtime import container
from shared.domain.errors import DecisionConflict, InvalidInput

bp = func.Blueprint()


def _decide(req: func.HttpRequest, target: str) -> func.HttpResponse:
    payload = json_object(req)
    back_office, key = container().back_office, req.route_params["key"]
    try:
        if target == "approve":
            decision = back_office.approve(key, payload.get("operator"))
        else:
            decision = back_office.reject(key, payload.get("reason"), payload.get("operator"))
    except DecisionConflict as conflict:  # decided the other way, maybe a moment ago by another instance
        return problem(409, "Conflict", str(conflict), extensions={"decision": _conflict_json(conflict)})
    return json_response(decision.to_json(), no_store=True)


def _conflict_json(conflict: DecisionConflict) -> dict:
    """The decision that stands, as the 409's ``decision`` member: who decided what, and when."""
    return {"number": conflict.number, "status": conflict.status, "decided_by": conflict.decided_by,
            "decided_at": conflict.decided_at.isoformat() if conflict.decided_at else None}


@bp.function_name("backoffice_approve")
@bp.route(route="backoffice/prospects/{key}/approve", methods=["POST"], auth_level=func.AuthLevel.FUNCTION)
@http_function
def backoffice_approve(req: func.HttpRequest) -> func.HttpResponse:
    return _decide(req, "approve")


@bp.function_name("backoffice_reject")
@bp.route(route="backoffice/prospects/{key}/reject", methods=["POST"], auth_level=func.AuthLevel.FUNCTION)
@http_function
def backoffice_reject(req: func.HttpRequest) -> func.HttpResponse:
    return _decide(req, "reject")


@bp.function_name("backoffice_acknowledge")
@bp.route(route="backoffice/prospects/{key}/acknowledge", methods=["POST"], auth_level=func.AuthLevel.FUNCTION)
@http_function
def backoffice_acknowledge(req: func.HttpRequest) -> func.HttpResponse:
    payload = json_object(req)
    done = container().back_office.acknowledge(req.route_params["key"], payload.get("note"), payload.get("operator"))
    return json_response({"number": done.number, "changed": done.changed, "flag": done.reason}, no_store=True)


@bp.function_name("backoffice_credit")
@bp.route(route="backoffice/partners/{hierarchyId}/credit", methods=["GET", "PUT", "PATCH"],
          auth_level=func.AuthLevel.FUNCTION)
@http_function
def backoffice_credit(req: func.HttpRequest) -> func.HttpResponse:
    from shared.services.credit import credit_line_json

    credit, hierarchy_id = container().credit, req.route_params["hierarchyId"]
    if req.method == "GET":
        return json_response(credit_line_json(credit.line(hierarchy_id)), no_store=True)
    if req.method == "PATCH":  # the per-partner "allow exceeding the limit" setting
        line, _ = container().ledger.set_allow_exceeding(hierarchy_id, json_object(req))
        return json_response(credit_line_json(line), no_store=True)
    return json_response(credit_line_json(credit.set_line(hierarchy_id, json_object(req, exact_numbers=True))))


@bp.function_name("backoffice_partner_users")
@bp.route(route="backoffice/partners/{hierarchyId}/users", methods=["GET", "POST"], auth_level=func.AuthLevel.FUNCTION)
@http_function
def backoffice_partner_users(req: func.HttpRequest) -> func.HttpResponse:
    from shared.services.partner_users import user_json

    hierarchy_id = req.route_params["hierarchyId"]
    if req.method == "GET":  # every user, removed ones too: the back office sees the whole story
        users = container().operator.partner_users(hierarchy_id)
        return json_response({"users": [user_json(u) for u in users]}, no_store=True)
    added = container().partner_users.add_by_operator(hierarchy_id, json_object(req, exact_numbers=True))
    return json_response(user_json(added.user), status=201 if added.created else 200)


@bp.function_name("backoffice_customers")
@bp.route(route="backoffice/customers", methods=["POST"], auth_level=func.AuthLevel.FUNCTION)
@http_function
def backoffice_customers(req: func.HttpRequest) -> func.HttpResponse:
    customer, created = container().partner_onboarding.add_customer(json_object(req))
    return json_response(customer.model_dump(mode="json"), status=201 if created else 200)


def _limit(req: func.HttpRequest) -> int | None:
    value = req.params.get("limit")
    if value is None:
        return None
    if not value.isdigit():
        raise InvalidInput([("limit", "must be a whole number")])
    return int(value)


@bp.function_name("backoffice_partners")
@bp.route(route="backoffice/partners", methods=["GET", "POST"], auth_level=func.AuthLevel.FUNCTION)
@http_function
def backoffice_partners(req: func.HttpRequest) -> func.HttpResponse:
    from shared.services.operator import hierarchy_json
    from shared.services.partner_admin import row_json
    from shared.services.partner_users import user_json

    if req.method == "GET":  # ?q= a name, CH-number or user's email; ?cursor= the last page's "next"; ?limit=
        page = container().partner_admin.page(req.params.get("q"), req.params.get("cursor"), _limit(req))
        return json_response({"partners": [row_json(r) for r in page.rows], "next": page.next_cursor},
                             no_store=True)
    done = container().partner_onboarding.onboard(json_object(req, exact_numbers=True))
    body = {**hierarchy_json(done.hierarchy), "users": [user_json(u) for u in done.users]}
    return json_response(body, status=201 if done.created else 200)


@bp.function_name("backoffice_outbox")
@bp.route(route="backoffice/outbox", methods=["GET"], auth_level=func.AuthLevel.FUNCTION)
@http_function
def backoffice_outbox(req: func.HttpRequest) -> func.HttpResponse:
    kept = container().kept_emails.list()
    return json_response({"emails": [{key: email[key] for key in ("id", "to", "subject", "date")} for email in kept]},
                         no_store=True)


@bp.function_name("backoffice_outbox_email")
@bp.route(route="backoffice/outbox/{messageId}", methods=["GET"], auth_level=func.AuthLevel.FUNCTION)
@http_function
def backoffice_outbox_email(req: func.HttpRequest) -> func.HttpResponse:
    message_id = req.route_params["messageId"]
    data = container().kept_emails.read_bytes(message_id)
    # An attachment, never rendered by the browser in the app's origin: the email's HTML is not the app's.
    return func.HttpResponse(data, mimetype="message/rfc822", headers={
        "Content-Disposition": f'attachment; filename="{message_id}.eml"', "Cache-Control": "no-store",
        "X-Content-Type-Options": "nosniff"})
