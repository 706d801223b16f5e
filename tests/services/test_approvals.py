"""Limits per calendar month and approval routing (issue 12), on SQLite and on Azure Tables (Azurite).

The month is the partner's (a time zone per partner); a reservation counts in the month it was created, with
what it commits (held, captured; released: nothing). An order over its buyer's own limits goes to the partner's
Approvers and Admins; approving holds the amount on the credit line in the same unit of work.
"""
from __future__ import annotations

import uuid
from datetime import datetime, timedelta, timezone
from decimal import Decimal

import pytest

from shared.adapters.clock import ManualClock
from shared.bootstrap import Container
from shared.config import Settings
from shared.domain.approvals import (
    ApprovalDecided,
    ApprovalStatus,
    NotAnApprover,
    OrderRefused,
    OwnOrder,
    month_of,
    time_zone,
)
from shared.domain.errors import IdempotencyConflict, InvalidInput
from shared.domain.partners import PartnerBlocked, ReservationStatus, user_id_for
from tests.services.flow import DECISIONS_ONLY
from tests.services.partners import approved_partner, caller, emails_to, new_user
from tests.threads import run_in_threads

MARCH_END_STOCKHOLM = datetime(2026, 3, 31, 21, 30, tzinfo=timezone.utc)  # 23:30 CEST, still March there


def _container(backend: str, tmp_path, clock, request) -> Container:
    settings: dict = dict(DECISIONS_ONLY)
    if backend == "azure":
        azurite = request.getfixturevalue("azurite")
        suffix = uuid.uuid4().hex[:10]
        settings.update({"STATE_BACKEND": "azure", "AzureWebJobsStorage": azurite.connection_string,
                         "STATE_TABLE": f"approvals{suffix}", "LEAD_QUEUE": f"leads-{suffix}",
                         "OUTCOME_QUEUE": f"outcomes-{suffix}", "EMAIL_QUEUE": f"emails-{suffix}"})
    return Container.build(Settings.from_env(settings, data_dir=tmp_path), clock=clock)


@pytest.fixture(params=["sqlite", "azure"])
def backend(request) -> str:
    return request.param


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(MARCH_END_STOCKHOLM - timedelta(days=10))


@pytest.fixture
def container(backend, tmp_path, clock, request):
    c = _container(backend, tmp_path, clock, request)
    yield c
    for adapter in (c.store, c.queue, c.sales):
        adapter.close()


@pytest.fixture
def partner(container):
    """A partner in Stockholm with 1,000.00 EUR of credit; its Admin, an Approver, and a buyer (a User) with
    100.00 per order and 150.00 per month."""
    hierarchy, admin = approved_partner(container)
    container.credit.set_line(hierarchy, {"limit": "1000.00", "currency": "EUR"})
    container.partner_admin.set_time_zone(hierarchy, {"timeZone": "Europe/Stockholm", "operator": "alice"})
    container.partner_users.add(admin, hierarchy, new_user("approver@example.se", role="Approver"))
    container.partner_users.add(admin, hierarchy, new_user("buyer@example.se", spendingLimit="100.00",
                                                           monthlyLimit="150.00", language="sv"))
    container.channel_sync.run()
    return hierarchy, admin, caller("approver@example.se"), caller("buyer@example.se")


def body(hierarchy, who, amount):
    return {"hierarchyId": hierarchy, "userId": user_id_for(who.verified_email), "amount": amount, "currency": "EUR"}


def codes(decision):
    return [code for code, _ in decision.refusals]


# --- the month -------------------------------------------------------------------------------------------
@pytest.mark.parametrize("at, start, end", [
    # March in Stockholm: CET at its start, CEST (after 29 March) at its end: 31 days less an hour.
    (datetime(2026, 3, 15, tzinfo=timezone.utc), datetime(2026, 2, 28, 23, tzinfo=timezone.utc),
     datetime(2026, 3, 31, 22, tzinfo=timezone.utc)),
    # October: back to CET on the 25th, so an hour longer.
    (datetime(2026, 10, 31, 22, 59, tzinfo=timezone.utc), datetime(2026, 9, 30, 22, tzinfo=timezone.utc),
     datetime(2026, 10, 31, 23, tzinfo=timezone.utc)),
    # Midnight local is the next month already; December's end is the next year's start.
    (datetime(2026, 12, 31, 23, tzinfo=timezone.utc), datetime(2026, 12, 31, 23, tzinfo=timezone.utc),
     datetime(2027, 1, 31, 23, tzinfo=timezone.utc)),
])
def test_the_month_is_the_partners_calendar_month(at, start, end):
    assert month_of(at, time_zone("Europe/Stockholm")) == (start, end)


