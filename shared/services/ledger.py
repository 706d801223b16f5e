"""The credit ledger: captures (an order invoiced), payments, the "allow exceeding" setting, and reading the
ledger a page at a time (JSON, CSV).

Every change of a credit line goes through ``record``: the line and its ledger entry are written in the
caller's unit of work, so neither exists without the other (shared.domain.ledger). Reservations and releases
(shared.services.credit) and limit changes record theirs the same way.

A capture ends the order's hold and puts the invoiced amount (at most the hold) on the partner's unpaid
balance, in one entry (the rest of the hold is released by it). It is idempotent by order id: the same amount
again answers as the first time; another amount is a conflict. A payment lowers the balance, idempotent by
its payment id. A payment over what is owed is recorded, not refused (the money arrived): the balance goes
below zero, a credit in the partner's favour that raises the available credit until orders use it up.
"""
from __future__ import annotations

import csv
import io
import logging
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import IO, Iterator

from shared.domain.errors import Forbidden, IdempotencyConflict, InvalidInput, InvalidQuery, NotFound
from shared.domain.ledger import (
    CSV_COLUMNS,
    LedgerEntry,
    Movement,
    MovementKind,
    moved,
    opened,
    operator_actor,
    user_actor,
)
from shared.domain.ledger_inputs import AllowExceedingInput, OrderCapture, PaymentInput
from shared.domain.model import HierarchyRole
from shared.domain.money import MoneyError, amount_in, format_amount, in_minor_units
from shared.domain.partner_inputs import checked_order_id
from shared.domain.partners import CreditLine, Reservation, ReservationStatus
from shared.domain.validation import validated
from shared.ports import Caller, Clock, Store, UnitOfWork
from shared.services.partner_users import member_of
from shared.services.retry import on_conflict
from shared.services.sign_ins import SignIns, signed_in_user

log = logging.getLogger("b2b.ledger")

PAGE_SIZE = 50
# Who of a partner may read its ledger (the credit route shows the figures to every member; the movements,
# with who ordered what, to these roles).
LEDGER_READERS = frozenset({HierarchyRole.ADMIN})
BACK_OFFICE = "back-office"  # the operator named when a back-office JSON call names none


def record(uow: UnitOfWork, line: CreditLine, movement: Movement, at: datetime) -> CreditLine:
    """The line moved: the new line and its ledger entry written in ``uow``; returns the new line."""
    return recorded(uow, line, movement, at)[0]


def recorded(uow: UnitOfWork, line: CreditLine, movement: Movement, at: datetime) -> tuple[CreditLine, LedgerEntry]:
    opening = opened(line, at)
    if opening is not None:  # the line's first movement since the ledger began: its figures go first
        line, first = opening
        uow.add_ledger_entry(first)
    after, entry = moved(line, movement, at)
    uow.save_credit_line(after)
    uow.add_ledger_entry(entry)
    return after, entry


def hold(uow: UnitOfWork, line: CreditLine, reservation: Reservation, by: str, at: datetime) -> CreditLine:
    """The reservation's amount held against the line (a reservation, or an approval's hold)."""
    return record(uow, line, Movement(MovementKind.RESERVE, by, reservation.amount,
                                      reserved_change=reservation.amount, order_id=reservation.order_id), at)


def release_hold(uow: UnitOfWork, line: CreditLine, reservation: Reservation, by: str, at: datetime) -> CreditLine:
    """The reservation's hold given back (never more than the line holds)."""
    given_back = min(reservation.amount, line.reserved)
    return record(uow, line, Movement(MovementKind.RELEASE, by, reservation.amount, reserved_change=-given_back,
                                      order_id=reservation.order_id), at)


def caller_actor(uow: UnitOfWork, caller: Caller) -> str:
    """The ledger's "by" for a partner user's call: the user the caller signs in as."""
    return user_actor(signed_in_user(uow, caller).id)


def _money(value: object, currency: str, field: str = "amount") -> Decimal:
    try:
        return amount_in(value, currency)
    except MoneyError as error:
        raise InvalidInput([(field, str(error))]) from None


def _cursor(value: str | None) -> int | None:
    if value is None:
        return None
    if not (value.isascii() and value.isdigit()) or len(value) > 15:
        raise InvalidQuery([("cursor", "is not a cursor of this list (follow the nextCursor of a page)")])
    return int(value)


def capture_json(reservation: Reservation) -> dict:
    """A captured order's answer: only the order's own figures, so that asking again answers the same."""
    captured = reservation.captured_amount if reservation.captured_amount is not None else reservation.amount
    return {"orderId": reservation.order_id, "hierarchyId": reservation.hierarchy_id, "userId": reservation.user_id,
            "status": reservation.status.value, "currency": reservation.currency,
            "reserved": format_amount(reservation.amount), "captured": format_amount(captured),
            "released": format_amount(reservation.amount - captured),
            "capturedAt": reservation.captured_at.isoformat() if reservation.captured_at else None}


