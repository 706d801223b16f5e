"""Orders beyond a buyer's limits: limits per calendar month, and approval by the partner's approvers.

A user may have, besides the per-order spending limit, a limit per calendar month (``PartnerUser.
monthly_limit``). The month is the partner's (``CustomerHierarchy.time_zone``, an IANA name; a setting gives
the default): what the user has committed in it is ``Reservation.committed`` summed over the user's
reservations created in it (held, captured; released ones commit nothing).

An order refused only for the buyer's own limits (``ROUTABLE``) may be submitted for approval instead. An
``ApprovalRequest`` is one per order (hierarchy id, order id): pending until an Approver or Admin of the
partner (never the buyer) approves or rejects it, or it expires. Approving holds the amount on the credit
line in the same unit of work; the credit is checked then, not at submission (it may have moved since).
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from enum import Enum
from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field

from shared.domain.errors import DomainError, Forbidden
from shared.domain.model import _Entity
from shared.domain.partner_inputs import _Input
from shared.domain.validation import text_field

OVER_USER_LIMIT = "over_user_limit"
OVER_USER_PERIOD_LIMIT = "over_user_period_limit"
# The refusals an approver may overrule: the buyer's own limits. The partner's credit, its currency, a user
# who is not Active, a blocked partner are not an approver's to waive.
ROUTABLE = frozenset({OVER_USER_LIMIT, OVER_USER_PERIOD_LIMIT})


def time_zone(name: str) -> ZoneInfo:
    """The IANA time zone ``name`` (Europe/Stockholm); ValueError for anything zoneinfo does not know."""
    if not isinstance(name, str) or not name.strip() or name != name.strip() or name.startswith(("/", ".")):
        raise ValueError(f"{name!r} is not an IANA time zone such as Europe/Stockholm")
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"{name!r} is not an IANA time zone such as Europe/Stockholm") from None


def month_of(at: datetime, zone: ZoneInfo) -> tuple[datetime, datetime]:
    """The calendar month ``at`` falls in, in ``zone``: [start, end) as UTC moments. A month with a DST change is
    as long as the wall clock says (March in Stockholm is 31 days less one hour)."""
    local = at.astimezone(zone)
    start = datetime(local.year, local.month, 1, tzinfo=zone)
    end = datetime(local.year + (local.month == 12), local.month % 12 + 1, 1, tzinfo=zone)
    return start.astimezone(timezone.utc), end.astimezone(timezone.utc)


@dataclass(frozen=True)
class PeriodSpend:
    """A user's monthly limit and what they have committed in the month (``start`` ≤ created < ``end``)."""

    limit: Decimal
    committed: Decimal
    start: datetime
    end: datetime
    time_zone: str

    @property
    def remaining(self) -> Decimal:
        return max(self.limit - self.committed, Decimal(0))

    def refusal(self, amount: Decimal, currency: str) -> tuple[str, str] | None:
        if self.committed + amount <= self.limit:
            return None
        return (OVER_USER_PERIOD_LIMIT,
                f"{amount} {currency} is over the user's monthly limit of {self.limit} {currency}: "
                f"{self.remaining} {currency} remains this month ({self.time_zone})")


class ApprovalStatus(str, Enum):
    PENDING = "pending_approval"
    APPROVED = "approved"
    REJECTED = "rejected"
    EXPIRED = "expired"


# Pending decides once; the decisions are terminal.
_DECISIONS: dict[ApprovalStatus, frozenset[ApprovalStatus]] = {
    ApprovalStatus.PENDING: frozenset({ApprovalStatus.APPROVED, ApprovalStatus.REJECTED, ApprovalStatus.EXPIRED}),
    ApprovalStatus.APPROVED: frozenset(),
    ApprovalStatus.REJECTED: frozenset(),
    ApprovalStatus.EXPIRED: frozenset(),
}


class ApprovalDecided(DomainError):
    """The approval was decided otherwise already (or expired): the decision that stands is named."""

    def __init__(self, approval: ApprovalRequest, wanted: ApprovalStatus):
        self.approval = approval
        by = f" by {approval.decided_by_name or 'an approver'}" if approval.status in (
            ApprovalStatus.APPROVED, ApprovalStatus.REJECTED) else ""
        when = f" at {approval.decided_at.isoformat(timespec='seconds')}" if approval.decided_at else ""
        super().__init__(f"order {approval.order_id} was {approval.status.value}{by}{when}; it cannot be "
                         f"{wanted.value} now")


