"""The console's credit ledger, on a partner's page: the ledger a page at a time, its CSV, recording a payment
and the "allow exceeding the limit" setting.

GET  /api/console/partners/{hierarchyId}?ledger=N             the partner's page, its ledger from entry N down
GET  /api/console/partners/{hierarchyId}/ledger.csv           the whole ledger as CSV
POST /api/console/partners/{hierarchyId}/payments             {paymentId, amount, reference?}
POST /api/console/partners/{hierarchyId}/credit/exceeding     {allow: on|off, understood: yes (to turn it on)}
Each POST calls the same service function as the JSON route and `b2b payment` / `b2b allow-exceeding`, as the
signed-in operator, and answers 303 back to the partner's page saying what changed, or why not."""
from __future__ import annotations

import azure.functions as func

from functions._runtime import container
from functions.back_office_ledger import ledger_csv
from functions.console_partners import _outcome, _partner_path, _said
from functions.console_shell import ConsoleVisit, console_view
from shared.domain.errors import NotFound

bp = func.Blueprint()

LEDGER_ANCHOR = "#credit-ledger"


def ledger_section(hierarchy_id: str, cursor: str | None) -> dict:
    """What the partner page's "Credit ledger" section shows: a page of entries (None without a credit line)."""
    try:
        page = container().ledger.page(hierarchy_id, cursor)
    except NotFound:
        return {"ledger": None}
    path = _partner_path(hierarchy_id)
    return {"ledger": page, "ledger_csv": f"{path}/ledger.csv",
            "ledger_older": f"{path}?ledger={page.next_cursor}{LEDGER_ANCHOR}" if page.next_cursor else None,
            "ledger_newest": f"{path}{LEDGER_ANCHOR}" if cursor else None}


@bp.function_name("console_partner_ledger_csv")
@bp.route(route="console/partners/{hierarchyId}/ledger.csv", methods=["GET"], auth_level=func.AuthLevel.ANONYMOUS)
@console_view("read")
def console_partner_ledger_csv(req: func.HttpRequest, visit: ConsoleVisit) -> func.HttpResponse:
    return ledger_csv(container().ledger, req.route_params["hierarchyId"])


@bp.function_name("console_partner_payment")
@bp.route(route="console/partners/{hierarchyId}/payments", methods=["POST"], auth_level=func.AuthLevel.ANONYMOUS)
@console_view("act")
def console_partner_payment(req: func.HttpRequest, visit: ConsoleVisit) -> func.HttpResponse:
    from shared.domain.money import format_amount

    hierarchy_id = req.route_params["hierarchyId"]

    def record() -> str:
        ledger = container().ledger
        fields = {name: visit.form.get(name, "").strip() for name in ("paymentId", "amount", "reference")}
        currency = container().credit.line(hierarchy_id).currency  # the form records in the line's currency
        payment = ledger.record_payment(hierarchy_id, {**{k: v for k, v in fields.items() if v},
                                                       "currency": currency, "operator": visit.operator})
        e = payment.entry
        return _said(not payment.repeated,
                     f"Payment {e.payment_id} of {format_amount(e.amount)} {e.currency} recorded: unpaid "
                     f"{format_amount(e.balance_after)}, available {format_amount(e.available_after)}.",
                     f"payment {e.payment_id} was recorded before with these details.")

    return _outcome(visit, _partner_path(hierarchy_id) + LEDGER_ANCHOR, record)


@bp.function_name("console_partner_exceeding")
@bp.route(route="console/partners/{hierarchyId}/credit/exceeding", methods=["POST"],
          auth_level=func.AuthLevel.ANONYMOUS)
@console_view("act")
def console_partner_exceeding(req: func.HttpRequest, visit: ConsoleVisit) -> func.HttpResponse:
    hierarchy_id = req.route_params["hierarchyId"]
    location = _partner_path(hierarchy_id) + LEDGER_ANCHOR
    allow = visit.form.get("allow", "")
    if allow not in ("on", "off"):
        return visit.done(location, "Not done: the form says neither on nor off.", refused=True)
    if allow == "on" and visit.form.get("understood") != "yes":
        return visit.done(location, "Not done: tick that orders may then go over the credit limit.", refused=True)

    def setting() -> str:
        _, changed = container().ledger.set_allow_exceeding(hierarchy_id, {"allowExceeding": allow == "on",
                                                                           "operator": visit.operator})
        what = "may now go over its credit limit" if allow == "on" else "may no longer go over its credit limit"
        return _said(changed, f"{hierarchy_id} {what}.", f"{hierarchy_id} was set so already.")

    return _outcome(visit, location, setting)
