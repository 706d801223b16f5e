"""The buyer's limits on an order, the per-order one and the monthly one, read in the caller's unit of work.

The order check, a reservation and an approval's submission all ask ``order_limits``: one definition of what
a user may still spend. What a month has committed is read from the store's index of the user's reservations
by creation time, in the same unit of work that then holds the amount (see credit.hold): two holds of one
partner conflict on its credit line, so a monthly limit cannot pass twice on stale reads.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from shared.domain.approvals import PeriodSpend, month_of, time_zone
from shared.domain.model import CustomerHierarchy
from shared.domain.partners import CreditLine, PartnerUser, order_refusals
from shared.ports import UnitOfWork

OVER_CREDIT = "over_credit"


@dataclass(frozen=True)
class OrderLimits:
    refusals: list[tuple[str, str]]
    period: PeriodSpend | None  # the user's month, when they have a monthly limit


def partner_time_zone(hierarchy: CustomerHierarchy | None, default: str) -> str:
    return (hierarchy.time_zone if hierarchy is not None else None) or default


def period_spend(uow: UnitOfWork, hierarchy: CustomerHierarchy | None, user: PartnerUser, now: datetime,
                 default_zone: str) -> PeriodSpend | None:
    """The user's monthly limit and what they committed this month (the partner's calendar month); None
    without a monthly limit."""
    if user.monthly_limit is None:
        return None
    zone = partner_time_zone(hierarchy, default_zone)
    start, end = month_of(now, time_zone(zone))
    committed = sum((r.committed for r in uow.user_reservations(user.hierarchy_id, user.id, start, end)), Decimal(0))
    return PeriodSpend(limit=user.monthly_limit, committed=committed, start=start, end=end, time_zone=zone)


def order_limits(uow: UnitOfWork, user: PartnerUser, line: CreditLine | None, amount: Decimal, currency: str,
                 now: datetime, default_zone: str) -> OrderLimits:
    """Every reason the order may not go on the partner's credit now, the monthly limit's included (before the
    credit's, after the per-order limit's: the buyer's own limits read together)."""
    refusals = order_refusals(user, line, amount, currency)
    period = period_spend(uow, uow.get_hierarchy(user.hierarchy_id), user, now, default_zone)
    over_period = None if period is None else period.refusal(amount, currency)
    if over_period is not None:
        codes = [code for code, _ in refusals]
        refusals.insert(codes.index(OVER_CREDIT) if OVER_CREDIT in codes else len(refusals), over_period)
    return OrderLimits(refusals, period)
