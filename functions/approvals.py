"""Orders over a buyer's limits, approved by the partner's Approvers and Admins (bearer JWT).

POST /api/orders/{orderId}/approval        the reservation's body → 201 pending_approval, 200 submitted before,
                                           409 within the limits (reserve it), or refused for another reason
GET  /api/orders/{orderId}/approval        ?hierarchyId= (default: the caller's partner) the request, to its buyer
                                           or the partner's Approvers and Admins
GET  /api/partners/{hierarchyId}/approvals ?status=pending|approved|rejected|expired&mine=true|false
POST /api/partners/{hierarchyId}/approvals/{orderId}/approve|reject   {comment} (required to reject)
                                           200 with the reservation when approved; 403 own order or not an
                                           approver; 409 decided otherwise, expired, or the credit is short
timer approval_expiry                      pending requests past APPROVAL_EXPIRY_DAYS become expired (the buyer
                                           gets an email); readers see them expired at once
PUT  /api/backoffice/partners/{hierarchyId}/time-zone   {timeZone, operator} the partner's months (back office)
"""
from __future__ import annotations

import azure.functions as func

from functions._http import http_function, json_object, json_response, problem, signed_in
from functions._runtime import container
from shared.domain.errors import InvalidInput, InvalidQuery

bp = func.Blueprint()

_SCHEDULE = "0 */10 * * * *"  # every ten minutes: expiry is counted in days; readers see it at once anyway


def _answer(approval, status: int = 200, **extra) -> func.HttpResponse:
    from shared.services.approvals import approval_json

    return json_response({**approval_json(approval), **extra}, status=status, no_store=True)


def _refused(error) -> func.HttpResponse:
    """A submission or approval the rules refuse, with every reason and the figures (as a reservation's deny)."""
    return problem(409, "Conflict", str(error), extensions=error.problem_members())


@bp.function_name("order_approval")
@bp.route(route="orders/{orderId}/approval", methods=["GET", "POST"], auth_level=func.AuthLevel.ANONYMOUS)
@http_function
def order_approval(req: func.HttpRequest) -> func.HttpResponse:
    from shared.domain.approvals import OrderRefused

    approvals, order_id = container().approvals, req.route_params["orderId"]
    if req.method == "GET":
        return _answer(approvals.request(signed_in(req), order_id, req.params.get("hierarchyId") or None))
    try:
        approval, created = approvals.submit(signed_in(req), order_id, json_object(req, exact_numbers=True))
    except OrderRefused as error:
        return _refused(error)
    return _answer(approval, 201 if created else 200)


@bp.function_name("partner_approvals")
@bp.route(route="partners/{hierarchyId}/approvals", methods=["GET"], auth_level=func.AuthLevel.ANONYMOUS)
@http_function
def partner_approvals(req: func.HttpRequest) -> func.HttpResponse:
    from shared.services.approvals import approval_json

    query = {name: req.params[name] for name in ("status", "mine") if name in req.params}
    try:
        found = container().approvals.list(signed_in(req), req.route_params["hierarchyId"], query)
    except InvalidInput as error:
        if isinstance(error, InvalidQuery):
            raise
        raise InvalidQuery(error.problems) from None
    return json_response({"approvals": [approval_json(a) for a in found]}, no_store=True)


def _decide(req: func.HttpRequest, decision: str) -> func.HttpResponse:
    from shared.domain.approvals import ApprovalStatus, OrderRefused
    from shared.services.credit import reservation_json

    payload = json_object(req) if req.get_body() else None
    try:
        approval, changed, reservation = container().approvals.decide(
            signed_in(req), req.route_params["hierarchyId"], req.route_params["orderId"], ApprovalStatus(decision),
            payload)
    except OrderRefused as error:
        return _refused(error)
    return _answer(approval, changed=changed,
                   reservation=None if reservation is None else reservation_json(reservation))


@bp.function_name("partner_approval_approve")
@bp.route(route="partners/{hierarchyId}/approvals/{orderId}/approve", methods=["POST"],
          auth_level=func.AuthLevel.ANONYMOUS)
@http_function
def partner_approval_approve(req: func.HttpRequest) -> func.HttpResponse:
    return _decide(req, "approved")


@bp.function_name("partner_approval_reject")
@bp.route(route="partners/{hierarchyId}/approvals/{orderId}/reject", methods=["POST"],
          auth_level=func.AuthLevel.ANONYMOUS)
@http_function
def partner_approval_reject(req: func.HttpRequest) -> func.HttpResponse:
    return _decide(req, "rejected")


@bp.function_name("backoffice_partner_time_zone")
@bp.route(route="backoffice/partners/{hierarchyId}/time-zone", methods=["PUT"], auth_level=func.AuthLevel.FUNCTION)
@http_function
def backoffice_partner_time_zone(req: func.HttpRequest) -> func.HttpResponse:
    done = container().partner_admin.set_time_zone(req.route_params["hierarchyId"], json_object(req))
    return json_response(done.to_json(), no_store=True)


@bp.function_name("approval_expiry")
@bp.timer_trigger(arg_name="timer", schedule=_SCHEDULE, run_on_startup=False, use_monitor=True)
def approval_expiry(timer: func.TimerRequest) -> None:
    from shared.observability import correlation

    with correlation(None):
        container().approvals.expire_due()
