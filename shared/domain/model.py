"""Entities of the onboarding flow and the prospect's state machine."""
from __future__ import annotations

from datetime import datetime
from enum import Enum
from typing import Any

from pydantic import BaseModel, ConfigDict

from shared.domain.errors import IllegalTransition
from shared.domain.signup import SignupRequest


class _Entity(BaseModel):
    model_config = ConfigDict(validate_assignment=False)


class SignupStatus(str, Enum):
    RECEIVED = "received"  # confirmed (or no confirmation asked): the next sync makes it a prospect
    SYNCED = "synced"
    # REQUIRE_EMAIL_CONFIRMATION: kept until the requester opens the emailed link; deleted when it expires.
    AWAITING_CONFIRMATION = "awaiting_confirmation"
    # The requester's email has an open request already: linked to it (``repeat_of``), never a prospect.
    REPEAT = "repeat"


class SignupRecord(_Entity):
    """A channel request as stored at intake, before the sync turns it into a prospect."""

    id: str
    received_at: datetime
    request: SignupRequest
    idempotency_key_hash: str | None = None
    request_fingerprint: str
    status: SignupStatus = SignupStatus.RECEIVED
    prospect_id: str | None = None
    # When the requester agreed to the privacy policy the request names (request.consent), as received.
    consent_given_at: datetime | None = None
    confirmed_at: datetime | None = None  # when the requester confirmed the email (REQUIRE_EMAIL_CONFIRMATION)
    repeat_of: str | None = None  # the first open request of the same email (status REPEAT, or awaiting)


class ProspectStatus(str, Enum):
    PENDING = "Pending"
    APPROVED = "Approved"
    REJECTED = "Rejected"


PROSPECT_TYPE = "B2B prospect"

# The whole state machine: Pending decides once; Approved and Rejected are terminal.
_TRANSITIONS: dict[ProspectStatus, frozenset[ProspectStatus]] = {
    ProspectStatus.PENDING: frozenset({ProspectStatus.APPROVED, ProspectStatus.REJECTED}),
    ProspectStatus.APPROVED: frozenset(),
    ProspectStatus.REJECTED: frozenset(),
}


class Prospect(_Entity):
    id: str
    number: str
    type: str = PROSPECT_TYPE
    status: ProspectStatus = ProspectStatus.PENDING
    signup_id: str
    request: SignupRequest
    created_at: datetime
    updated_at: datetime
    lead_id: str
    lead_created_at: datetime | None = None
    opportunity_id: str | None = None
    qualified_at: datetime | None = None
    person_customer_id: str | None = None
    organization_customer_id: str | None = None
    hierarchy_id: str | None = None
    decided_at: datetime | None = None
    decided_by: str | None = None
    rejection_reason: str | None = None
    needs_attention: bool = False
    attention_reason: str | None = None
    # Its personal data erased (shared.domain.erasure): when, and by whom (an operator, or the retention timer).
    erased_at: datetime | None = None
    erased_by: str | None = None

    @property
    def is_erased(self) -> bool:
        return self.erased_at is not None
    # Found at intake (shared.services.duplicates): the open prospects (PRO-…) and partners (CH-…) of the same
    # organization, and the partners the requester's email already signs in for. The lead's note says so.
    possible_duplicate_of: list[str] = []
    requester_user_of: list[str] = []

    @property
    def is_terminal(self) -> bool:
        return not _TRANSITIONS[self.status]

    @property
    def is_qualified(self) -> bool:
        return self.person_customer_id is not None and self.organization_customer_id is not None

    def can_become(self, target: ProspectStatus) -> bool:
        return target in _TRANSITIONS[self.status]

    def _transition(self, target: ProspectStatus, at: datetime, **changes: Any) -> Prospect:
        if not self.can_become(target):
            raise IllegalTransition(f"prospect {self.number} is {self.status.value}; it cannot become {target.value}")
        return self.model_copy(update={"status": target, "decided_at": at, "updated_at": at, **changes})

    def approve(self, hierarchy_id: str, at: datetime, by: str) -> Prospect:
        if not self.is_qualified:
            raise IllegalTransition(f"prospect {self.number} cannot be approved before its customers exist")
        return self._transition(ProspectStatus.APPROVED, at, hierarchy_id=hierarchy_id, decided_by=by)

    def reject(self, reason: str, at: datetime, by: str) -> Prospect:
        return self._transition(ProspectStatus.REJECTED, at, rejection_reason=reason, decided_by=by)

    def with_lead(self, at: datetime) -> Prospect:
        return self.model_copy(update={"lead_created_at": self.lead_created_at or at, "updated_at": at})

    def with_customers(self, person_id: str, organization_id: str, opportunity_id: str, at: datetime) -> Prospect:
        return self.model_copy(
            update={
                "person_customer_id": person_id,
                "organization_customer_id": organization_id,
                "opportunity_id": opportunity_id,
                "qualified_at": self.qualified_at or at,
                "updated_at": at,
            }
        )

    def flagged(self, reason: str, at: datetime) -> Prospect:
        return self.model_copy(update={"needs_attention": True, "attention_reason": reason, "updated_at": at})

    def attended(self, at: datetime) -> Prospect:
        """An operator has dealt with what the flag asked for; the history keeps the reason and their note."""
        return self.model_copy(update={"needs_attention": False, "attention_reason": None, "updated_at": at})