@pytest.mark.parametrize("name", ["Mars/Olympus", "", " Europe/Stockholm", "../etc/passwd", "/etc/localtime"])
def test_a_time_zone_is_an_iana_name(name):
    with pytest.raises(ValueError):
        time_zone(name)


def test_the_back_office_sets_a_partners_time_zone(container, partner):
    hierarchy = partner[0]
    again = container.partner_admin.set_time_zone(hierarchy, {"timeZone": "Europe/Stockholm", "operator": "alice"})
    assert not again.changed and again.to_json()["timeZone"] == "Europe/Stockholm"
    with pytest.raises(InvalidInput, match="timeZone"):
        container.partner_admin.set_time_zone(hierarchy, {"timeZone": "Europe/Atlantis", "operator": "alice"})


# --- limits per month ------------------------------------------------------------------------------------
def test_the_monthly_limit_counts_what_the_month_committed_and_says_what_remains(container, partner, clock):
    hierarchy, _, _, buyer = partner
    assert container.credit.reserve(buyer, "SO-1", body(hierarchy, buyer, "90.00")).allowed
    check = container.credit.check(buyer, {**body(hierarchy, buyer, "60.01"), "orderId": "SO-2"})
    assert codes(check) == ["over_user_period_limit"]
    assert "60.00 EUR remains this month" in check.refusals[0][1]
    answer = check.to_json()
    assert answer["reasons"][0]["remaining"] == "60.00"
    assert answer["userPeriod"]["committed"] == "90.00" and answer["userPeriod"]["timeZone"] == "Europe/Stockholm"
    assert container.credit.reserve(buyer, "SO-2", body(hierarchy, buyer, "60.00")).allowed  # exactly the limit
    # A release gives the month back; both limits are named when both are passed.
    container.credit.release(buyer, "SO-1")
    denied = container.credit.reserve(buyer, "SO-3", body(hierarchy, buyer, "100.01"))
    assert codes(denied) == ["over_user_limit", "over_user_period_limit"]


def test_a_captured_order_counts_its_invoiced_amount(container, partner):
    hierarchy, _, _, buyer = partner
    container.credit.reserve(buyer, "SO-1", body(hierarchy, buyer, "100.00"))
    with container.store.unit_of_work() as uow:  # as the capture (issue 12's ledger) leaves it
        held = uow.get_reservation(hierarchy, "SO-1")
        uow.save_reservation(held.model_copy(update={"status": ReservationStatus.CAPTURED,
                                                      "captured_amount": Decimal("40.00"), "captured_at": held.created_at}))
    assert container.credit.check(buyer, {**body(hierarchy, buyer, "100.00"), "orderId": "SO-2"}).allowed
    assert codes(container.credit.check(buyer, {**body(hierarchy, buyer, "110.01"), "orderId": "SO-2"})) == [
        "over_user_limit", "over_user_period_limit"]


def test_the_month_turns_at_midnight_in_the_partners_time_zone(container, partner, clock):
    hierarchy, _, _, buyer = partner
    clock.advance((MARCH_END_STOCKHOLM - clock.now()).total_seconds())  # 23:30 on 31 March in Stockholm
    assert container.credit.reserve(buyer, "SO-1", body(hierarchy, buyer, "100.00")).allowed
    clock.advance(29 * 60)  # 23:59
    assert codes(container.credit.check(buyer, {**body(hierarchy, buyer, "60.00"), "orderId": "SO-2"})) == [
        "over_user_period_limit"]
    clock.advance(60)  # 00:00 on 1 April in Stockholm, still 31 March in UTC
    assert container.credit.reserve(buyer, "SO-2", body(hierarchy, buyer, "100.00")).allowed
    # In UTC both orders would be March's: the partner's own zone is what lets the second one pass.
    container.partner_admin.set_time_zone(hierarchy, {"timeZone": "UTC", "operator": "alice"})
    assert codes(container.credit.check(buyer, {**body(hierarchy, buyer, "1.00"), "orderId": "SO-3"})) == [
        "over_user_period_limit"]


def test_parallel_reserves_never_pass_the_monthly_limit(container, partner):
    hierarchy, _, _, buyer = partner
    reserve = lambda i: lambda: container.credit.reserve(buyer, f"SO-{i}", body(hierarchy, buyer, "20.00")).allowed
    results = run_in_threads([reserve(i) for i in range(20)], timeout=300)
    assert results.count(True) == 7  # 7 × 20 = 140 ≤ 150 < 8 × 20
    assert container.credit.line(hierarchy).reserved == Decimal("140.00")


