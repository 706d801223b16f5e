"""Credit and spending limits, enforced: checks at, under and over each limit; reservations; releases."""
from __future__ import annotations

import threading
from decimal import Decimal

import pytest

from shared.domain.errors import Forbidden, IdempotencyConflict, InvalidInput, NotFound
from shared.domain.partners import CurrencyInUse, user_id_for
from tests.services.partners import approved_partner, caller, new_user


@pytest.fixture
def partner(container):
    """A partner with 1,000.00 EUR of credit, its admin (no limit) and a user with a 100.00 limit."""
    hierarchy, admin = approved_partner(container)
    container.credit.set_line(hierarchy, {"limit": "1000.00", "currency": "EUR"})
    container.partner_users.add(admin, hierarchy, new_user("buyer@example.se", spendingLimit="100.00"))
    container.channel_sync.run()
    return hierarchy, admin, caller("buyer@example.se")


def order(hierarchy, who, amount, currency="EUR", order_id="SO-1"):
    return {"hierarchyId": hierarchy, "userId": user_id_for(who.verified_email), "orderId": order_id, "amount": amount,
            "currency": currency}


def held(hierarchy, who, amount, currency="EUR"):
    """A reservation's body: the order id is in the route."""
    body = order(hierarchy, who, amount, currency)
    del body["orderId"]
    return body


def codes(decision):
    return [code for code, _ in decision.refusals]


@pytest.mark.parametrize("amount, expected", [
    ("99.99", []), ("100.00", []), ("100", []), ("100.01", ["over_user_limit"]), ("5000", ["over_user_limit",
                                                                                           "over_credit"]),
])
def test_user_limit_at_under_and_over(container, partner, amount, expected):
    hierarchy, _, buyer = partner
    decision = container.credit.check(buyer, order(hierarchy, buyer, amount))
    assert codes(decision) == expected and decision.allowed is (not expected)


@pytest.mark.parametrize("amount, expected", [("999.99", []), ("1000.00", []), ("1000.01", ["over_credit"])])
def test_credit_at_under_and_over_for_an_admin_without_limit(container, partner, amount, expected):
    hierarchy, admin, _ = partner
    assert codes(container.credit.check(admin, order(hierarchy, admin, amount))) == expected


def test_reservations_hold_credit_and_releases_give_it_back(container, partner):
    hierarchy, admin, buyer = partner
    first = container.credit.reserve(admin, "SO-1", held(hierarchy, admin, "600.00"))
    assert first.allowed and first.available == Decimal("400.00") and first.reservation.status.value == "held"
    assert codes(container.credit.check(admin, order(hierarchy, admin, "400.01"))) == ["over_credit"]
    denied = container.credit.reserve(admin, "SO-2", held(hierarchy, admin, "400.01"))
    assert codes(denied) == ["over_credit"] and denied.reservation is None
    assert container.credit.line(hierarchy).reserved == Decimal("600.00")
    released, changed = container.credit.release(admin, "SO-1")
    assert changed and released.status.value == "released"
    assert container.credit.release(admin, "SO-1")[1] is False  # a second release changes nothing
    assert container.credit.line(hierarchy).available == Decimal("1000.00")
    assert container.credit.reserve(admin, "SO-2", held(hierarchy, admin, "400.01")).allowed


def test_a_reservation_is_idempotent_by_order_id(container, partner):
    hierarchy, _, buyer = partner
    first = container.credit.reserve(buyer, "SO-7", held(hierarchy, buyer, "50.00"))
    again = container.credit.reserve(buyer, "SO-7", held(hierarchy, buyer, "50"))
    assert again.repeated and again.reservation == first.reservation
    assert container.credit.line(hierarchy).reserved == Decimal("50.00")
    with pytest.raises(IdempotencyConflict):
        container.credit.reserve(buyer, "SO-7", held(hierarchy, buyer, "60.00"))
    container.credit.release(buyer, "SO-7")
    with pytest.raises(IdempotencyConflict):  # a released order id is not used again
        container.credit.reserve(buyer, "SO-7", held(hierarchy, buyer, "50.00"))


def test_other_refusals_currency_inactive_user_and_no_credit_line(container, partner):
    hierarchy, admin, buyer = partner
    assert codes(container.credit.check(buyer, order(hierarchy, buyer, "10.00", "SEK"))) == ["currency_mismatch"]
    pending = container.partner_users.add(admin, hierarchy, new_user("new@example.se")).user
    check = container.credit.check(admin, {**order(hierarchy, admin, "10.00"), "userId": pending.id})
    assert codes(check) == ["user_not_active"]
    other, other_admin = approved_partner(container, 2)
    assert codes(container.credit.check(other_admin, order(other, other_admin, "10.00"))) == ["no_credit_line"]


def test_jpy_has_no_decimals_and_float_amounts_are_refused(container, partner):
    hierarchy, admin, _ = partner
    with pytest.raises(InvalidInput, match="JPY has 0 decimal places"):
        container.credit.set_line(hierarchy, {"limit": "100.5", "currency": "JPY"})
    with pytest.raises(InvalidInput, match="floating-point|decimal amount"):
        container.credit.check(admin, order(hierarchy, admin, 10.5))
    with pytest.raises(InvalidInput, match="ISO 4217"):
        container.credit.check(admin, order(hierarchy, admin, "10", "XXX"))
    with pytest.raises(InvalidInput, match="decimal places"):
        container.credit.check(admin, order(hierarchy, admin, "10.001"))


