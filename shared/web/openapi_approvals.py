"""The approval routes (functions/approvals.py) in the OpenAPI table (``shared.web.openapi``), with the models of
what they answer (``approval_json``, ``OrderRefused.problem_members``; the fuzz test checks the answers)."""
from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel

from shared.domain.approvals import ApprovalDecisionInput, ApprovalStatus
from shared.domain.partner_inputs import OrderReservation, PartnerTimeZone
from shared.web.openapi_answers import AMOUNT, SIGNED_AMOUNT, Problem, Reservation


class _Camel(BaseModel):
    model_config = ConfigDict(extra="forbid", alias_generator=to_camel, populate_by_name=True)


class Approval(_Camel):
    order_id: str
    hierarchy_id: str
    user_id: str = Field(description="The buyer")
    buyer_name: str
    amount: str = Field(pattern=AMOUNT)
    currency: str
    reasons: list[Literal["over_user_limit", "over_user_period_limit"]] = Field(
        description="The buyer's limits the order was over when submitted")
    status: ApprovalStatus = Field(description="pending_approval until decided; expired once past expiresAt (at once "
                                               "on read; the timer writes it and tells the buyer)")
    submitted_at: datetime
    expires_at: datetime
    decided_at: datetime | None
    decided_by: str | None = Field(description="The approver's user id (null: not decided, or expired)")
    decided_by_name: str | None
    comment: str | None


class Decided(Approval):
    changed: bool = Field(description="false: it was decided so already (the same decision again)")
    reservation: Reservation | None = Field(description="Approved: the amount held on the credit line")


class Approvals(_Camel):
    approvals: list[Approval] = Field(description="Newest submitted first")


class OrderRefusedProblem(Problem):
    """The problem+json of a 409 here. An order that cannot go to approval (a reason an approver cannot waive), or
    an approval the credit no longer covers, adds decision deny, every reason and the figures; other conflicts
    (decided otherwise, expired, within the limits) are plain problems."""

    amount: str | None = Field(None, pattern=AMOUNT)
    availableCredit: str | None = Field(None, pattern=SIGNED_AMOUNT,  # noqa: N815
                                        description="The credit available now (below zero once over the limit)")
    currency: str | None = Field(None, description="The credit line's currency")