class OwnOrder(Forbidden):
    """An approver may not approve (or reject) an order of their own."""


class NotAnApprover(Forbidden):
    """Deciding approvals takes the Approver or Admin role."""


class OrderRefused(DomainError):
    """An order that cannot be submitted or approved now, with every reason (code, words): a 409 whose members
    name them and the figures, as a reservation's denial does."""

    def __init__(self, message: str, refusals: list[tuple[str, str]], figures: dict | None = None):
        self.refusals, self.figures = refusals, figures or {}
        super().__init__(message + ": " + "; ".join(words for _, words in refusals) if refusals else message)

    def problem_members(self) -> dict:
        return {"decision": "deny", "reasons": [{"code": code, "message": words} for code, words in self.refusals],
                **self.figures}


class ApprovalRequest(_Entity):
    hierarchy_id: str
    order_id: str
    user_id: str  # the buyer
    buyer_name: str = ""  # as the approvers' list shows it (they may not list the partner's users); not logged
    amount: Decimal
    currency: str
    reasons: list[str]  # the refusal codes it was submitted for (all in ROUTABLE)
    status: ApprovalStatus = ApprovalStatus.PENDING
    submitted_at: datetime
    expires_at: datetime
    decided_at: datetime | None = None
    decided_by: str | None = None  # the approver's user id (None for an expiry)
    decided_by_name: str | None = None  # shown to the buyer and the approvers; not logged
    comment: str | None = None

    def status_at(self, now: datetime) -> ApprovalStatus:
        """What it is at ``now``: a pending request past its expiry reads expired before the timer writes it."""
        if self.status is ApprovalStatus.PENDING and now >= self.expires_at:
            return ApprovalStatus.EXPIRED
        return self.status

    def as_of(self, now: datetime) -> ApprovalRequest:
        """As a reader sees it at ``now`` (expired on read; the stored record moves with the timer)."""
        return self if self.status_at(now) is self.status else self.expired()

    def expired(self) -> ApprovalRequest:
        """Written by the expiry timer once the request is past its time (decided_at: when it expired)."""
        return self.model_copy(update={"status": ApprovalStatus.EXPIRED, "decided_at": self.expires_at})

    def same_order(self, user_id: str, amount: Decimal, currency: str) -> bool:
        return (self.user_id, self.amount, self.currency) == (user_id, amount, currency)

    def decided(self, target: ApprovalStatus, at: datetime, by: str | None = None, by_name: str | None = None,
                comment: str | None = None) -> ApprovalRequest | None:
        """The request decided ``target``; None when it was decided so already (a repeat changes nothing)."""
        current = self.as_of(at)
        if current.status is target:
            return None
        if target not in _DECISIONS[current.status]:
            raise ApprovalDecided(current, target)
        return self.model_copy(update={"status": target, "decided_at": at, "decided_by": by,
                                       "decided_by_name": by_name, "comment": comment})


def expiry_for(submitted_at: datetime, days: int) -> datetime:
    return submitted_at + timedelta(days=days)


class ApprovalDecisionInput(_Input):
    """The body of …/approve and …/reject: the approver's comment (a rejection needs one: the buyer reads it)."""

    comment: text_field(1000, multiline=True) | None = None


class ApprovalQuery(_Input):
    """GET …/approvals?status=&mine=: the status (``pending`` is short for pending_approval) and whether the
    caller's own requests only."""

    status: Literal["pending", "pending_approval", "approved", "rejected", "expired"] | None = None
    # true or false and nothing else: a typo (mine=ture) must not quietly answer another list
    mine_text: Literal["true", "false"] = Field("false", alias="mine")

    @property
    def mine(self) -> bool:
        return self.mine_text == "true"

    @property
    def wanted(self) -> ApprovalStatus | None:
        if self.status is None:
            return None
        return ApprovalStatus.PENDING if self.status == "pending" else ApprovalStatus(self.status)
