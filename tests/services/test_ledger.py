"""The credit ledger: capture, payment, available credit with the unpaid balance, allow exceeding, and every
movement recorded with the figures after it."""
from __future__ import annotations

import io
from decimal import Decimal

import pytest

from shared.domain.errors import Forbidden, IdempotencyConflict, InvalidInput, InvalidQuery, NotFound
from shared.domain.partners import CurrencyInUse, user_id_for
from shared.services.ledger import write_csv
from tests.services.partners import approved_partner, caller, new_user
from tests.services.test_credit import held, order


@pytest.fixture
def partner(container):
    """A partner with 1,000.00 EUR of credit, its admin and a User (no limit)."""
    hierarchy, admin = approved_partner(container)
    container.credit.set_line(hierarchy, {"limit": "1000.00", "currency": "EUR", "operator": "alice"})
    container.partner_users.add(admin, hierarchy, new_user("buyer@example.se"))
    container.channel_sync.run()
    return hierarchy, admin, caller("buyer@example.se")


def capture(container, who, order_id, amount, hierarchy=None, currency="EUR"):
    body = {"amount": amount, "currency": currency, **({"hierarchyId": hierarchy} if hierarchy else {})}
    return container.ledger.capture(who, order_id, body)


def pay(container, hierarchy, payment_id, amount, reference=None, currency="EUR"):
    body = {"paymentId": payment_id, "amount": amount, "currency": currency, "operator": "bob",
            **({"reference": reference} if reference else {})}
    return container.ledger.record_payment(hierarchy, body)


def ledger(container, hierarchy):
    """Every entry, oldest first."""
    return list(reversed(list(container.ledger.entries(hierarchy))))


def test_capture_moves_the_final_amount_to_the_balance_and_releases_the_rest(container, partner):
    hierarchy, admin, buyer = partner
    container.credit.reserve(buyer, "SO-1", held(hierarchy, buyer, "300.00"))
    captured = capture(container, buyer, "SO-1", "250.00")
    assert not captured.repeated and captured.reservation.status.value == "captured"
    assert captured.reservation.captured_amount == Decimal("250.00")
    assert captured.reservation.committed == Decimal("250.00")
    line = container.credit.line(hierarchy)
    assert (line.reserved, line.balance, line.available) == (Decimal("0.00"), Decimal("250.00"), Decimal("750.00"))
    entry = ledger(container, hierarchy)[-1]
    assert entry.kind.value == "capture" and entry.order_id == "SO-1" and entry.amount == Decimal("250.00")
    assert (entry.reserved_change, entry.balance_change) == (Decimal("-300.00"), Decimal("250.00"))
    assert entry.by == f"user:{user_id_for('buyer@example.se')}"
    assert (entry.balance_after, entry.available_after) == (Decimal("250.00"), Decimal("750.00"))


def test_available_credit_is_limit_less_open_reservations_less_the_unpaid_balance(container, partner):
    hierarchy, admin, buyer = partner
    container.credit.reserve(buyer, "SO-1", held(hierarchy, buyer, "600.00"))
    capture(container, buyer, "SO-1", "600.00")
    container.credit.reserve(buyer, "SO-2", held(hierarchy, buyer, "300.00"))
    assert container.credit.line(hierarchy).available == Decimal("100.00")
    denied = container.credit.reserve(buyer, "SO-3", held(hierarchy, buyer, "100.01"))
    assert [code for code, _ in denied.refusals] == ["over_credit"]
    pay(container, hierarchy, "PAY-1", "500.00")
    assert container.credit.line(hierarchy).available == Decimal("600.00")
    assert container.credit.reserve(buyer, "SO-3", held(hierarchy, buyer, "100.01")).allowed


def test_capture_is_idempotent_by_order_id_and_refuses_another_amount(container, partner):
    hierarchy, _, buyer = partner
    container.credit.reserve(buyer, "SO-1", held(hierarchy, buyer, "300.00"))
    first = capture(container, buyer, "SO-1", "250.00")
    again = capture(container, buyer, "SO-1", "250")
    assert again.repeated and again.reservation == first.reservation
    assert len(ledger(container, hierarchy)) == 3  # limit, reserve, capture: the repeat recorded nothing
    with pytest.raises(IdempotencyConflict, match="captured already with 250.00 EUR"):
        capture(container, buyer, "SO-1", "260.00")
    assert container.credit.line(hierarchy).balance == Decimal("250.00")