def test_a_monthly_limit_is_set_and_shown_like_the_per_order_one(container, partner):
    from shared.services.partner_users import user_json

    hierarchy, admin, _, buyer = partner
    user = container.partner_users.edit(admin, hierarchy, user_id_for(buyer.verified_email), {"monthlyLimit": "200"})
    assert user.monthly_limit == Decimal("200.00") and user_json(user)["monthlyLimit"] == "200.00"
    with pytest.raises(InvalidInput, match="monthlyLimit"):
        container.partner_users.edit(admin, hierarchy, user.id, {"monthlyLimit": "1.001"})


# --- approval routing ------------------------------------------------------------------------------------
def test_an_order_over_the_buyers_limit_is_approved_and_held(container, partner):
    hierarchy, admin, approver, buyer = partner
    approval, created = container.approvals.submit(buyer, "SO-9", body(hierarchy, buyer, "400.00"))
    assert created and approval.status is ApprovalStatus.PENDING and approval.reasons == [
        "over_user_limit", "over_user_period_limit"]
    assert container.approvals.submit(buyer, "SO-9", body(hierarchy, buyer, "400"))[1] is False  # idempotent
    with pytest.raises(IdempotencyConflict):
        container.approvals.submit(buyer, "SO-9", body(hierarchy, buyer, "401.00"))
    # Each Approver and Admin is told; the buyer sees their own request, not the partner's list.
    assert "approval_requested" in emails_to(container, "approver@example.se")
    assert "approval_requested" in emails_to(container, "person1@example.com")
    assert [a.order_id for a in container.approvals.list(buyer, hierarchy, {"mine": "true"})] == ["SO-9"]
    with pytest.raises(NotAnApprover):
        container.approvals.list(buyer, hierarchy, {})
    assert [a.order_id for a in container.approvals.list(approver, hierarchy, {"status": "pending"})] == ["SO-9"]

    decided, changed, reservation = container.approvals.decide(approver, hierarchy, "SO-9", ApprovalStatus.APPROVED,
                                                               {"comment": "For the launch"})
    assert changed and decided.status is ApprovalStatus.APPROVED and decided.decided_by == user_id_for(
        approver.verified_email)
    assert reservation.amount == Decimal("400.00") and container.credit.line(hierarchy).reserved == Decimal("400.00")
    assert "approval_approved" in emails_to(container, "buyer@example.se")
    # The same decision again changes nothing; the other one is refused, naming the one that stands.
    again = container.approvals.decide(admin, hierarchy, "SO-9", ApprovalStatus.APPROVED, None)
    assert again[1] is False and again[2] == reservation
    with pytest.raises(ApprovalDecided, match="approved by Nils Holgersson"):
        container.approvals.decide(admin, hierarchy, "SO-9", ApprovalStatus.REJECTED, {"comment": "no"})
    assert container.credit.line(hierarchy).reserved == Decimal("400.00")
    history = container.partner_admin.file(hierarchy).history
    assert [(e.actor, e.detail) for e in history if e.action == "order approved"] == [
        (f"partner-user:{user_id_for(approver.verified_email)}", "SO-9: 400.00 EUR")]
    # The buyer's reserve of the order now finds it held.
    assert container.credit.reserve(buyer, "SO-9", body(hierarchy, buyer, "400.00")).repeated


def test_only_the_buyers_own_limits_go_to_approval(container, partner):
    hierarchy, _, _, buyer = partner
    with pytest.raises(IdempotencyConflict, match="within the buyer's limits"):
        container.approvals.submit(buyer, "SO-1", body(hierarchy, buyer, "10.00"))
    with pytest.raises(OrderRefused) as refused:
        container.approvals.submit(buyer, "SO-2", body(hierarchy, buyer, "1000.01"))
    members = refused.value.problem_members()
    assert [r["code"] for r in members["reasons"]] == ["over_user_limit", "over_user_period_limit", "over_credit"]
    assert members["availableCredit"] == "1000.00" and members["amount"] == "1000.01"


def test_no_one_decides_their_own_order_and_a_user_decides_none(container, partner):
    hierarchy, admin, approver, buyer = partner
    container.partner_users.edit(admin, hierarchy, user_id_for(approver.verified_email), {"spendingLimit": "1.00"})
    container.channel_sync.run()
    container.approvals.submit(approver, "SO-1", body(hierarchy, approver, "50.00"))
    with pytest.raises(OwnOrder):
        container.approvals.decide(approver, hierarchy, "SO-1", ApprovalStatus.APPROVED, None)
    container.approvals.submit(buyer, "SO-2", body(hierarchy, buyer, "120.00"))
    with pytest.raises(NotAnApprover):
        container.approvals.decide(buyer, hierarchy, "SO-1", ApprovalStatus.APPROVED, None)
    assert container.approvals.decide(admin, hierarchy, "SO-1", ApprovalStatus.APPROVED, None)[1]


