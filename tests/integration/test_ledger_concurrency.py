"""200 calls at once against one credit line through the services, from several instances on one storage
(SQLite, and Azure Tables on Azurite with its ETags): reservations (some of the same order id twice, more
than the limit allows in all), releases, captures and payments, in whatever order the threads run.

At the end the ledger adds up to the line, the line never went over its limit, each order and payment took
effect once, and the reservations agree with the ledger. Then every call that took effect is made again
(at-least-once delivery): the answers are the first ones and nothing moves."""
from __future__ import annotations

from collections import Counter
from decimal import Decimal
from typing import Callable

import pytest

from shared.bootstrap import Container
from shared.domain.errors import ConcurrencyConflict, IdempotencyConflict, NotFound
from shared.domain.ledger import MovementKind
from shared.domain.partners import ReservationStatus, user_id_for
from tests.services.partners import approved_partner
from tests.instances import instances_on_one_storage
from tests.threads import run_in_threads

INSTANCES = 3
ORDERS = 100  # reserved once each; the first REPEATED again at the same time
REPEATED = 10
RELEASED = range(0, 40)
CAPTURED = range(40, 80)
PAYMENTS = 10
LIMIT = Decimal("1000.00")


@pytest.fixture(params=["sqlite", "azure"])
def instances(request, tmp_path):
    with instances_on_one_storage(request, tmp_path, request.param, INSTANCES, "ledger") as built:
        yield built


def amount(i: int) -> Decimal:
    # 20.25 … 26.25: 100 orders would hold ~2300, more than the limit even if every release and payment came first
    return Decimal(20 + i % 7) + Decimal("0.25")


def as_a_client(call: Callable[[], object]) -> Callable[[], object]:
    """The call as a client makes it: a 503 (a storage race lost every time it was tried) is sent again, and
    the refusals the rules give are answers, not failures."""
    def made() -> object:
        for _ in range(20):
            try:
                return call()
            except ConcurrencyConflict:
                continue
            except (NotFound, IdempotencyConflict) as refusal:
                return refusal
        raise AssertionError("still losing races after 20 client retries")
    return made


def plan(instances: list[Container], hierarchy: str, admin) -> list[tuple[str, Callable[[], object]]]:
    me = user_id_for(admin.verified_email)

    def at(n: int) -> Container:
        return instances[n % len(instances)]

    calls: list[tuple[str, Callable[[], object]]] = []
    for i in [*range(ORDERS), *range(REPEATED)]:
        body = {"hierarchyId": hierarchy, "userId": me, "amount": str(amount(i)), "currency": "EUR"}
        calls.append((f"reserve SO-{i}", lambda i=i, body=body: at(i).credit.reserve(admin, f"SO-{i}", body)))
    for i in RELEASED:
        calls.append((f"release SO-{i}", lambda i=i: at(i + 1).credit.release(admin, f"SO-{i}")))
    for i in CAPTURED:
        body = {"amount": str(amount(i) - 1), "currency": "EUR"}
        calls.append((f"capture SO-{i}", lambda i=i, body=body: at(i + 2).ledger.capture(admin, f"SO-{i}", body)))
    for p in range(PAYMENTS):
        body = {"paymentId": f"PAY-{p}", "amount": "20.00", "currency": "EUR", "operator": "bob"}
        calls.append((f"payment PAY-{p}", lambda p=p, body=body: at(p).ledger.record_payment(hierarchy, body)))
    return calls


def took_effect(answer: object) -> bool:
    if isinstance(answer, Exception):
        return False
    if isinstance(answer, tuple):  # a release: (reservation, changed)
        return answer[1]
    return getattr(answer, "allowed", True) and not getattr(answer, "repeated", False)


def state(c: Container, hierarchy: str):
    with c.store.unit_of_work(read_only=True) as uow:
        line = uow.get_credit_line(hierarchy)
        entries = uow.ledger_page(hierarchy, None, 10_000)
        reservations = {i: uow.get_reservation(hierarchy, f"SO-{i}") for i in range(ORDERS)}
    return line, entries, reservations


def test_two_hundred_calls_at_once_leave_a_ledger_that_adds_up(instances):
    c = instances[0]
    hierarchy, admin = approved_partner(c)
    c.credit.set_line(hierarchy, {"limit": str(LIMIT), "currency": "EUR"})
    calls = plan(instances, hierarchy, admin)
    assert len(calls) == 200
    answers = run_in_threads([as_a_client(call) for _, call in calls], timeout=600)

    line, entries, reservations = state(c, hierarchy)
    # The ledger adds up to the line, numbered 1 … n without a gap, and the last entry's figures are the line's.
    assert sorted(e.seq for e in entries) == list(range(1, len(entries) + 1)) and line.movements == len(entries)
    assert sum(e.reserved_change for e in entries) == line.reserved
    assert sum(e.balance_change for e in entries) == line.balance
    assert (entries[0].reserved_after, entries[0].balance_after) == (line.reserved, line.balance)
    # Never over the limit (the line does not allow exceeding it), after any movement.
    assert all(e.reserved_after + e.balance_after <= LIMIT for e in entries)
    assert any(not getattr(a, "allowed", True) for a in answers), "the plan should ask for more than the limit"
    # Each order and payment took effect once, and the reservations say what the ledger says.
    moves = Counter((e.kind, e.order_id or e.payment_id) for e in entries)
    assert all(n == 1 for n in moves.values()), [k for k, n in moves.items() if n > 1]
    assert {k[1] for k in moves if k[0] is MovementKind.PAYMENT} == {f"PAY-{p}" for p in range(PAYMENTS)}
    held = Decimal(0)
    for i, reservation in reservations.items():
        order = f"SO-{i}"
        kinds = {kind for kind, about in moves if about == order}
        if reservation is None:
            assert kinds == set()
            continue
        expected = {ReservationStatus.HELD: {MovementKind.RESERVE},
                    ReservationStatus.RELEASED: {MovementKind.RESERVE, MovementKind.RELEASE},
                    ReservationStatus.CAPTURED: {MovementKind.RESERVE, MovementKind.CAPTURE}}[reservation.status]
        assert kinds == expected, (order, reservation.status, kinds)
        held += reservation.amount if reservation.status is ReservationStatus.HELD else 0
    assert held == line.reserved
    captured = sum(r.captured_amount for r in reservations.values()
                   if r is not None and r.status is ReservationStatus.CAPTURED)
    assert line.balance == captured - PAYMENTS * Decimal("20.00")

    # At least once: every call that took effect, made again (at once, from other instances), changes nothing.
    again = [as_a_client(call) for (_, call), answer in zip(calls, answers) if took_effect(answer)]
    assert again
    run_in_threads(again, timeout=600)
    assert state(c, hierarchy) == (line, entries, reservations)