def test_captured_cannot_be_released_and_released_cannot_be_captured(container, partner):
    hierarchy, _, buyer = partner
    container.credit.reserve(buyer, "SO-1", held(hierarchy, buyer, "10.00"))
    capture(container, buyer, "SO-1", "10.00")
    with pytest.raises(IdempotencyConflict, match="captured .*cannot be released"):
        container.credit.release(buyer, "SO-1")
    container.credit.reserve(buyer, "SO-2", held(hierarchy, buyer, "10.00"))
    container.credit.release(buyer, "SO-2")
    with pytest.raises(IdempotencyConflict, match="released; a released order cannot be captured"):
        capture(container, buyer, "SO-2", "10.00")
    line = container.credit.line(hierarchy)
    assert (line.reserved, line.balance) == (Decimal("0.00"), Decimal("10.00"))


def test_capture_refuses_more_than_reserved_another_currency_and_others_orders(container, partner):
    hierarchy, admin, buyer = partner
    container.credit.reserve(buyer, "SO-1", held(hierarchy, buyer, "10.00"))
    with pytest.raises(InvalidInput, match="over the 10.00 EUR reserved"):
        capture(container, buyer, "SO-1", "10.01")
    with pytest.raises(InvalidInput, match="reserved in EUR"):
        capture(container, buyer, "SO-1", "10.00", currency="SEK")
    with pytest.raises(InvalidInput, match="decimal amount"):
        capture(container, buyer, "SO-1", 10.0)
    other, other_admin = approved_partner(container, 2)
    with pytest.raises(NotFound):  # another partner's order is no order of the caller's
        capture(container, other_admin, "SO-1", "10.00", hierarchy=hierarchy)
    with pytest.raises(NotFound):
        capture(container, buyer, "SO-unknown", "1.00")
    # the partner's Admin may capture its users' orders, as it may release them
    assert capture(container, admin, "SO-1", "10.00", hierarchy=hierarchy).reservation.status.value == "captured"


def test_a_payment_is_idempotent_by_payment_id(container, partner):
    hierarchy, _, buyer = partner
    container.credit.reserve(buyer, "SO-1", held(hierarchy, buyer, "400.00"))
    capture(container, buyer, "SO-1", "400.00")
    first = pay(container, hierarchy, "PAY-1", "150.00", "Invoice 1001")
    assert not first.repeated and first.entry.balance_after == Decimal("250.00")
    assert first.entry.by == "operator:bob" and first.entry.note == "Invoice 1001"
    pay(container, hierarchy, "PAY-2", "50.00")
    again = pay(container, hierarchy, "PAY-1", "150", "Invoice 1001")
    assert again.repeated and again.to_json() == first.to_json()  # the same answer, the balance of then
    with pytest.raises(IdempotencyConflict, match="PAY-1 was recorded already with 150.00 EUR"):
        pay(container, hierarchy, "PAY-1", "151.00", "Invoice 1001")
    with pytest.raises(IdempotencyConflict):
        pay(container, hierarchy, "PAY-1", "150.00", "Invoice 1002")
    assert container.credit.line(hierarchy).balance == Decimal("200.00")


def test_an_overpayment_is_a_credit_in_the_partners_favour(container, partner):
    hierarchy, _, buyer = partner
    payment = pay(container, hierarchy, "PAY-1", "200.00")
    assert payment.entry.balance_after == Decimal("-200.00") and payment.entry.available_after == Decimal("1200.00")
    assert container.credit.reserve(buyer, "SO-1", held(hierarchy, buyer, "1200.00")).allowed


