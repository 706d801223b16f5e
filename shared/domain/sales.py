"""What the onboarding flow exchanges with the CRM (Dataverse terms, our shapes)."""
from __future__ import annotations

from datetime import datetime
from enum import IntEnum
from typing import Literal

from pydantic import BaseModel, ConfigDict


class LeadState(IntEnum):
    OPEN = 0
    QUALIFIED = 1
    DISQUALIFIED = 2


class OpportunityState(IntEnum):
    OPEN = 0
    WON = 1
    LOST = 2


OutcomeKind = Literal["lead_qualified", "lead_disqualified", "opportunity_won", "opportunity_lost"]


class _Record(BaseModel):
    model_config = ConfigDict(frozen=True)


class LeadDraft(_Record):
    """A lead to create; ``lead_id`` is chosen by us so that creating it twice is impossible."""

    lead_id: str
    subject: str
    first_name: str
    last_name: str
    company_name: str
    email: str
    phone: str
    street: str
    city: str
    zip_code: str
    country: str
    description: str | None
    prospect_number: str
    timeline_note: str


class LeadSnapshot(_Record):
    lead_id: str
    prospect_number: str | None
    statecode: LeadState
    statuscode: int
    qualifying_opportunity_id: str | None = None
    # The state of the qualifying opportunity (None while there is none): what the drift report compares.
    opportunity_state: OpportunityState | None = None
    opportunity_statuscode: int | None = None
    created_on: datetime
    modified_on: datetime


class SalesContact(_Record):
    contact_id: str
    first_name: str
    last_name: str
    email: str | None = None
    phone: str | None = None


class SalesAccount(_Record):
    account_id: str
    name: str
    phone: str | None = None
    street: str | None = None
    city: str | None = None
    zip_code: str | None = None
    country: str | None = None


class Qualification(_Record):
    """The records that qualifying a lead created (each carries ``originatingleadid`` in Dataverse)."""

    lead_id: str
    contact: SalesContact
    account: SalesAccount
    opportunity_id: str


class SalesDecision(_Record):
    """A closing decision as Sales records it: a B2B lead qualified or disqualified, or an opportunity
    that originated from one won or lost. Read back by the reconciliation, which turns each into the
    outcome the webhook would have sent (``primary_id`` is what the outcome's event id derives from)."""

    kind: OutcomeKind
    lead_id: str
    opportunity_id: str | None = None  # the opportunity closed, or the one qualifying the lead created
    statuscode: int
    modified_on: datetime
    prospect_number: str | None = None

    @property
    def primary_id(self) -> str:
        return outcome_primary_id(self.kind, self.lead_id, self.opportunity_id)

    @property
    def reason(self) -> str | None:
        return outcome_reason(self.kind, self.statuscode)


def outcome_primary_id(kind: OutcomeKind, lead_id: str, opportunity_id: str | None) -> str:
    """What an outcome's event id derives from: the lead for ``lead_*``, the opportunity for ``opportunity_*``.
    Every reporter (the webhook, the embedded Sales, the reconciliation) must agree, or one decision would be
    applied once per reporter."""
    primary = lead_id if kind.startswith("lead_") else opportunity_id
    assert primary is not None, "an opportunity decision names its opportunity"
    return primary


def outcome_reason(kind: OutcomeKind, statuscode: int | None) -> str | None:
    """The reason an outcome carries: the disqualify or loss reason its statuscode names (an unknown one by
    number); None for the kinds that carry none, or when no statuscode is known."""
    reasons = {"lead_disqualified": LEAD_DISQUALIFY_REASONS, "opportunity_lost": OPPORTUNITY_LOSS_REASONS}.get(kind)
    if reasons is None or statuscode is None:
        return None
    return reasons.get(statuscode, f"statuscode {statuscode}")


# statuscode values that belong to each closing statecode (Dataverse's defaults)
LEAD_DISQUALIFY_REASONS = {4: "Lost", 5: "Cannot Contact", 6: "No Longer Interested", 7: "Canceled"}
OPPORTUNITY_LOSS_REASONS = {4: "Canceled", 5: "Out-Sold"}
LEAD_QUALIFIED_STATUS = 3
OPPORTUNITY_WON_STATUS = 3

# The integration's application user owns B2B leads, which keeps them out of salespeople's
# "My open leads"; the prospect number column is what the "All Commerce B2B leads" view filters on.
INTEGRATION_OWNER = "commerce-b2b-integration"
B2B_LEADS_VIEW = "All Commerce B2B leads"
