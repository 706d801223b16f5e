"""The Store port's contract for the credit ledger: entries written with the credit line in one unit of work,
read newest first a page at a time, payments found by their id, and racing writers never both numbering
an entry alike. Runs on every Store adapter (the builders of test_store_contract)."""
from __future__ import annotations

from decimal import Decimal

import pytest

from shared.domain.errors import ConcurrencyConflict, DuplicateRecord
from shared.domain.ledger import Movement, MovementKind, moved
from tests.contract.factories import at, credit_line, hierarchy
from tests.contract.test_store_contract import harness, racing, store  # noqa: F401 - fixtures


@pytest.fixture
def partners(store):
    with store.unit_of_work() as uow:
        uow.save_hierarchy(hierarchy("CH-000001", "prospect-1"))
        uow.save_hierarchy(hierarchy("CH-000002", None))
        uow.save_credit_line(credit_line("CH-000001", "100.00"))
        uow.save_credit_line(credit_line("CH-000002", "100.00"))
    return store


def move(store, hierarchy_id: str, movement: Movement, seconds: float = 0) -> None:
    """What the service does: read the line, write the moved line and its entry in one unit of work."""
    with store.unit_of_work() as uow:
        line, entry = moved(uow.get_credit_line(hierarchy_id), movement, at(seconds))
        uow.save_credit_line(line)
        uow.add_ledger_entry(entry)


def reserve(order_id: str, amount: str = "1.00") -> Movement:
    return Movement(MovementKind.RESERVE, "user:u-1", Decimal(amount), reserved_change=Decimal(amount),
                    order_id=order_id)


def payment(payment_id: str, amount: str = "5.00") -> Movement:
    return Movement(MovementKind.PAYMENT, "operator:alice", Decimal(amount), balance_change=-Decimal(amount),
                    payment_id=payment_id, note="Invoice 7")


def test_entries_are_read_newest_first_a_page_at_a_time_per_partner(partners):
    for n in range(1, 8):
        move(partners, "CH-000001", reserve(f"SO-{n}"), n)
    move(partners, "CH-000002", reserve("SO-1", "3.00"))
    with partners.unit_of_work(read_only=True) as uow:
        first = uow.ledger_page("CH-000001", None, 3)
        assert [(e.seq, e.order_id) for e in first] == [(7, "SO-7"), (6, "SO-6"), (5, "SO-5")]
        assert [e.seq for e in uow.ledger_page("CH-000001", 5, 3)] == [4, 3, 2]
        assert [e.seq for e in uow.ledger_page("CH-000001", 2, 3)] == [1]
        assert uow.ledger_page("CH-000001", 1, 3) == []
        assert [e.seq for e in uow.ledger_page("CH-000001", None, 100)] == [7, 6, 5, 4, 3, 2, 1]
        theirs = uow.ledger_page("CH-000002", None, 10)
        assert [(e.seq, e.amount, e.reserved_after) for e in theirs] == [(1, Decimal("3.00"), Decimal("3.00"))]
        assert uow.ledger_page("CH-000009", None, 10) == []
        assert first[0].reserved_after == Decimal("7.00") == uow.get_credit_line("CH-000001").reserved
        assert first[0].at == at(7) and first[0].by == "user:u-1"


def test_an_entry_and_its_line_commit_together_or_not_at_all(partners):
    with pytest.raises(RuntimeError):
        with partners.unit_of_work() as uow:
            line, entry = moved(uow.get_credit_line("CH-000001"), reserve("SO-1"), at(1))
            uow.save_credit_line(line)
            uow.add_ledger_entry(entry)
            raise RuntimeError("the service failed before the end")
    with partners.unit_of_work(read_only=True) as uow:
        assert uow.ledger_page("CH-000001", None, 10) == []
        assert uow.get_credit_line("CH-000001").movements == 0


def test_a_payment_is_found_by_its_id_and_recorded_once(partners):
    move(partners, "CH-000001", payment("PAY-1"))
    move(partners, "CH-000002", payment("PAY-1", "9.00"))  # payment ids are each partner's own
    with partners.unit_of_work(read_only=True) as uow:
        mine = uow.get_payment("CH-000001", "PAY-1")
        assert (mine.amount, mine.balance_after, mine.note, mine.seq) == (
            Decimal("5.00"), Decimal("-5.00"), "Invoice 7", 1)
        assert uow.get_payment("CH-000002", "PAY-1").amount == Decimal("9.00")
        assert uow.get_payment("CH-000001", "PAY-2") is None
        assert uow.get_payment("CH-000009", "PAY-1") is None
    with pytest.raises((DuplicateRecord, ConcurrencyConflict)):
        move(partners, "CH-000001", payment("PAY-1"))  # a second entry under the same payment id
    with partners.unit_of_work(read_only=True) as uow:
        assert [e.seq for e in uow.ledger_page("CH-000001", None, 10)] == [1]


def test_racing_movements_of_one_line_are_numbered_once_each_and_add_up(harness, partners):
    """Each reads the line and writes the next entry: losers run again, so no number is taken twice and the
    entries' changes add up to the line."""
    racing(harness, [lambda i=i: move(partners, "CH-000001", reserve(f"SO-{i}")) for i in range(8)])
    with partners.unit_of_work(read_only=True) as uow:
        entries = uow.ledger_page("CH-000001", None, 100)
        line = uow.get_credit_line("CH-000001")
    assert sorted(e.seq for e in entries) == list(range(1, 9)) and line.movements == 8
    assert sorted(e.order_id for e in entries) == sorted(f"SO-{i}" for i in range(8))
    assert sum(e.reserved_change for e in entries) == line.reserved == Decimal("8.00")