def approval_operations(order: dict) -> tuple:
    """The rows of the OpenAPI table for these routes (``order``: the example reservation body)."""
    from shared.web.openapi import (CONFLICT, JSON, JSON_BODY_ERRORS, NOT_FOUND, PROBLEM, Answer, Auth, Operation,
                                    Param, _problem)
    from shared.web.openapi_answers import PartnerChange

    refused = {PROBLEM: OrderRefusedProblem}
    decision = dict(tag="approvals", body={JSON: ApprovalDecisionInput}, body_required=False)
    decided = {200: Answer("Decided (changed is false for the same decision again)", {JSON: Decided}),
               **JSON_BODY_ERRORS, 404: NOT_FOUND,
               409: Answer("Decided otherwise already, expired, reserved already, or (approve) the credit no longer "
                           "covers it: decision deny with every reason and the figures", refused)}
    return (
        Operation("order_approval", "POST", "orders/{orderId}/approval",
                  "Submit an order over the buyer's own limits for approval (the reservation's body)", Auth.BEARER,
                  tag="approvals", body={JSON: OrderReservation}, example={**order, "amount": "9000.00"},
                  answers={201: Answer("pending_approval; each Approver and Admin gets an email", {JSON: Approval}),
                           200: Answer("Submitted before (the first request stands)", {JSON: Approval}),
                           **JSON_BODY_ERRORS, 404: NOT_FOUND,
                           409: Answer("Within the limits (reserve it), submitted or reserved otherwise, or refused "
                                       "for a reason no approver waives (credit, currency, user not Active)",
                                       refused)}),
        Operation("order_approval", "GET", "orders/{orderId}/approval",
                  "An order's approval request, to its buyer or the partner's Approvers and Admins", Auth.BEARER,
                  tag="approvals",
                  params=(Param("hierarchyId", "query", "The partner (default: the caller's)", {"type": "string"}),),
                  answers={200: Answer("The request", {JSON: Approval}), 400: _problem("A query value that cannot "
                                                                                      "be used"),
                           404: NOT_FOUND}),
        Operation("partner_approvals", "GET", "partners/{hierarchyId}/approvals",
                  "The partner's approval requests (Approvers and Admins), or the caller's own (mine=true)",
                  Auth.BEARER, tag="approvals",
                  params=(Param("status", "query", "Only requests in this status (pending is pending_approval)",
                                {"type": "string", "enum": ["pending", *(s.value for s in ApprovalStatus)]}),
                          Param("mine", "query", "true: the caller's own requests (any user may ask)",
                                {"type": "string", "enum": ["true", "false"]})),
                  answers={200: Answer("The requests", {JSON: Approvals}),
                           400: _problem("A status or mine value that cannot be used"), 404: NOT_FOUND}),
        Operation("partner_approval_approve", "POST", "partners/{hierarchyId}/approvals/{orderId}/approve",
                  "Approve: the amount is held on the credit line in the same step (never the buyer's own order)",
                  Auth.BEARER, example={"comment": "Needed for the launch"}, answers=decided, **decision),
        Operation("partner_approval_reject", "POST", "partners/{hierarchyId}/approvals/{orderId}/reject",
                  "Reject with a comment (required): the buyer gets it by email", Auth.BEARER,
                  example={"comment": "Split it over two months"}, answers=decided, **decision),
        *_portal_operations(),
        Operation("backoffice_partner_time_zone", "PUT", "backoffice/partners/{hierarchyId}/time-zone",
                  "Set the partner's time zone (IANA): its users' monthly limits run by its calendar months",
                  Auth.FUNCTION_KEY, tag="back office", body={JSON: PartnerTimeZone},
                  example={"timeZone": "Europe/Stockholm", "operator": "alice"},
                  answers={200: Answer("Set (changed is false when it was so)", {JSON: PartnerChange}),
                           **JSON_BODY_ERRORS, 404: NOT_FOUND, 409: CONFLICT}),
    )


def _portal_operations() -> tuple:
    from shared.web.openapi import (_PAGE, _PORTAL_FORM_REFUSED, _PORTAL_REFUSED, _PORTAL_UNAVAILABLE, FORM, Answer,
                                    Auth, Operation, _portal_form)

    decided = {303: Answer("Decided: back to the approvals page, which says so"),
               403: Answer("The approvals page saying why not (not an Approver or Admin, the caller's own order), "
                           "or the sign-in page without a session, or a form without its CSRF token", _PAGE),
               404: Answer("A page: no such approval in the partner", _PAGE),
               409: Answer("The approvals page saying why not: decided otherwise or expired, or the credit no "
                           "longer covers it (with the figures)", _PAGE),
               422: Answer("The approvals page: a rejection needs a comment", _PAGE),
               **_PORTAL_FORM_REFUSED, 503: _PORTAL_UNAVAILABLE}
    return (
        Operation("portal_approvals", "GET", "portal/approvals", "Approvals: the pending orders with approve and "
                  "reject forms (Approvers and Admins), and the caller's own requests", Auth.ANONYMOUS, tag="portal",
                  answers={200: Answer("The approvals page (or the sign-in page without a session)", _PAGE),
                           403: _PORTAL_REFUSED, 503: _PORTAL_UNAVAILABLE}),
        Operation("portal_approval_approve", "POST", "portal/approvals/{orderId}/approve",
                  "An Approver or Admin approves an order (its amount is held on the credit line)", Auth.ANONYMOUS,
                  tag="portal", body={FORM: _portal_form("comment")}, answers=decided),
        Operation("portal_approval_reject", "POST", "portal/approvals/{orderId}/reject",
                  "An Approver or Admin rejects an order with a comment", Auth.ANONYMOUS, tag="portal",
                  body={FORM: _portal_form("comment", required=("comment",))}, answers=decided),
    )
