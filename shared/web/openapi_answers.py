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


class Problem(_Snake):
    """RFC 9457 problem details, as every error of these routes is answered (functions/_http.py ``problem``)."""

    type: str = Field(description="Always about:blank: the status and title say what went wrong")
    title: str
    status: int
    detail: str
    errors: list[FieldProblem] | None = Field(None, description="With 422: each invalid field and why")
    decision: StandingDecision | None = Field(None, description="With a back-office decision's 409: the one that "
                                                                "stands")


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
    status: Literal["pending"]
    status_url: str = Field(description="Where the signup's status is read (also the Location header)")


class SignupStep(_Snake):
    status: str
    at: datetime


class SignupStatus(_Snake):
    """Where a signup stands. Public to whoever has the id, so it holds no personal data."""

    id: str
    status: Literal["received", "prospect_created", "lead_created", "under_review", "approved", "rejected"]
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
    available: str = Field(pattern=AMOUNT)
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


class Partners(_Snake):
    partners: list[Partner]


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


class ReleasedReservation(Reservation):
    changed: bool = Field(description="false: it was released before")


class OrderRefusal(_Snake):
    code: str = Field(description="over_user_limit, over_credit, user_not_active, currency_mismatch or no_credit_line")
    message: str


class OrderDecision(_Camel):
    order_id: str
    decision: Literal["allow", "deny"]
    amount: str = Field(pattern=AMOUNT)
    currency: str
    reasons: list[OrderRefusal]
    available_credit: str | None = Field(pattern=AMOUNT, description="Credit left after this answer (null without a "
                                                                     "credit line)")
    reservation: Reservation | None = Field(None, description="With a reservation: what is held")


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
