"""Order checks and credit reservations for a signed-in partner user (bearer JWT).

POST /api/orders/check                 {hierarchyId, userId, orderId, amount, currency} → 200 allow | deny + reasons
POST /api/orders/{orderId}/reserve     {hierarchyId, userId, amount, currency} → 201 held, 200 held before,
                                       409 denied (reasons) or the order id used otherwise by this partner
POST /api/orders/{orderId}/release     optional {hierarchyId} (default: the caller's partner) → 200 released
                                       (again: 200, unchanged), 404 no such order of the partner, 409 captured
POST /api/orders/{orderId}/capture     {amount ≤ reserved, currency, hierarchyId?} → 200 captured: the hold ends,
                                       the amount is owed (the unpaid balance); again with the same amount: 200,
                                       the same answer; another amount or a released order: 409
Order ids are per partner: an order is (hierarchyId, orderId), so two partners may use the same id, and
one partner's answers never tell of another's orders.
Amounts are decimal strings or exact JSON numbers, in an ISO 4217 currency."""
from __future__ import annotations

import azure.functions as func

from functions._http import http_function, json_object, json_response, signed_in
from functions._runtime import container

bp = func.Blueprint()


@bp.function_name("order_check")
@bp.route(route="orders/check", methods=["POST"], auth_level=func.AuthLevel.ANONYMOUS)
@http_function
def order_check(req: func.HttpRequest) -> func.HttpResponse:
    decision = container().credit.check(signed_in(req), json_object(req, exact_numbers=True))
    return json_response(decision.to_json(), no_store=True)


@bp.function_name("order_reserve")
@bp.route(route="orders/{orderId}/reserve", methods=["POST"], auth_level=func.AuthLevel.ANONYMOUS)
@http_function
def order_reserve(req: func.HttpRequest) -> func.HttpResponse:
    decision = container().credit.reserve(signed_in(req), req.route_params["orderId"], json_object(req, exact_numbers=True))
    status = 409 if not decision.allowed else 200 if decision.repeated else 201
    return json_response(decision.to_json(), status=status, no_store=True)


@bp.function_name("order_release")
@bp.route(route="orders/{orderId}/release", methods=["POST"], auth_level=func.AuthLevel.ANONYMOUS)
@http_function
def order_release(req: func.HttpRequest) -> func.HttpResponse:
    from shared.services.credit import reservation_json

    payload = json_object(req) if req.get_body() else None  # the body is optional: {hierarchyId} at most
    reservation, changed = container().credit.release(signed_in(req), req.route_params["orderId"], payload)
    return json_response({**reservation_json(reservation), "changed": changed}, no_store=True)


@bp.function_name("order_capture")
@bp.route(route="orders/{orderId}/capture", methods=["POST"], auth_level=func.AuthLevel.ANONYMOUS)
@http_function
def order_capture(req: func.HttpRequest) -> func.HttpResponse:
    from shared.services.ledger import capture_json

    captured = container().ledger.capture(signed_in(req), req.route_params["orderId"],
                                          json_object(req, exact_numbers=True))
    return json_response(capture_json(captured.reservation), no_store=True)