class HistoryEntry(_Entity):
    """One line of a prospect's audit trail: what changed it, when, and from which message."""

    prospect_id: str
    at: datetime
    actor: str
    action: str
    detail: str = ""
    event_id: str | None = None


class CustomerType(str, Enum):
    PERSON = "Person"
    ORGANIZATION = "Organization"


class Customer(_Entity):
    id: str
    type: CustomerType
    name: str
    first_name: str | None = None
    last_name: str | None = None
    email: str | None = None
    phone: str | None = None
    street: str | None = None
    city: str | None = None
    zip_code: str | None = None
    country: str | None = None
    sales_record_id: str | None = None
    prospect_id: str | None = None
    created_at: datetime


HIERARCHY_PURPOSE = "B2B organization"


class HierarchyRole(str, Enum):
    ADMIN = "Admin"
    APPROVER = "Approver"  # approves (or rejects) orders over a buyer's limits; orders as a User does
    USER = "User"


class MemberStatus(str, Enum):
    PENDING = "Pending"
    ACTIVE = "Active"


class PartnerStatus(str, Enum):
    """Whether a partner may use what it has (sign in, manage its users, order on credit); see
    shared.domain.partners for its transitions (block, reactivate) and what a blocked partner is refused."""

    ACTIVE = "active"
    BLOCKED = "blocked"


def hierarchy_aggregate_id(hierarchy_id: str) -> str:
    """The aggregate of a hierarchy that came from no prospect (see ``CustomerHierarchy.aggregate_id``)."""
    return f"hierarchy-{hierarchy_id}"


class CustomerHierarchy(_Entity):
    id: str
    name: str
    purpose: str = HIERARCHY_PURPOSE
    organization_customer_id: str
    prospect_id: str | None = None  # None: onboarded by hand from an existing organization
    created_at: datetime
    # Blocked by the back office (who, when, why); stored hierarchies from before read as active.
    status: PartnerStatus = PartnerStatus.ACTIVE
    status_changed_at: datetime | None = None
    status_changed_by: str | None = None
    block_reason: str | None = None
    # The partner's time zone (IANA): its users' monthly limits run by its calendar months. None: the setting
    # PARTNER_TIME_ZONE's default.
    time_zone: str | None = None

    @property
    def is_blocked(self) -> bool:
        return self.status is PartnerStatus.BLOCKED

    @property
    def aggregate_id(self) -> str:
        """The partner's records (users, credit, reservations, their emails and messages) are kept with
        the hierarchy: with its prospect when it came from one, so a store can change them atomically."""
        return self.prospect_id or hierarchy_aggregate_id(self.id)


class HierarchyMember(_Entity):
    hierarchy_id: str
    customer_id: str
    role: HierarchyRole
    status: MemberStatus
    added_at: datetime


class OutboxMessage(_Entity):
    """A queue message that commits with the state change that caused it and is sent afterwards."""

    id: str
    aggregate_id: str  # the prospect whose change it carries: stores keep them together
    queue: str
    body: str
    created_at: datetime
    sent_at: datetime | None = None


class EmailStatus(str, Enum):
    PENDING = "pending"
    DELIVERED = "delivered"
    FAILED = "failed"


class EmailRecord(_Entity):
    id: str
    template: str
    to: str
    language: str
    values: dict[str, str]
    prospect_id: str | None = None
    aggregate_id: str | None = None  # the records it is written with (the prospect's, or a partner's)
    status: EmailStatus = EmailStatus.PENDING
    attempts: int = 0
    next_attempt_at: datetime | None = None
    last_error: str | None = None
    created_at: datetime
    delivered_at: datetime | None = None
    # When a delivery attempt took the email and has not ended (delivered or failed) yet. If the instance
    # that took it died, its deliver message stays invisible for the queue lease: this says why it waits.
    delivery_started_at: datetime | None = None