@dataclass(frozen=True)
class Captured:
    reservation: Reservation
    repeated: bool  # captured before with this amount: the first answer stands


@dataclass(frozen=True)
class Payment:
    entry: LedgerEntry  # the payment's ledger entry: its amount, reference and the balance after it
    repeated: bool

    def to_json(self) -> dict:
        return {"hierarchyId": self.entry.hierarchy_id, **self.entry.to_json()}


@dataclass(frozen=True)
class LedgerPage:
    hierarchy_id: str
    line: CreditLine
    entries: list[LedgerEntry]  # newest first
    next_cursor: str | None  # the older entries' page, if any

    def to_json(self) -> dict:
        from shared.services.credit import credit_line_json

        return {"hierarchyId": self.hierarchy_id, "credit": credit_line_json(self.line),
                "entries": [entry.to_json() for entry in self.entries], "nextCursor": self.next_cursor}


def write_csv(entries: Iterator[LedgerEntry], out: IO[bytes]) -> int:
    """The entries as CSV (CSV_COLUMNS) into ``out``, as they come; returns how many."""
    text = io.TextIOWrapper(out, encoding="utf-8", newline="", write_through=True)
    writer = csv.DictWriter(text, CSV_COLUMNS, extrasaction="ignore")
    writer.writeheader()
    count = 0
    for entry in entries:
        row = entry.to_json()
        # A spreadsheet runs a cell that starts with = + - @ as a formula: a typed reference must stay text.
        if row["note"] and row["note"][0] in "=+-@\t\r":
            row["note"] = "'" + row["note"]
        writer.writerow(row)
        count += 1
    text.detach()  # leave ``out`` open for the caller
    return count


