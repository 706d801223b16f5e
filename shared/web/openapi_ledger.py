"""The credit ledger's routes in the OpenAPI table (``shared.web.openapi``): capture, payments, the ledger
pages and CSV, the "allow exceeding" setting, and their console and portal pages; with the models of what
they answer (built by ``capture_json``, ``LedgerEntry.to_json``, ``LedgerPage.to_json``; the fuzz test checks
the answers against them)."""
from __future__ import annotations

from datetime import datetime
from pydantic import BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel

from shared.domain.ledger import MovementKind
from shared.domain.partners import ReservationStatus
from shared.web.openapi_answers import AMOUNT, SIGNED_AMOUNT, CreditLine


class _Camel(BaseModel):
    model_config = ConfigDict(extra="forbid", alias_generator=to_camel, populate_by_name=True)


class CapturedOrder(_Camel):
    order_id: str
    hierarchy_id: str
    user_id: str
    status: ReservationStatus
    currency: str
    reserved: str = Field(pattern=AMOUNT, description="What the order held")
    captured: str = Field(pattern=AMOUNT, description="What was invoiced: now on the unpaid balance")
    released: str = Field(pattern=AMOUNT, description="The rest of the hold, given back")
    captured_at: datetime | None


class LedgerEntry(_Camel):
    seq: int = Field(ge=1, description="The entry's number in the partner's ledger (1, 2, 3 …)")
    at: datetime
    kind: MovementKind
    by: str = Field(description="user:<id> (a partner user), operator:<principal> (the back office) or system")
    order_id: str | None
    payment_id: str | None
    note: str | None = Field(description="A payment's reference")
    currency: str
    amount: str = Field(pattern=AMOUNT, description="The movement's own amount: held, released, captured, paid, or "
                                                    "the new limit")
    reserved_change: str = Field(pattern=SIGNED_AMOUNT)
    balance_change: str = Field(pattern=SIGNED_AMOUNT)
    limit_after: str = Field(pattern=AMOUNT)
    reserved_after: str = Field(pattern=AMOUNT)
    balance_after: str = Field(pattern=SIGNED_AMOUNT)
    available_after: str = Field(pattern=SIGNED_AMOUNT)
    allow_exceeding_after: bool


class RecordedPayment(LedgerEntry):
    hierarchy_id: str


class LedgerPage(_Camel):
    hierarchy_id: str
    credit: CreditLine
    entries: list[LedgerEntry] = Field(description="Newest first")
    next_cursor: str | None = Field(description="The older entries' page (?cursor=), null on the last page")


class PaymentBody(_Camel):
    payment_id: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,99}$", description="The bank's or the ERP's id: "
                            "recording it again answers the same")
    amount: str = Field(pattern=AMOUNT)
    currency: str
    reference: str | None = Field(None, max_length=200)
    operator: str


class AllowExceedingBody(_Camel):
    allow_exceeding: bool
    operator: str | None = None


