"""Credit and spending limits, enforced: order checks, reservations against the credit line, releases.

The back office sets a partner's credit line; each user may have a per-order spending limit (set by the
partner's admin). An order is checked against both, and a reservation holds its amount against the
line in the same unit of work that reads it: concurrent reservations never overdraw (an optimistic
store makes the loser run again). A reservation is idempotent by order id.

Order ids are the partner's own: an order is (hierarchy id, order id). Partner B reserving an id that
partner A used makes an order of B's, and learns nothing about A's (no 409, no 200 for A's order).
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from decimal import Decimal
from typing import Callable

from shared.domain.errors import Forbidden, IdempotencyConflict, InvalidInput, NotFound
from shared.domain.model import HierarchyRole
from shared.domain.ledger import Movement, MovementKind, operator_actor
from shared.domain.money import MoneyError, amount_in, format_amount, in_minor_units
from shared.domain.partner_inputs import CreditLineInput, OrderCheck, OrderRelease, OrderReservation, checked_order_id
from shared.domain.partners import (
    CreditLine,
    CurrencyInUse,
    PartnerBlocked,
    PartnerUser,
    Reservation,
    ReservationStatus,
    UserStatus,
    order_refusals,
    order_warnings,
)
from shared.domain.validation import validated
from shared.ports import Caller, Clock, Store, UnitOfWork
from shared.services.partner_users import member_of
from shared.services.ledger import BACK_OFFICE, allow_exceeding, caller_actor, hold, record, release_hold
from shared.services.retry import on_conflict
from shared.services.sign_ins import SignIns, signed_in_user

log = logging.getLogger("b2b.credit")


@dataclass(frozen=True)
class OrderDecision:
    order_id: str
    amount: Decimal
    currency: str
    refusals: list[tuple[str, str]]
    available: Decimal | None  # the credit left after this answer (None without a credit line)
    reservation: Reservation | None = None
    repeated: bool = False  # a reservation asked for again: the first answer stands
    warnings: tuple[tuple[str, str], ...] = ()  # allowed, and yet: (code, message), e.g. exceeds_credit

    @property
    def allowed(self) -> bool:
        return not self.refusals

    def to_json(self) -> dict:
        body: dict = {
            "orderId": self.order_id, "decision": "allow" if self.allowed else "deny",
            "amount": format_amount(self.amount), "currency": self.currency,
            "reasons": [{"code": code, "message": message} for code, message in self.refusals],
            "availableCredit": None if self.available is None else format_amount(self.available),
        }
        if self.reservation is not None:
            body["reservation"] = reservation_json(self.reservation)
        if self.warnings:
            body["warnings"] = [{"code": code, "message": message} for code, message in self.warnings]
        return body


def reservation_json(reservation: Reservation) -> dict:
    return {"orderId": reservation.order_id, "hierarchyId": reservation.hierarchy_id, "userId": reservation.user_id,
            "amount": format_amount(reservation.amount), "currency": reservation.currency,
            "status": reservation.status.value, "createdAt": reservation.created_at.isoformat(),
            "releasedAt": reservation.released_at.isoformat() if reservation.released_at else None,
            "capturedAmount": None if reservation.captured_amount is None else format_amount(reservation.captured_amount),
            "capturedAt": reservation.captured_at.isoformat() if reservation.captured_at else None}


def credit_line_json(line: CreditLine) -> dict:
    return {"hierarchyId": line.hierarchy_id, "limit": format_amount(line.limit), "currency": line.currency,
            "reserved": format_amount(line.reserved), "available": format_amount(line.available),
            "balance": format_amount(in_minor_units(line.balance, line.currency)),
            "allowExceeding": line.allow_exceeding, "updatedAt": line.updated_at.isoformat()}


def _amount(value: object, currency: str, field: str = "amount", allow_zero: bool = False) -> Decimal:
    try:
        return amount_in(value, currency, allow_zero=allow_zero)
    except MoneyError as error:
        raise InvalidInput([(field, str(error))]) from None


def _orderer(uow: UnitOfWork, caller: Caller, hierarchy_id: str, user_id: str) -> PartnerUser:
    """The user the order is for. The caller must be an Active user of the partner (else 404); a User
    orders for themselves only, an Admin for any user of the partner."""
    _, me = member_of(uow, caller, hierarchy_id)
    if user_id == me.id:
        return me
    if me.role is not HierarchyRole.ADMIN:
        raise Forbidden("a User may check and reserve orders for themselves only")
    user = uow.get_partner_user(user_id)
    if user is None or user.hierarchy_id != hierarchy_id:
        raise NotFound(f"no user {user_id} in partner {hierarchy_id}")
    return user


def _order_of(order_id: str, orderer: Callable[[], PartnerUser]) -> PartnerUser:
    """The order's user; a blocked partner's order is denied with partner_blocked (a 403 naming the order)."""
    try:
        return orderer()
    except PartnerBlocked as blocked:
        raise blocked.for_order(order_id) from None


def _refuse_if_blocked(uow: UnitOfWork, caller: Caller, hierarchy_id: str) -> None:
    """A blocked partner's user is told so before any order is looked up (an unknown order too); anyone else
    goes on to the order's own checks, which answer "no such order" for another partner's."""
    try:
        member_of(uow, caller, hierarchy_id)
    except NotFound:
        pass


def _no_spending_limits(uow: UnitOfWork, line: CreditLine) -> None:
    """Spending limits are plain amounts read in the line's currency: changing it would turn a limit of
    10000 SEK into one of 10000 EUR without anyone deciding so."""
    limited = [u for u in uow.partner_users(line.hierarchy_id)
               if u.status is not UserStatus.REMOVED and u.spending_limit is not None]
    if limited:
        users = "1 user has a spending limit" if len(limited) == 1 else f"{len(limited)} users have spending limits"
        raise CurrencyInUse(f"{users} in {line.currency}; the credit line's currency can change once "
                            "the partner's admin has removed them")


class Credit:
    def __init__(self, store: Store, clock: Clock):
        self._store = store
        self._clock = clock
        self._sign_ins = SignIns(store, clock)

    # --- the back office -------------------------------------------------------------------------
    def set_line(self, hierarchy_id: str, payload: object) -> CreditLine:
        """Set the partner's credit limit. The currency of a line with open reservations or users' spending
        limits cannot change, and the limit may go below what is reserved (orders then wait): it is the back
        office's call."""
        given = validated(CreditLineInput, payload)
        limit = _amount(given.limit, given.currency, "limit", allow_zero=True)
        by = operator_actor(given.operator or BACK_OFFICE)
        return on_conflict(lambda: self._set_line(hierarchy_id, limit, given.currency, given.allow_exceeding, by))

    def _set_line(self, hierarchy_id: str, limit: Decimal, currency: str, exceeding: bool | None = None,
                  by: str = operator_actor(BACK_OFFICE)) -> CreditLine:
        """The limit (and currency) set, each change a movement of the ledger; the same values again record
        nothing."""
        now = self._clock.now()
        with self._store.unit_of_work() as uow:
            if uow.get_hierarchy(hierarchy_id) is None:
                raise NotFound(f"no partner {hierarchy_id}")
            current = uow.get_credit_line(hierarchy_id)
            if current is not None and current.currency != currency:
                if current.reserved:
                    raise IdempotencyConflict(f"the credit line is in {current.currency} with "
                                              f"{format_amount(current.reserved)} reserved; release those orders first")
                if current.money_moved or current.balance:
                    raise CurrencyInUse(f"the credit line's ledger has orders or payments in {current.currency}; "
                                        "its currency cannot change")
                _no_spending_limits(uow, current)
            zero = amount_in(0, currency, allow_zero=True)
            line = current or CreditLine(hierarchy_id=hierarchy_id, limit=zero, currency=currency, updated_at=now,
                                         reserved=zero, balance=zero)
            if current is None or (current.limit, current.currency) != (limit, currency):
                line = record(uow, line, Movement(MovementKind.LIMIT, by, limit, limit=limit, currency=currency), now)
            if exceeding is not None and exceeding is not line.allow_exceeding:
                line = allow_exceeding(uow, line, exceeding, by, now)
        log.info("credit line set", extra={"hierarchy": hierarchy_id, "currency": currency})
        return line

    def line(self, hierarchy_id: str) -> CreditLine:
        with self._store.unit_of_work(read_only=True) as uow:
            line = uow.get_credit_line(hierarchy_id)
        if line is None:
            raise NotFound(f"partner {hierarchy_id} has no credit line")
        return line

    # --- the storefront, for a signed-in user ----------------------------------------------------
    def line_for_member(self, caller: Caller, hierarchy_id: str) -> CreditLine | None:
        """The partner's credit line as any Active user of it may see it (None: it has none yet); NotFound
        for anyone else, as every partner route answers."""
        return self._sign_ins.as_caller(caller, lambda: self._line_for_member(caller, hierarchy_id))

    def _line_for_member(self, caller: Caller, hierarchy_id: str) -> CreditLine | None:
        with self._store.unit_of_work(read_only=True) as uow:
            member_of(uow, caller, hierarchy_id)
            return uow.get_credit_line(hierarchy_id)

    def check(self, caller: Caller, payload: object) -> OrderDecision:
        order = validated(OrderCheck, payload)
        amount = _amount(order.amount, order.currency)
        return self._sign_ins.as_caller(caller, lambda: self._check(caller, order, amount))

    def _check(self, caller: Caller, order: OrderCheck, amount: Decimal) -> OrderDecision:
        with self._store.unit_of_work(read_only=True) as uow:
            user = _order_of(order.order_id, lambda: _orderer(uow, caller, order.hierarchy_id, order.user_id))
            line = uow.get_credit_line(order.hierarchy_id)
        return OrderDecision(order.order_id, amount, order.currency, order_refusals(user, line, amount, order.currency),
                             None if line is None else line.available,
                             warnings=tuple(order_warnings(line, amount, order.currency)))

    def reserve(self, caller: Caller, order_id: str, payload: object) -> OrderDecision:
        order = validated(OrderReservation, payload)
        amount = _amount(order.amount, order.currency)
        order_id = checked_order_id(order_id)
        if order.order_id is not None and order.order_id != order_id:
            raise InvalidInput([("orderId", f"is {order.order_id!r} in the body but {order_id!r} in the address")])
        return self._sign_ins.as_caller(caller, lambda: on_conflict(lambda: self._reserve(caller, order_id, order, amount)))

    def _reserve(self, caller: Caller, order_id: str, order: OrderReservation, amount: Decimal) -> OrderDecision:
        now = self._clock.now()
        with self._store.unit_of_work() as uow:
            user = _order_of(order_id, lambda: _orderer(uow, caller, order.hierarchy_id, order.user_id))
            line = uow.get_credit_line(order.hierarchy_id)
            available = None if line is None else line.available
            earlier = uow.get_reservation(order.hierarchy_id, order_id)
            if earlier is not None:
                same = (earlier.user_id, earlier.amount, earlier.currency) == (user.id, amount, order.currency)
                if not same or earlier.status is not ReservationStatus.HELD:
                    state = "released" if earlier.status is ReservationStatus.RELEASED else "reserved"
                    raise IdempotencyConflict(f"order {order_id} was {state} already"
                                              + ("" if same else " with a different user, amount or currency"))
                return OrderDecision(order_id, amount, order.currency, [], available, earlier, repeated=True)
            refusals = order_refusals(user, line, amount, order.currency)
            if refusals:
                return OrderDecision(order_id, amount, order.currency, refusals, available)
            assert line is not None  # no refusal means there is a line in this currency
            warnings = tuple(order_warnings(line, amount, order.currency))
            reservation = Reservation(order_id=order_id, hierarchy_id=order.hierarchy_id, user_id=user.id,
                                      amount=amount, currency=order.currency, created_at=now)
            uow.save_reservation(reservation)
            line = hold(uow, line, reservation, caller_actor(uow, caller), now)
        log.info("order reserved", extra={"hierarchy": order.hierarchy_id, "order": order_id})
        return OrderDecision(order_id, amount, order.currency, [], line.available, reservation, warnings=warnings)

    def release(self, caller: Caller, order_id: str, payload: object | None = None) -> tuple[Reservation, bool]:
        """Give the order's amount back to the credit line; (reservation, changed). The order is the caller's
        partner's: ``hierarchyId`` in the body names it (a body is optional: a user belongs to one partner)."""
        given = validated(OrderRelease, payload or {})
        order_id = checked_order_id(order_id)
        return self._sign_ins.as_caller(caller, lambda: on_conflict(
            lambda: self._release(caller, given.hierarchy_id, order_id)))

    def _release(self, caller: Caller, hierarchy_id: str | None, order_id: str) -> tuple[Reservation, bool]:
        now = self._clock.now()
        with self._store.unit_of_work() as uow:
            reservation = callers_order(uow, caller, hierarchy_id, order_id)
            if reservation.status is ReservationStatus.RELEASED:
                return reservation, False
            if reservation.status is ReservationStatus.CAPTURED:
                raise IdempotencyConflict(f"order {order_id} was captured (invoiced); a captured order cannot be "
                                          "released: record a payment or a credit instead")
            line = uow.get_credit_line(reservation.hierarchy_id)
            released = reservation.model_copy(update={"status": ReservationStatus.RELEASED, "released_at": now})
            uow.save_reservation(released)
            if line is not None:
                release_hold(uow, line, reservation, caller_actor(uow, caller), now)
        log.info("order released", extra={"hierarchy": reservation.hierarchy_id, "order": order_id})
        return released, True


def callers_order(uow: UnitOfWork, caller: Caller, hierarchy_id: str | None, order_id: str) -> Reservation:
    """The reservation of ``order_id`` of the caller's partner (``hierarchy_id``, or the caller's own), if the
    caller may act on it (its user, or an Admin of the partner); NotFound otherwise, the same for an order of
    another partner as for none, PartnerBlocked when the caller's partner is blocked."""
    hierarchy_id = hierarchy_id or signed_in_user(uow, caller).hierarchy_id
    _refuse_if_blocked(uow, caller, hierarchy_id)
    reservation = uow.get_reservation(hierarchy_id, order_id)
    if reservation is None:
        raise NotFound(f"no reservation for order {order_id}")
    try:
        _orderer(uow, caller, reservation.hierarchy_id, reservation.user_id)
    except PartnerBlocked:
        raise  # the caller's own partner is blocked: that, not "no such order"
    except (NotFound, Forbidden):
        raise NotFound(f"no reservation for order {order_id}") from None
    return reservation