def test_a_payment_needs_the_lines_currency_an_operator_and_a_line(container, partner):
    hierarchy, _, _ = partner
    with pytest.raises(InvalidInput, match="is in EUR"):
        pay(container, hierarchy, "PAY-1", "10.00", currency="SEK")
    with pytest.raises(InvalidInput):
        container.ledger.record_payment(hierarchy, {"paymentId": "PAY-1", "amount": "1.00", "currency": "EUR"})
    with pytest.raises(InvalidInput, match="decimal places"):
        pay(container, hierarchy, "PAY-1", "1.001")
    other, _ = approved_partner(container, 2)
    with pytest.raises(NotFound):
        pay(container, other, "PAY-1", "10.00")


def test_allow_exceeding_lets_an_order_through_saying_it_exceeds_and_the_ledger_shows_it(container, partner):
    hierarchy, admin, buyer = partner
    line, changed = container.ledger.set_allow_exceeding(hierarchy, {"allowExceeding": True, "operator": "carol"})
    assert changed and line.allow_exceeding
    assert container.ledger.set_allow_exceeding(hierarchy, {"allowExceeding": True})[1] is False
    check = container.credit.check(buyer, order(hierarchy, buyer, "1200.00"))
    assert check.allowed and [code for code, _ in check.warnings] == ["exceeds_credit"]
    assert "by 200.00" in check.warnings[0][1]
    reserved = container.credit.reserve(buyer, "SO-1", held(hierarchy, buyer, "1200.00"))
    assert reserved.allowed and reserved.available == Decimal("-200.00")
    assert reserved.to_json()["warnings"][0]["code"] == "exceeds_credit"
    entries = ledger(container, hierarchy)
    assert [e.kind.value for e in entries] == ["limit", "allow_exceeding", "reserve"]
    assert entries[1].by == "operator:carol" and entries[1].allow_exceeding_after
    assert entries[-1].available_after == Decimal("-200.00")
    container.ledger.set_allow_exceeding(hierarchy, {"allowExceeding": False})
    denied = container.credit.reserve(buyer, "SO-2", held(hierarchy, buyer, "1.00"))
    assert [code for code, _ in denied.refusals] == ["over_credit"]
    with pytest.raises(InvalidInput):  # a strict boolean: "yes" is not one
        container.ledger.set_allow_exceeding(hierarchy, {"allowExceeding": "yes"})


def test_the_credit_put_sets_allow_exceeding_too_and_the_same_limit_again_records_nothing(container, partner):
    hierarchy, _, _ = partner
    container.credit.set_line(hierarchy, {"limit": "1000.00", "currency": "EUR"})
    assert len(ledger(container, hierarchy)) == 1
    line = container.credit.set_line(hierarchy, {"limit": "2000.00", "currency": "EUR", "allowExceeding": True})
    assert line.allow_exceeding and line.limit == Decimal("2000.00")
    entries = ledger(container, hierarchy)
    assert [(e.kind.value, e.by) for e in entries] == [("limit", "operator:alice"), ("limit", "operator:back-office"),
                                                        ("allow_exceeding", "operator:back-office")]
    assert [e.seq for e in entries] == [1, 2, 3]


def test_every_movement_is_in_the_ledger_and_adds_up_to_the_line(container, partner):
    hierarchy, admin, buyer = partner
    container.credit.reserve(buyer, "SO-1", held(hierarchy, buyer, "100.00"))
    container.credit.reserve(admin, "SO-2", held(hierarchy, admin, "200.00"))
    container.credit.release(buyer, "SO-1")
    capture(container, admin, "SO-2", "150.00")
    pay(container, hierarchy, "PAY-1", "100.00")
    container.credit.set_line(hierarchy, {"limit": "800.00", "currency": "EUR"})
    entries = ledger(container, hierarchy)
    assert [(e.kind.value, e.order_id or e.payment_id) for e in entries] == [
        ("limit", None), ("reserve", "SO-1"), ("reserve", "SO-2"), ("release", "SO-1"), ("capture", "SO-2"),
        ("payment", "PAY-1"), ("limit", None)]
    line = container.credit.line(hierarchy)
    assert sum(e.reserved_change for e in entries) == line.reserved == Decimal("0.00")
    assert sum(e.balance_change for e in entries) == line.balance == Decimal("50.00")
    last = entries[-1]
    assert (last.limit_after, last.reserved_after, last.balance_after, last.available_after) == (
        line.limit, line.reserved, line.balance, line.available)
    assert entries[2].by == f"user:{admin_id(admin)}"