def ledger_operations() -> tuple:
    """The rows of the OpenAPI table for the ledger's routes."""
    from shared.domain.ledger_inputs import OrderCapture
    from shared.web.openapi import (
        _CONSOLE_POST_ANSWERS, _PAGE, CONFLICT, FORM, JSON, JSON_BODY_ERRORS, NOT_FOUND, Answer, Auth, Operation,
        Param, _console_form, _problem,
    )

    cursor = Param("cursor", "query", "Where the previous page ended (its nextCursor)",
                   {"type": "string", "pattern": "^[0-9]{1,15}$"})
    csv_answer = Answer("The whole ledger as a CSV file (UTF-8), newest first; a note that starts with = + - or @ "
                        "starts with an apostrophe, so that no spreadsheet runs it", {"text/csv": {"type": "string"}})
    bad_cursor = _problem("A cursor this list did not give")
    partner = "backoffice/partners/{hierarchyId}"
    return (
        Operation("order_capture", "POST", "orders/{orderId}/capture",
                  "Capture an order (invoiced): the final amount goes on the unpaid balance, the rest of the hold is "
                  "released", Auth.BEARER, tag="orders", body={JSON: OrderCapture},
                  example={"hierarchyId": "CH-000001", "amount": "120.00", "currency": "EUR"},
                  answers={200: Answer("Captured (again with the same amount: the same answer)", {JSON: CapturedOrder}),
                           **JSON_BODY_ERRORS, 404: NOT_FOUND,
                           409: _problem("Captured before with another amount, or released")}),
        Operation("partner_credit_ledger", "GET", "partners/{hierarchyId}/credit/ledger",
                  "The partner's credit ledger, newest first, 50 a page (its Admin)", Auth.BEARER, tag="partners",
                  params=(cursor,),
                  answers={200: Answer("A page", {JSON: LedgerPage}), 400: bad_cursor,
                           403: _problem("Not an Admin of the partner, or the partner is blocked"),
                           404: _problem("Not a partner the caller is an Active user of, or it has no credit line")}),
        Operation("backoffice_credit", "PATCH", f"{partner}/credit",
                  "Allow the partner's credit line to exceed its limit, or stop it", Auth.FUNCTION_KEY,
                  tag="back office", body={JSON: AllowExceedingBody},
                  example={"allowExceeding": True, "operator": "alice"},
                  answers={200: Answer("The credit line", {JSON: CreditLine}), **JSON_BODY_ERRORS, 404: NOT_FOUND}),
        Operation("backoffice_partner_payments", "POST", f"{partner}/payments",
                  "Record a payment received: the unpaid balance goes down (below zero when paid in advance)",
                  Auth.FUNCTION_KEY, tag="back office", body={JSON: PaymentBody},
                  example={"paymentId": "BANK-2026-0001", "amount": "100.00", "currency": "EUR",
                           "reference": "Invoice 1001", "operator": "alice"},
                  answers={201: Answer("Recorded: its ledger entry", {JSON: RecordedPayment}),
                           200: Answer("Recorded before with this body: the same answer", {JSON: RecordedPayment}),
                           **JSON_BODY_ERRORS, 404: NOT_FOUND, 409: CONFLICT}),
        Operation("backoffice_partner_ledger", "GET", f"{partner}/ledger",
                  "The partner's credit ledger, newest first, 50 a page, or all of it as CSV", Auth.FUNCTION_KEY,
                  tag="back office",
                  params=(cursor, Param("format", "query", "json (a page) or csv (everything)",
                                        {"enum": ["json", "csv"]})),
                  answers={200: Answer("A page, or the CSV file", {JSON: LedgerPage, **csv_answer.content}),
                           400: _problem("A cursor this list did not give, or another format"), 404: NOT_FOUND}),
        Operation("console_partner_ledger_csv", "GET", "console/partners/{hierarchyId}/ledger.csv",
                  "The partner's whole credit ledger as CSV", Auth.CONSOLE, tag="console",
                  answers={200: csv_answer, 404: Answer("No such partner, or it has no credit line", _PAGE)}),
        *(Operation(function, "POST", f"console/partners/{{hierarchyId}}{suffix}", summary, Auth.CONSOLE,
                    tag="console", body={FORM: _console_form(fields)}, example={"csrf": "(the page's)", **example},
                    answers=_CONSOLE_POST_ANSWERS)
          for function, suffix, summary, fields, example in (
              ("console_partner_payment", "/payments", "Record a payment received from the partner",
               {"paymentId": True, "amount": True, "reference": False},
               {"paymentId": "BANK-2026-0001", "amount": "100.00", "reference": "Invoice 1001"}),
              ("console_partner_exceeding", "/credit/exceeding", "Allow the credit line to exceed its limit, or stop it",
               {"allow": True, "understood": False}, {"allow": "on", "understood": "yes"}))),
        Operation("portal_credit", "GET", "portal/credit",
                  "The partner's credit and its ledger, a page at a time (an Admin)", Auth.ANONYMOUS, tag="portal",
                  params=(cursor, Param("lang", "query", "The page's language (en, sv …)", {"type": "string"})),
                  answers={200: Answer("The page (or the sign-in page without a session)", _PAGE),
                           400: Answer("A cursor the ledger did not give", _PAGE),
                           403: Answer("Not an Admin of the partner, or the partner is blocked", _PAGE),
                           503: Answer("The portal is not configured", _PAGE)}),
    )

