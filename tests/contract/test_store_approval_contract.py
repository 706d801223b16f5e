"""The Store port's contract for limits per period and approvals (issue 12), on every Store adapter: a user's
reservations by creation time (what a monthly limit counts), and approval requests with their expiry index."""
from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

from shared.domain.approvals import ApprovalRequest, ApprovalStatus
from shared.domain.partners import ReservationStatus
from tests.contract.factories import at, reservation
from tests.contract.test_store_contract import harness, store  # noqa: F401 - fixtures
from tests.contract.test_store_partner_contract import partners  # noqa: F401 - fixture


def made(order_id: str, hierarchy_id: str, seconds: float, user_id: str = "user-1", amount: str = "10.00"):
    return reservation(order_id, hierarchy_id, amount, user_id).model_copy(update={"created_at": at(seconds)})


def test_a_users_reservations_in_a_period_whatever_their_state(partners):
    rows = [made("SO-0", "CH-000001", -0.5),  # just before the period
            made("SO-1", "CH-000001", 0),  # at its start: in
            made("SO-2", "CH-000001", 0.25, amount="20.00"),  # a fraction of a second: the text forms differ
            made("SO-3", "CH-000001", 59.999999),
            made("SO-4", "CH-000001", 60),  # at its end: out
            made("SO-5", "CH-000001", 30, user_id="user-2"),  # another user
            made("SO-6", "CH-000002", 30)]  # another partner
    with partners.unit_of_work() as uow:
        for row in rows:
            uow.save_reservation(row)
    with partners.unit_of_work() as uow:  # a state change keeps it in its period, as it is now
        uow.save_reservation(rows[2].model_copy(update={"status": ReservationStatus.RELEASED, "released_at": at(9)}))
    with partners.unit_of_work(read_only=True) as uow:
        found = uow.user_reservations("CH-000001", "user-1", at(0), at(60))
        assert [r.order_id for r in found] == ["SO-1", "SO-2", "SO-3"]
        assert found[1].status is ReservationStatus.RELEASED and found[1].committed == Decimal(0)
        assert [r.order_id for r in uow.user_reservations("CH-000002", "user-1", at(0), at(60))] == ["SO-6"]
        assert uow.user_reservations("CH-000009", "user-1", at(0), at(60)) == []


def approval(order_id: str, hierarchy_id: str = "CH-000001", submitted: float = 0, days: int = 7) -> ApprovalRequest:
    return ApprovalRequest(hierarchy_id=hierarchy_id, order_id=order_id, user_id="user-1", amount=Decimal("500.00"),
                           currency="EUR", reasons=["over_user_limit"], submitted_at=at(submitted),
                           expires_at=at(submitted) + timedelta(days=days))


def test_approvals_by_partner_newest_first_and_due_ones_across_partners(partners):
    with partners.unit_of_work() as uow:
        uow.save_approval(approval("SO-1", submitted=0, days=1))
        uow.save_approval(approval("SO-2", submitted=10, days=7))
        uow.save_approval(approval("SO-3", "CH-000002", submitted=5, days=1))
    with partners.unit_of_work(read_only=True) as uow:
        assert [a.order_id for a in uow.approvals("CH-000001", 10)] == ["SO-2", "SO-1"]
        assert [a.order_id for a in uow.approvals("CH-000001", 1)] == ["SO-2"]
        assert uow.get_approval("CH-000001", "SO-3") is None and uow.get_approval("CH-000002", "SO-3").order_id == "SO-3"
        assert [a.order_id for a in uow.approvals_due(at(0) + timedelta(days=1), 10)] == ["SO-1"]  # at its expiry
        assert [(a.hierarchy_id, a.order_id) for a in uow.approvals_due(at(6) + timedelta(days=1), 10)] == [
            ("CH-000001", "SO-1"), ("CH-000002", "SO-3")]
    with partners.unit_of_work() as uow:  # decided: no longer due
        first = uow.get_approval("CH-000001", "SO-1")
        uow.save_approval(first.model_copy(update={"status": ApprovalStatus.APPROVED, "decided_at": at(3)}))
    with partners.unit_of_work(read_only=True) as uow:
        assert [a.order_id for a in uow.approvals_due(at(0) + timedelta(days=30), 10)] == ["SO-3", "SO-2"]
        assert uow.get_approval("CH-000001", "SO-1").status is ApprovalStatus.APPROVED