def test_who_may_check_reserve_and_release(container, partner):
    hierarchy, admin, buyer = partner
    other, other_admin = approved_partner(container, 2)
    with pytest.raises(Forbidden):  # a User orders for themselves only
        container.credit.check(buyer, order(hierarchy, admin, "1.00"))
    assert container.credit.check(admin, order(hierarchy, buyer, "1.00")).allowed  # an Admin for anyone
    with pytest.raises(NotFound):
        container.credit.check(other_admin, order(hierarchy, buyer, "1.00"))
    with pytest.raises(NotFound):  # naming A's user under B's partner finds nothing either
        container.credit.check(other_admin, order(other, buyer, "1.00"))
    container.credit.reserve(buyer, "SO-9", held(hierarchy, buyer, "5.00"))
    with pytest.raises(NotFound):
        container.credit.release(other_admin, "SO-9")
    with pytest.raises(NotFound):
        container.credit.release(buyer, "SO-unknown")


def test_order_ids_are_each_partners_own(container, partner):
    """B reserving an order id A used makes B's own order: no 409 or 200 about A's, and neither partner can
    release the other's."""
    a, admin_a, buyer = partner
    b, admin_b = approved_partner(container, 2)
    container.credit.set_line(b, {"limit": "50.00", "currency": "EUR"})
    mine = container.credit.reserve(buyer, "SO-1", held(a, buyer, "5.00"))
    theirs = container.credit.reserve(admin_b, "SO-1", held(b, admin_b, "7.00"))
    assert mine.reservation is not None and not mine.repeated
    assert theirs.allowed and not theirs.repeated and theirs.reservation.hierarchy_id == b
    assert theirs.available == Decimal("43.00")
    assert container.credit.reserve(buyer, "SO-1", held(a, buyer, "5.00")).repeated  # A's own, asked again
    with pytest.raises(NotFound):  # naming A's partner finds nothing for B
        container.credit.release(admin_b, "SO-1", {"hierarchyId": a})
    released, changed = container.credit.release(admin_b, "SO-1")  # without a body: the caller's partner
    assert changed and released.hierarchy_id == b
    assert container.credit.line(a).reserved == Decimal("5.00"), "A's order is still held"
    assert container.credit.line(b).reserved == Decimal("0.00")
    released, changed = container.credit.release(buyer, "SO-1", {"hierarchyId": a})
    assert changed and released.hierarchy_id == a and container.credit.line(a).reserved == Decimal("0.00")
    with pytest.raises(InvalidInput):
        container.credit.release(buyer, "SO-2", {"hierarchyId": a, "userId": "x"})


def test_concurrent_reserves_never_overdraw(container, partner):
    hierarchy, admin, _ = partner
    results, lock = [], threading.Lock()
    start = threading.Barrier(100)

    def reserve(i: int) -> None:
        start.wait()
        decision = container.credit.reserve(admin, f"SO-{i}", held(hierarchy, admin, "15.00"))
        with lock:
            results.append(decision.allowed)

    pool = [threading.Thread(target=reserve, args=(i,)) for i in range(100)]
    for t in pool:
        t.start()
    for t in pool:
        t.join(timeout=120)
    assert results.count(True) == 66 and len(results) == 100  # 66 × 15 = 990 ≤ 1000 < 67 × 15
    assert container.credit.line(hierarchy).reserved == Decimal("990.00")


def test_the_credit_line_currency_cannot_change_under_open_reservations(container, partner):
    hierarchy, admin, _ = partner
    container.credit.reserve(admin, "SO-1", held(hierarchy, admin, "10.00"))
    with pytest.raises(IdempotencyConflict):
        container.credit.set_line(hierarchy, {"limit": "1000", "currency": "SEK"})
    container.credit.set_line(hierarchy, {"limit": "5.00", "currency": "EUR"})  # below what is held: allowed
    assert container.credit.line(hierarchy).available == Decimal("-5.00")
    assert codes(container.credit.check(admin, order(hierarchy, admin, "0.01"))) == ["over_credit"]
    with pytest.raises(NotFound):
        container.credit.set_line("CH-999999", {"limit": "1", "currency": "EUR"})


def test_the_order_id_in_the_body_must_match_the_route(container, partner):
    hierarchy, admin, _ = partner
    with pytest.raises(InvalidInput, match="in the address"):
        container.credit.reserve(admin, "SO-2", order(hierarchy, admin, "1.00", order_id="SO-1"))
    assert container.credit.reserve(admin, "SO-1", order(hierarchy, admin, "1.00", order_id="SO-1")).allowed
    with pytest.raises(InvalidInput, match="orderId"):
        container.credit.reserve(admin, "bad id!", held(hierarchy, admin, "1.00"))


def test_the_credit_line_currency_cannot_change_while_users_have_spending_limits(container, partner):
    # A limit is a plain amount read in the line's currency: 100.00 EUR must not quietly become 100.00 SEK.
    hierarchy, admin, buyer = partner
    container.partner_users.add(admin, hierarchy, new_user("second@example.se", spendingLimit="50.00"))
    with pytest.raises(CurrencyInUse, match="^2 users have spending limits in EUR"):
        container.credit.set_line(hierarchy, {"limit": "1000", "currency": "SEK"})
    container.partner_users.edit(admin, hierarchy, user_id_for("second@example.se"), {"spendingLimit": None})
    with pytest.raises(CurrencyInUse, match="^1 user has a spending limit in EUR"):
        container.credit.set_line(hierarchy, {"limit": "1000", "currency": "SEK"})
    container.partner_users.remove(admin, hierarchy, user_id_for(buyer.verified_email))  # a removed user's limit counts not
    line = container.credit.set_line(hierarchy, {"limit": "1000", "currency": "SEK"})
    assert (line.currency, line.limit) == ("SEK", Decimal("1000.00"))