def admin_id(admin) -> str:
    return user_id_for(admin.verified_email)


def test_the_currency_cannot_change_once_money_moved(container, partner):
    hierarchy, _, buyer = partner
    container.credit.set_line(hierarchy, {"limit": "1000.00", "currency": "SEK"})  # nothing moved yet: it may
    container.credit.set_line(hierarchy, {"limit": "1000.00", "currency": "EUR"})
    container.credit.reserve(buyer, "SO-1", held(hierarchy, buyer, "10.00"))
    container.credit.release(buyer, "SO-1")
    with pytest.raises(CurrencyInUse, match="orders or payments in EUR"):
        container.credit.set_line(hierarchy, {"limit": "1000.00", "currency": "SEK"})


def test_ledger_pages_newest_first_with_a_cursor_and_the_csv(container, partner):
    hierarchy, _, buyer = partner
    for n in range(7):
        container.credit.reserve(buyer, f"SO-{n}", held(hierarchy, buyer, "1.00"))
    first = container.ledger.page(hierarchy, limit=3)
    assert [e.seq for e in first.entries] == [8, 7, 6] and first.next_cursor == "6"
    second = container.ledger.page(hierarchy, first.next_cursor, limit=3)
    last = container.ledger.page(hierarchy, second.next_cursor, limit=3)
    assert [e.seq for e in second.entries] == [5, 4, 3] and [e.seq for e in last.entries] == [2, 1]
    assert last.next_cursor is None
    with pytest.raises(InvalidQuery):
        container.ledger.page(hierarchy, "abc")
    pay(container, hierarchy, "PAY-1", "1.00", "=HYPERLINK(evil)")
    out = io.BytesIO()
    assert write_csv(container.ledger.entries(hierarchy, batch=4), out) == 9
    text = out.getvalue().decode()
    assert text.splitlines()[0].startswith("seq,at,kind,by,orderId,paymentId,note,currency,amount")
    assert ",'=HYPERLINK(evil)," in text  # a spreadsheet shows it, never runs it


def test_only_the_partners_admin_reads_its_ledger(container, partner):
    hierarchy, admin, buyer = partner
    page = container.ledger.page_for_member(admin, hierarchy)
    assert [e.kind.value for e in page.entries] == ["limit"]
    with pytest.raises(Forbidden):
        container.ledger.page_for_member(buyer, hierarchy)
    other, other_admin = approved_partner(container, 2)
    with pytest.raises(NotFound):
        container.ledger.page_for_member(other_admin, hierarchy)
    with pytest.raises(NotFound):  # its own partner without a credit line
        container.ledger.page_for_member(other_admin, other)


def test_a_line_from_before_the_ledger_opens_it_with_what_it_held(container, clock):
    """A line kept from before the ledger existed (amounts held, no entries): its first movement is preceded by
    an opening entry, so the ledger still adds up to the line."""
    from shared.domain.partners import CreditLine

    hierarchy, admin = approved_partner(container, 2)
    with container.store.unit_of_work() as uow:  # as an older version left it: 70.00 held, no ledger
        uow.save_credit_line(CreditLine(hierarchy_id=hierarchy, limit=Decimal("1000.00"), currency="EUR",
                                        reserved=Decimal("70.00"), updated_at=clock.now()))
    container.credit.reserve(admin, "SO-1", held(hierarchy, admin, "30.00"))
    entries = ledger(container, hierarchy)
    assert [(e.seq, e.kind.value) for e in entries] == [(1, "opening"), (2, "reserve")]
    assert entries[0].by == "system"
    assert (entries[0].reserved_change, entries[0].reserved_after, entries[0].available_after) == (
        Decimal("70.00"), Decimal("70.00"), Decimal("930.00"))
    line = container.credit.line(hierarchy)
    assert line.reserved == Decimal("100.00") and line.movements == 2
    assert sum(e.reserved_change for e in entries) == line.reserved