def test_a_rejection_needs_a_comment_and_the_buyer_gets_it(container, partner):
    hierarchy, _, approver, buyer = partner
    container.approvals.submit(buyer, "SO-1", body(hierarchy, buyer, "120.00"))
    with pytest.raises(InvalidInput, match="comment"):
        container.approvals.decide(approver, hierarchy, "SO-1", ApprovalStatus.REJECTED, {})
    decided, _, reservation = container.approvals.decide(approver, hierarchy, "SO-1", ApprovalStatus.REJECTED,
                                                         {"comment": "Split it over two months"})
    assert reservation is None and decided.comment == "Split it over two months"
    email = next(e for e in container.operator.emails() if e.to == "buyer@example.se"
                 and e.template == "approval_rejected")
    assert email.language == "sv" and email.values["comment"] == "Split it over two months"
    assert container.credit.line(hierarchy).reserved == Decimal("0.00")


def test_approving_fails_clearly_when_the_credit_no_longer_suffices(container, partner):
    hierarchy, admin, approver, buyer = partner
    container.approvals.submit(buyer, "SO-1", body(hierarchy, buyer, "400.00"))
    container.credit.reserve(admin, "SO-ADMIN", body(hierarchy, admin, "700.00"))
    with pytest.raises(OrderRefused) as refused:
        container.approvals.decide(approver, hierarchy, "SO-1", ApprovalStatus.APPROVED, None)
    members = refused.value.problem_members()
    assert [r["code"] for r in members["reasons"]] == ["over_credit"] and members["availableCredit"] == "300.00"
    assert container.approvals.request(buyer, "SO-1").status is ApprovalStatus.PENDING  # nothing changed
    assert container.credit.line(hierarchy).reserved == Decimal("700.00")


def test_a_pending_approval_expires_and_the_buyer_is_told(container, partner, clock):
    hierarchy, _, approver, buyer = partner
    container.approvals.submit(buyer, "SO-1", body(hierarchy, buyer, "120.00"))
    clock.advance(timedelta(days=container.settings.approval_expiry_days).total_seconds())
    assert container.approvals.request(buyer, "SO-1").status is ApprovalStatus.EXPIRED  # on read, at once
    with pytest.raises(ApprovalDecided, match="expired"):
        container.approvals.decide(approver, hierarchy, "SO-1", ApprovalStatus.APPROVED, None)
    assert "approval_expired" not in emails_to(container, "buyer@example.se")
    assert container.approvals.expire_due() == 1
    assert container.approvals.expire_due() == 0  # once
    assert emails_to(container, "buyer@example.se").count("approval_expired") == 1
    assert container.approvals.list(approver, hierarchy, {"status": "expired"})[0].order_id == "SO-1"
    history = [(e.action, e.detail) for e in container.partner_admin.file(hierarchy).history]
    assert ("order approval expired", "SO-1: 120.00 EUR") in history


def test_a_blocked_partners_buyer_is_refused_like_everywhere(container, partner):
    hierarchy, _, approver, buyer = partner
    container.approvals.submit(buyer, "SO-1", body(hierarchy, buyer, "120.00"))
    container.partner_admin.block(hierarchy, {"reason": "Unpaid", "operator": "alice"})
    with pytest.raises(PartnerBlocked) as blocked:
        container.approvals.submit(buyer, "SO-2", body(hierarchy, buyer, "120.00"))
    assert blocked.value.problem_members()["decision"] == "deny"
    with pytest.raises(PartnerBlocked):
        container.approvals.decide(approver, hierarchy, "SO-1", ApprovalStatus.APPROVED, None)


def test_parallel_approvals_never_overdraw_the_credit_line(container, partner):
    hierarchy, admin, approver, buyer = partner
    container.credit.set_line(hierarchy, {"limit": "1000.00", "currency": "EUR"})
    for i in range(20):
        container.approvals.submit(buyer, f"SO-{i}", body(hierarchy, buyer, "150.00"))

    def approve(i: int) -> bool:
        try:
            container.approvals.decide(approver if i % 2 else admin, hierarchy, f"SO-{i}", ApprovalStatus.APPROVED,
                                       None)
            return True
        except OrderRefused:
            return False

    results = run_in_threads([lambda i=i: approve(i) for i in range(20)], timeout=300)
    assert results.count(True) == 6  # 6 × 150 = 900 ≤ 1000 < 7 × 150
    assert container.credit.line(hierarchy).reserved == Decimal("900.00")
    approved = container.approvals.list(admin, hierarchy, {"status": "approved"})
    assert len(approved) == 6
