"""Pydantic models of what the HTTP routes answer (and of the JSON bodies they read without a domain model),
for the OpenAPI document only: the routes build these shapes themselves (``user_json``, ``Decision.to_json`` …).

They are not a second source of truth left to drift: the schema-driven fuzz test (tests/e2e/test_openapi_fuzz.py)
checks every answer the host gives against them."""
from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel

from shared.domain.model import ProspectStatus
from shared.domain.partners import ReservationStatus, UserChange, UserStatus
from shared.domain.validation import MAX_OPERATOR
from shared.services.back_office import MAX_REASON

# A decimal amount as it travels in JSON: a string, never a float (shared.domain.money.format_amount).
AMOUNT = r"^[0-9]+(\.[0-9]+)?$"
SIGNED_AMOUNT = r"^-?[0-9]+(\.[0-9]+)?$"  # a balance or an available credit may be below zero


class _Snake(BaseModel):
    model_config = ConfigDict(extra="forbid")


class _Camel(BaseModel):
    model_config = ConfigDict(extra="forbid", alias_generator=to_camel, populate_by_name=True)


# --- problem+json ---------------------------------------------------------------------------------------
class FieldProblem(_Snake):
    field: str = Field(description="The field's dotted path in the body (or a header's name), e.g. company.name")
    message: str


class StandingDecision(_Snake):
    """A back-office 409's ``decision``: the decision that stands (functions/back_office.py ``_conflict_json``)."""

    number: str = Field(examples=["PRO-000001"])
    status: ProspectStatus
    decided_by: str | None
    decided_at: datetime | None


class OrderRefusal(_Snake):
    code: str = Field(description="over_user_limit, over_credit, user_not_active, currency_mismatch, no_credit_line "
                                  "or partner_blocked")
    message: str


class Problem(_Snake):
    """RFC 9457 problem details, as every error of these routes is answered (functions/_http.py ``problem``)."""

    type: str = Field(description="Always about:blank: the status and title say what went wrong")
    title: str
    status: int
    detail: str
    errors: list[FieldProblem] | None = Field(None, description="With 422: each invalid field and why")
    decision: StandingDecision | Literal["deny"] | None = Field(
        None, description="With a back-office decision's 409: the one that stands; with a blocked partner's order "
                          "check or reservation (403): deny")
    code: Literal["partner_blocked"] | None = Field(None, description="With 403: the partner is blocked by the "
                                                                      "back office")
    reasons: list[OrderRefusal] | None = Field(None, description="With a blocked partner's 403: why, as an order "
                                                                 "check's reasons")


# --- bodies read without a domain model ------------------------------------------------------------------
Operator = Field(min_length=1, max_length=MAX_OPERATOR, description="Who in the back office acts (the history's actor)")
Note = Field(min_length=1, max_length=MAX_REASON, description="Free text; line breaks are kept")


class ApproveBody(BaseModel):
    operator: str = Operator


class RejectBody(BaseModel):
    operator: str = Operator
    reason: str = Note


class AcknowledgeBody(BaseModel):
    operator: str = Operator
    note: str = Note


# --- signups ---------------------------------------------------------------------------------------------
class SignupAccepted(_Snake):
    id: str
    status: Literal["pending", "awaiting_confirmation"] = Field(
        description="awaiting_confirmation when the app asks requesters to confirm their email "
                    "(REQUIRE_EMAIL_CONFIRMATION): the request waits for the emailed link; the same for every "
                    "accepted request, a repeat of an open one too")
    status_url: str = Field(description="Where the signup's status is read (also the Location header)")


class SignupStep(_Snake):
    status: str
    at: datetime


class SignupStatus(_Snake):
    """Where a signup stands. Public to whoever has the id, so it holds no personal data."""

    id: str
    status: Literal["awaiting_confirmation", "received", "prospect_created", "lead_created", "under_review", "approved",
                    "rejected"]
    updated_at: datetime
    steps: list[SignupStep]


# --- back office -----------------------------------------------------------------------------------------
class ProspectDecision(_Snake):
    id: str
    number: str = Field(examples=["PRO-000001"])
    status: ProspectStatus
    changed: bool = Field(description="false: the prospect had this decision already; nothing was written")
    hierarchy_id: str | None
    decided_by: str | None


class Acknowledgement(_Snake):
    number: str
    changed: bool = Field(description="false: the prospect was not flagged; nothing was written")
    flag: str | None = Field(description="What the flag said")


