"""The back office's credit ledger routes (a function key: automation; people use the console's partner page).

POST /api/backoffice/partners/{hierarchyId}/payments   {"paymentId", "amount", "currency", "reference"?, "operator"}
                                                      → 201 the payment's ledger entry (balance after it); the same
                                                      payment again → 200, the same answer; another body under its
                                                      id → 409; 404 no credit line; 422 another currency
GET  /api/backoffice/partners/{hierarchyId}/ledger     ?cursor= a page, newest first (50); ?format=csv the whole
                                                      ledger as a CSV file
The same functions serve the console's partner page and `b2b ledger` / `b2b payment` (shared/services/ledger.py)."""
from __future__ import annotations

import azure.functions as func

from functions._http import http_function, json_object, json_response
from functions._runtime import container
from shared.domain.errors import InvalidQuery

bp = func.Blueprint()


@bp.function_name("backoffice_partner_payments")
@bp.route(route="backoffice/partners/{hierarchyId}/payments", methods=["POST"], auth_level=func.AuthLevel.FUNCTION)
@http_function
def backoffice_partner_payments(req: func.HttpRequest) -> func.HttpResponse:
    payment = container().ledger.record_payment(req.route_params["hierarchyId"], json_object(req, exact_numbers=True))
    return json_response(payment.to_json(), status=200 if payment.repeated else 201, no_store=True)


@bp.function_name("backoffice_partner_ledger")
@bp.route(route="backoffice/partners/{hierarchyId}/ledger", methods=["GET"], auth_level=func.AuthLevel.FUNCTION)
@http_function
def backoffice_partner_ledger(req: func.HttpRequest) -> func.HttpResponse:
    ledger, hierarchy_id = container().ledger, req.route_params["hierarchyId"]
    form = req.params.get("format", "json")
    if form == "csv":
        return ledger_csv(ledger, hierarchy_id)
    if form != "json":
        raise InvalidQuery([("format", "must be json or csv")])
    return json_response(ledger.page(hierarchy_id, req.params.get("cursor")).to_json(), no_store=True)


def ledger_csv(ledger, hierarchy_id: str) -> func.HttpResponse:
    """The whole ledger as a CSV file to save, newest first, written as it is read (a page at a time)."""
    import io

    from shared.services.ledger import write_csv

    out = io.BytesIO()
    write_csv(ledger.entries(hierarchy_id), out)
    name = "".join(ch for ch in hierarchy_id if ch.isalnum() or ch in "-_")
    return func.HttpResponse(out.getvalue(), status_code=200, mimetype="text/csv", charset="utf-8",
                             headers={"Content-Disposition": f'attachment; filename="ledger-{name}.csv"',
                                      "Cache-Control": "no-store"})