class CreditLedger:
    def __init__(self, store: Store, clock: Clock):
        self._store = store
        self._clock = clock
        self._sign_ins = SignIns(store, clock)

    # --- the storefront: the order invoiced ------------------------------------------------------
    def capture(self, caller: Caller, order_id: str, payload: object) -> Captured:
        given = validated(OrderCapture, payload)
        amount = _money(given.amount, given.currency)
        order_id = checked_order_id(order_id)
        return self._sign_ins.as_caller(caller, lambda: on_conflict(
            lambda: self._capture(caller, given, order_id, amount)))

    def _capture(self, caller: Caller, given: OrderCapture, order_id: str, amount: Decimal) -> Captured:
        from shared.services.credit import callers_order

        now = self._clock.now()
        with self._store.unit_of_work() as uow:
            reservation = callers_order(uow, caller, given.hierarchy_id, order_id)
            if reservation.status is ReservationStatus.RELEASED:
                raise IdempotencyConflict(f"order {order_id} was released; a released order cannot be captured")
            if given.currency != reservation.currency:
                raise InvalidInput([("currency", f"order {order_id} is reserved in {reservation.currency}")])
            if reservation.status is ReservationStatus.CAPTURED:
                if reservation.captured_amount != amount:
                    raise IdempotencyConflict(f"order {order_id} was captured already with "
                                              f"{format_amount(reservation.committed)} {reservation.currency}")
                return Captured(reservation, repeated=True)
            if amount > reservation.amount:
                raise InvalidInput([("amount", f"is over the {format_amount(reservation.amount)} "
                                               f"{reservation.currency} reserved for order {order_id}")])
            line = uow.get_credit_line(reservation.hierarchy_id)
            if line is None:
                raise NotFound(f"partner {reservation.hierarchy_id} has no credit line")
            captured = reservation.model_copy(update={"status": ReservationStatus.CAPTURED, "captured_amount": amount,
                                                      "captured_at": now})
            uow.save_reservation(captured)
            record(uow, line, Movement(MovementKind.CAPTURE, caller_actor(uow, caller), amount,
                                       reserved_change=-min(reservation.amount, line.reserved),
                                       balance_change=amount, order_id=order_id), now)
        log.info("order captured", extra={"hierarchy": captured.hierarchy_id, "order": order_id})
        return Captured(captured, repeated=False)

    # --- the back office -------------------------------------------------------------------------
    def record_payment(self, hierarchy_id: str, payload: object) -> Payment:
        given = validated(PaymentInput, payload)
        amount = _money(given.amount, given.currency)
        return on_conflict(lambda: self._record_payment(hierarchy_id, given, amount))

    def _record_payment(self, hierarchy_id: str, given: PaymentInput, amount: Decimal) -> Payment:
        now = self._clock.now()
        with self._store.unit_of_work() as uow:
            line = uow.get_credit_line(hierarchy_id)
            if line is None:
                raise NotFound(f"partner {hierarchy_id} has no credit line")
            earlier = uow.get_payment(hierarchy_id, given.payment_id)
            if earlier is not None:
                if (earlier.amount, earlier.currency, earlier.note) != (amount, given.currency, given.reference):
                    raise IdempotencyConflict(f"payment {given.payment_id} was recorded already with "
                                              f"{format_amount(earlier.amount)} {earlier.currency}"
                                              + (f" ({earlier.note})" if earlier.note else ""))
                return Payment(earlier, repeated=True)
            if given.currency != line.currency:
                raise InvalidInput([("currency", f"the credit line of {hierarchy_id} is in {line.currency}")])
            _, entry = recorded(uow, line, Movement(MovementKind.PAYMENT, operator_actor(given.operator), amount,
                                                    balance_change=-amount, payment_id=given.payment_id,
                                                    note=given.reference), now)
        log.info("payment recorded", extra={"hierarchy": hierarchy_id, "payment": given.payment_id})
        return Payment(entry, repeated=False)

    def set_allow_exceeding(self, hierarchy_id: str, payload: object) -> tuple[CreditLine, bool]:
        """(the line, changed): orders over the available credit go through (and say so) while it is on."""
        given = validated(AllowExceedingInput, payload)
        return on_conflict(lambda: self._set_allow_exceeding(hierarchy_id, given))

    def _set_allow_exceeding(self, hierarchy_id: str, given: AllowExceedingInput) -> tuple[CreditLine, bool]:
        now = self._clock.now()
        with self._store.unit_of_work() as uow:
            line = uow.get_credit_line(hierarchy_id)
            if line is None:
                raise NotFound(f"partner {hierarchy_id} has no credit line")
            if line.allow_exceeding is given.allow_exceeding:
                return line, False
            line = allow_exceeding(uow, line, given.allow_exceeding, operator_actor(given.operator or BACK_OFFICE), now)
        log.info("credit line exceeding set", extra={"hierarchy": hierarchy_id, "allow": given.allow_exceeding})
        return line, True

    def page(self, hierarchy_id: str, cursor: str | None = None, limit: int = PAGE_SIZE) -> LedgerPage:
        """A page of the partner's ledger, newest first (the back office)."""
        before = _cursor(cursor)
        with self._store.unit_of_work(read_only=True) as uow:
            return self._page(uow, hierarchy_id, before, limit)

    @staticmethod
    def _page(uow: UnitOfWork, hierarchy_id: str, before: int | None, limit: int) -> LedgerPage:
        line = uow.get_credit_line(hierarchy_id)
        if line is None:
            raise NotFound(f"partner {hierarchy_id} has no credit line")
        entries = uow.ledger_page(hierarchy_id, before, limit + 1)
        more = len(entries) > limit
        entries = entries[:limit]
        return LedgerPage(hierarchy_id, line, entries, str(entries[-1].seq) if more else None)

    def entries(self, hierarchy_id: str, batch: int = 1000) -> Iterator[LedgerEntry]:
        """The whole ledger, newest first, read a page at a time (the CSV export)."""
        before: int | None = None
        while True:
            with self._store.unit_of_work(read_only=True) as uow:
                if before is None and uow.get_credit_line(hierarchy_id) is None:
                    raise NotFound(f"partner {hierarchy_id} has no credit line")
                entries = uow.ledger_page(hierarchy_id, before, batch)
            yield from entries
            if len(entries) < batch:
                return
            before = entries[-1].seq

    # --- the partner's admin ---------------------------------------------------------------------
    def page_for_member(self, caller: Caller, hierarchy_id: str, cursor: str | None = None,
                        limit: int = PAGE_SIZE) -> LedgerPage:
        """The page as the partner's Admin reads it; 403 for its other users, 404 for anyone else (or no line)."""
        before = _cursor(cursor)
        return self._sign_ins.as_caller(caller, lambda: self._page_for_member(caller, hierarchy_id, before, limit))

    def _page_for_member(self, caller: Caller, hierarchy_id: str, before: int | None, limit: int) -> LedgerPage:
        with self._store.unit_of_work(read_only=True) as uow:
            _, me = member_of(uow, caller, hierarchy_id)
            if me.role not in LEDGER_READERS:
                raise Forbidden(f"only an Admin of partner {hierarchy_id} may read its credit ledger")
            return self._page(uow, hierarchy_id, before, limit)


def allow_exceeding(uow: UnitOfWork, line: CreditLine, allowed: bool, by: str, at: datetime) -> CreditLine:
    return record(uow, line, Movement(MovementKind.ALLOW_EXCEEDING, by, in_minor_units(Decimal(0), line.currency),
                                      allow_exceeding=allowed), at)