class CreditLine(_Camel):
    hierarchy_id: str
    limit: str = Field(pattern=AMOUNT)
    currency: str = Field(pattern=r"^[A-Z]{3}$")
    reserved: str = Field(pattern=AMOUNT)
    available: str = Field(pattern=SIGNED_AMOUNT, description="limit − reserved − balance: below zero when a line "
                                                              "allowed to exceed its limit went over it")
    balance: str = Field(pattern=SIGNED_AMOUNT, description="Unpaid: captured orders less payments (below zero: "
                                                            "paid in advance, a credit in the partner's favour)")
    allow_exceeding: bool = Field(description="Orders over the available credit go through (with a warning)")
    updated_at: datetime


class PartnerUser(_Camel):
    id: str
    hierarchy_id: str
    customer_id: str
    email: str
    first_name: str
    last_name: str
    role: Literal["User", "Admin"]
    spending_limit: str | None = Field(pattern=AMOUNT)
    language: str
    status: UserStatus
    pending_change: UserChange | None = Field(description="What the user sync has still to apply")
    sign_in_bound_at: datetime | None = Field(description="When the user's sign-in account was bound at its first "
                                                          "sign-in (the account itself is never shown)")
    created_at: datetime
    updated_at: datetime


class PartnerUsers(_Snake):
    users: list[PartnerUser]


class Partner(_Camel):
    hierarchy_id: str = Field(examples=["CH-000001"])
    name: str
    purpose: str
    organization_customer_id: str
    prospect_id: str | None
    created_at: datetime


class PartnerStanding(Partner):
    """A partner with its standing (shared/services/partner_admin.py ``standing_json``)."""

    status: Literal["active", "blocked"]
    status_changed_at: datetime | None = Field(description="When it was last blocked or reactivated")
    status_changed_by: str | None = Field(description="Who did (back-office:<operator>)")
    block_reason: str | None = Field(description="Why it is blocked (null when active)")


class PartnerAdmin(_Camel):
    id: str
    email: str
    name: str


class PartnerRow(PartnerStanding):
    users: int = Field(description="Its users, removed ones not counted")
    admins: list[PartnerAdmin]
    credit: CreditLine | None


class Partners(_Snake):
    partners: list[PartnerRow]
    next: str | None = Field(description="The cursor of the next page (null: this is the last one)")


class PartnerChange(PartnerStanding):
    changed: bool = Field(description="false: it was so already; nothing was written")


class PartnerHistoryEntry(_Snake):
    at: datetime
    actor: str
    action: str
    detail: str


class RenameBody(BaseModel):
    name: str = Field(min_length=1, max_length=200)
    operator: str = Operator


class BlockBody(BaseModel):
    reason: str = Field(min_length=1, max_length=500, description="Why: kept in the history with who blocked it")
    operator: str = Operator


class ReactivateBody(BaseModel):
    operator: str = Operator
    note: str | None = Field(None, max_length=500)


class OperatorBody(BaseModel):
    operator: str = Operator


class ProspectRow(_Camel):
    """A row of All prospects (shared.services.prospect_directory ``summary_json``)."""

    id: str
    number: str = Field(examples=["PRO-000001"])
    status: ProspectStatus
    company: str
    requester: str = Field(description="The requester's first and last name")
    requester_email: str
    country: str = Field(examples=["SE"])
    channel: str = Field(examples=["b2b-web"])
    registration_number: str | None
    vat_number: str | None
    needs_attention: bool
    attention_reason: str | None
    received_at: datetime
    updated_at: datetime = Field(description="The prospect's last change")


class ProspectList(_Camel):
    prospects: list[ProspectRow]
    counts: dict[str, int] = Field(description="Every prospect per status, and how many are flagged (attention), "
                                               "whatever the filter")
    next_cursor: str | None = Field(description="The cursor of the next page; null on the last one")
    previous_cursor: str | None = Field(description="The cursor of the page before; null on the first one")


class OnboardedPartner(Partner):
    users: list[PartnerUser]


# --- partners and orders (bearer JWT) --------------------------------------------------------------------
class MyPartner(_Camel):
    hierarchy_id: str
    name: str
    purpose: str


class Me(_Snake):
    user: PartnerUser
    partner: MyPartner


class Reservation(_Camel):
    order_id: str
    hierarchy_id: str
    user_id: str
    amount: str = Field(pattern=AMOUNT)
    currency: str
    status: ReservationStatus
    created_at: datetime
    released_at: datetime | None
    captured_amount: str | None = Field(pattern=AMOUNT, description="The invoiced amount, once captured")
    captured_at: datetime | None


class ReleasedReservation(Reservation):
    changed: bool = Field(description="false: it was released before")


