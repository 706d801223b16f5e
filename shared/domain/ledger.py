"""The credit ledger: every movement of a partner's credit line, one entry per change, in order.

A credit line moves in two amounts: what open orders hold (``reserved``) and what invoiced orders owe until
paid (``balance``, the unpaid balance). Each change of either, and each change of the limit or of the
"allow exceeding" setting, is a movement: ``moved`` makes the new line and its ledger entry together, so no
change of the line exists without its entry (the store writes both in one unit of work). The entries carry
the signed changes of both amounts, so adding them up gives the line's figures back: that is what the
concurrency tests check, and what an accountant reconciles with.

Entries are numbered per line (``CreditLine.movements`` is the last number): a line's writers are serialized
(the store's lock, or the credit row's ETag), so the numbers are gap-free and their order is time order.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from enum import Enum

from pydantic import BaseModel

from shared.domain.money import format_amount, in_minor_units
from shared.domain.partners import CreditLine

SYSTEM = "system"  # who moved the line when no person did (an approval's hold, an expiry)


class MovementKind(str, Enum):
    RESERVE = "reserve"  # an order's amount held
    RELEASE = "release"  # a hold given back (the order was cancelled)
    CAPTURE = "capture"  # the order invoiced: its hold ends, the invoiced amount is owed
    PAYMENT = "payment"  # money received: the balance goes down
    LIMIT = "limit"  # the back office set the limit (or the currency of a line without movements)
    ALLOW_EXCEEDING = "allow_exceeding"  # the back office let the line go over its limit, or stopped it
    OPENING = "opening"  # a line from before the ledger: what it held and owed then, as its first entry


class LedgerEntry(BaseModel):
    hierarchy_id: str
    seq: int  # 1, 2, 3 … per credit line: the entry's place in the ledger
    at: datetime
    kind: MovementKind
    by: str  # "user:<id>" for a partner user, "operator:<principal>" for the back office, or "system"
    currency: str
    amount: Decimal  # the movement's own amount as people speak of it: held, released, captured, paid, the new limit
    reserved_change: Decimal = Decimal(0)  # signed: what this entry added to the line's reserved amount
    balance_change: Decimal = Decimal(0)  # signed: what it added to the unpaid balance
    order_id: str | None = None
    payment_id: str | None = None
    note: str | None = None  # a payment's reference, as the back office typed it
    limit_after: Decimal
    reserved_after: Decimal
    balance_after: Decimal
    available_after: Decimal  # may be negative: a line allowed to exceed its limit went over it
    allow_exceeding_after: bool = False

    def to_json(self) -> dict:
        return {"seq": self.seq, "at": self.at.isoformat(), "kind": self.kind.value, "by": self.by,
                "orderId": self.order_id, "paymentId": self.payment_id, "note": self.note,
                "currency": self.currency, "amount": format_amount(self.amount),
                "reservedChange": format_amount(self.reserved_change),
                "balanceChange": format_amount(self.balance_change),
                "limitAfter": format_amount(self.limit_after), "reservedAfter": format_amount(self.reserved_after),
                "balanceAfter": format_amount(self.balance_after),
                "availableAfter": format_amount(self.available_after),
                "allowExceedingAfter": self.allow_exceeding_after}


# The CSV export's columns, in order (the JSON names: one vocabulary for both).
CSV_COLUMNS = ["seq", "at", "kind", "by", "orderId", "paymentId", "note", "currency", "amount", "reservedChange",
               "balanceChange", "limitAfter", "reservedAfter", "balanceAfter", "availableAfter",
               "allowExceedingAfter"]


@dataclass(frozen=True)
class Movement:
    """What changes: the kind, who, the amounts' signed changes and what it is about."""

    kind: MovementKind
    by: str
    amount: Decimal
    reserved_change: Decimal = Decimal(0)
    balance_change: Decimal = Decimal(0)
    order_id: str | None = None
    payment_id: str | None = None
    note: str | None = None
    limit: Decimal | None = None  # the new limit (LIMIT)
    currency: str | None = None  # the new currency (LIMIT of a line that never moved money)
    allow_exceeding: bool | None = None  # the new setting (ALLOW_EXCEEDING)


def moved(line: CreditLine, movement: Movement, at: datetime) -> tuple[CreditLine, LedgerEntry]:
    """The line after ``movement`` and the ledger entry that records it (numbered after the line's last)."""
    currency = movement.currency or line.currency
    changes: dict = {
        "reserved": in_minor_units(line.reserved + movement.reserved_change, currency),
        "balance": in_minor_units(line.balance + movement.balance_change, currency),
        "movements": line.movements + 1,
        "updated_at": at,
    }
    if movement.limit is not None:
        changes["limit"] = movement.limit
    if movement.currency is not None:
        changes["currency"] = movement.currency
    if movement.allow_exceeding is not None:
        changes["allow_exceeding"] = movement.allow_exceeding
    if movement.kind in (MovementKind.RESERVE, MovementKind.CAPTURE, MovementKind.PAYMENT):
        changes["money_moved"] = True
    after = line.model_copy(update=changes)
    entry = LedgerEntry(
        hierarchy_id=line.hierarchy_id, seq=after.movements, at=at, kind=movement.kind, by=movement.by,
        currency=after.currency, amount=movement.amount, reserved_change=movement.reserved_change,
        balance_change=movement.balance_change, order_id=movement.order_id, payment_id=movement.payment_id,
        note=movement.note, limit_after=after.limit, reserved_after=after.reserved, balance_after=after.balance,
        available_after=after.available, allow_exceeding_after=after.allow_exceeding)
    return after, entry


def opened(line: CreditLine, at: datetime) -> tuple[CreditLine, LedgerEntry] | None:
    """A line kept from before the ledger existed (no entry yet, but amounts held or owed): the line numbered
    and its opening entry, whose changes are those amounts, so that its ledger adds up from the start. None for
    a line whose ledger has begun, or that holds and owes nothing."""
    if line.movements or not (line.reserved or line.balance):
        return None
    after = line.model_copy(update={"movements": 1, "money_moved": True})
    entry = LedgerEntry(
        hierarchy_id=line.hierarchy_id, seq=1, at=at, kind=MovementKind.OPENING, by=SYSTEM, currency=line.currency,
        amount=in_minor_units(abs(line.reserved) + abs(line.balance), line.currency),
        reserved_change=line.reserved, balance_change=line.balance, limit_after=line.limit,
        reserved_after=line.reserved, balance_after=line.balance, available_after=line.available,
        allow_exceeding_after=line.allow_exceeding)
    return after, entry


def user_actor(user_id: str) -> str:
    return f"user:{user_id}"


def operator_actor(operator: str) -> str:
    return f"operator:{operator}"