class OrderDecision(_Camel):
    order_id: str
    decision: Literal["allow", "deny"]
    amount: str = Field(pattern=AMOUNT)
    currency: str
    reasons: list[OrderRefusal]
    available_credit: str | None = Field(pattern=SIGNED_AMOUNT, description="Credit left after this answer (null without a "
                                                                     "credit line)")
    reservation: Reservation | None = Field(None, description="With a reservation: what is held")
    warnings: list[OrderRefusal] = Field(default_factory=list, description="Allowed, and yet (code exceeds_credit: "
                                                                           "over the credit of a line allowed to "
                                                                           "exceed it, by how much)")


class PartnerFile(PartnerStanding):
    """Everything on a partner's page; its history is its prospect's when it came from one."""

    users: list[PartnerUser]
    credit: CreditLine | None
    open_reservations: list[Reservation]
    history: list[PartnerHistoryEntry]


# --- the Dataverse webhook -------------------------------------------------------------------------------
class WebhookAccepted(_Snake):
    status: Literal["enqueued", "duplicate", "ignored"]
    kind: str | None
    event_id: str | None


class KeptEmail(_Snake):
    id: str = Field(description="The message id: GET /api/backoffice/outbox/{messageId} reads the email")
    to: str
    subject: str
    date: str = Field(description="When it was kept (RFC 5322 date)")


class KeptEmails(_Snake):
    emails: list[KeptEmail]
# --- one prospect's timeline, its repairs, drift (functions/back_office_prospect.py) ------------------------
class ReplayBody(BaseModel):
    operator: str = Operator


class ReconcileBody(BaseModel):
    key: str | None = Field(None, min_length=1, max_length=100,
                            description="A prospect's number or id; left out: every drifting prospect the check finds")
    limit: int | None = Field(None, ge=1, le=1000, description="Prospects to check, Pending first (default 100)")


class TimelineEntry(_Camel):
    at: datetime
    source: Literal["history", "sales", "queue", "email"]
    what: str
    who: str = Field(description="The actor: an operator (back-office:<name>), a job, Sales and how it reported, "
                                 "a queue")
    detail: str
    email_id: str | None = Field(None, description="An email entry's email (retry it when it failed)")
    email_status: Literal["pending", "delivered", "failed"] | None = None
    queue: str | None = Field(None, description="A queue entry's queue (a poison queue when poisoned)")
    message_id: str | None = None
    poisoned: bool | None = None


class SalesRecordLink(_Camel):
    entity: Literal["lead", "opportunity", "contact", "account"]
    id: str
    url: str | None = Field(description="Opens the record in Dynamics 365 (null without DATAVERSE_URL)")


class ProspectTimeline(_Camel):
    id: str
    number: str = Field(examples=["PRO-000001"])
    type: str
    status: ProspectStatus
    created_at: datetime
    updated_at: datetime
    decided_at: datetime | None
    decided_by: str | None
    rejection_reason: str | None
    needs_attention: bool
    attention_reason: str | None
    hierarchy_id: str | None
    request: dict = Field(description="The signup as submitted (the intake body, version 1)")
    sales: list[SalesRecordLink]
    timeline: list[TimelineEntry] = Field(description="Oldest first")
    queues_peeked: list[str] = Field(description="The queues whose first messages were looked at for this prospect")
    peek_limit: int = Field(description="Messages looked at per queue: a message further back does not show")
    queues_crowded: dict[str, int] = Field(description="The queues holding more messages than were looked at, with "
                                           "how many they hold (Azure Storage queues show no more without taking them)")


class ReplayedMessage(_Camel):
    queue: str
    message_id: str
    new_message_id: str


class ProspectReplayed(_Snake):
    changed: bool = Field(description="false: the prospect had no poisoned message; nothing was done")
    replayed: list[ReplayedMessage]


class DriftEntry(_Snake):
    number: str
    ours: str
    sales: str
    problem: str
    reconcilable: bool = Field(description="Sales holds a decision on the lead that reconciling applies here "
                                           "(false: decided here while the lead is open in Sales)")


class DriftReport(_Snake):
    drift: list[DriftEntry]
    checked: int = Field(description="Prospects compared with Sales (one Sales read each)")
    more: bool = Field(description="More prospects were left unchecked (raise limit)")


class OutcomeApplied(_Snake):
    kind: Literal["lead_qualified", "lead_disqualified", "opportunity_won", "opportunity_lost"]
    result: str = Field(description="applied, duplicate (applied before) or conflict (flagged)")


class ReconciledProspect(_Snake):
    number: str
    changed: bool
    outcomes: list[OutcomeApplied]
    before: DriftEntry | None
    after: DriftEntry | None = Field(description="null: it agrees with Sales now")
    error: str | None
    summary: str


class Reconciliation(_Snake):
    reconciled: list[ReconciledProspect]

