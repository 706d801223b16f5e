"""The partner user's life cycle and the order refusals, as pure rules."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone
from decimal import Decimal

import pytest

from shared.domain.errors import IllegalTransition
from shared.domain.model import HierarchyRole
from shared.domain.partners import (
    CreditLine,
    EmailTaken,
    PartnerUser,
    UserChange,
    UserStatus,
    order_refusals,
    user_id_for,
)

T0 = datetime(2026, 1, 1, tzinfo=timezone.utc)


def user(**changes) -> PartnerUser:
    base = PartnerUser(id=user_id_for("a@x.example"), hierarchy_id="CH-000001", customer_id="c-1",
                       email="a@x.example", first_name="A", last_name="B", role=HierarchyRole.USER,
                       spending_limit=Decimal("100.00"), status=UserStatus.ACTIVE, created_at=T0, updated_at=T0)
    return base.model_copy(update=changes)


def test_one_email_one_user_id_whatever_its_case():
    assert user_id_for(" A@X.example ") == user_id_for("a@x.EXAMPLE") != user_id_for("b@x.example")


def test_life_cycle_add_sync_edit_sync_remove_sync():
    t1, t2, t3 = (T0 + timedelta(minutes=i) for i in (1, 2, 3))
    added = user(status=UserStatus.PENDING, sync=UserChange.ADD)
    active = added.synced(t1)
    assert (active.status, active.sync, active.activated_at) == (UserStatus.ACTIVE, None, t1)
    edited = active.edited({"last_name": "C"}, t2)
    assert (edited.status, edited.sync, edited.version) == (UserStatus.ACTIVE, UserChange.EDIT, 2)
    removed = edited.synced(t2).removed(t3)
    assert (removed.status, removed.sync, removed.version) == (UserStatus.REMOVED, UserChange.REMOVE, 3)
    assert removed.removed(t3) is removed
    gone = removed.synced(t3)
    assert (gone.status, gone.sync, gone.activated_at) == (UserStatus.REMOVED, None, t1)
    with pytest.raises(IllegalTransition):
        gone.edited({"last_name": "D"}, t3)


def test_an_edit_of_a_user_not_yet_synced_stays_an_add():
    assert user(status=UserStatus.PENDING, sync=UserChange.ADD).edited({"first_name": "Z"}, T0).sync is UserChange.ADD


def test_rejoin_only_after_removal_and_leaving_the_old_hierarchy_if_still_in_it():
    with pytest.raises(EmailTaken):
        user().rejoin("CH-000002", "A", "B", HierarchyRole.USER, None, "en", T0)
    pending_exit = user(status=UserStatus.REMOVED, sync=UserChange.REMOVE)
    moved = pending_exit.rejoin("CH-000002", "A", "B", HierarchyRole.ADMIN, None, "sv", T0)
    assert (moved.hierarchy_id, moved.leaves_hierarchy_id, moved.sync, moved.status) == (
        "CH-000002", "CH-000001", UserChange.ADD, UserStatus.PENDING)
    assert moved.synced(T0).leaves_hierarchy_id is None
    settled = user(status=UserStatus.REMOVED).rejoin("CH-000002", "A", "B", HierarchyRole.USER, None, "en", T0)
    assert settled.leaves_hierarchy_id is None
    # removed from CH-000002 too before a sync, then added to a third: it still has CH-000001 to leave
    again = moved.removed(T0).rejoin("CH-000003", "A", "B", HierarchyRole.USER, None, "en", T0)
    assert (again.hierarchy_id, again.leaves_hierarchy_id) == ("CH-000003", "CH-000001")


def line(limit="1000.00", reserved="0.00", currency="EUR") -> CreditLine:
    return CreditLine(hierarchy_id="CH-000001", limit=Decimal(limit), reserved=Decimal(reserved), currency=currency,
                      updated_at=T0)


@pytest.mark.parametrize("amount, who, credit, currency, codes", [
    ("100.00", user(), line(), "EUR", []),
    ("100.01", user(), line(), "EUR", ["over_user_limit"]),
    ("100.01", user(spending_limit=None), line(), "EUR", []),
    ("50.00", user(), line(reserved="950.00"), "EUR", []),
    ("50.01", user(), line(reserved="950.00"), "EUR", ["over_credit"]),
    ("10.00", user(), line(), "SEK", ["currency_mismatch"]),
    ("10.00", user(), None, "EUR", ["no_credit_line"]),
    ("10.00", user(status=UserStatus.PENDING), line(), "EUR", ["user_not_active"]),
    ("2000", user(status=UserStatus.REMOVED), line(), "EUR", ["user_not_active", "over_user_limit", "over_credit"]),
])
def test_order_refusals_name_every_rule_that_applies(amount, who, credit, currency, codes):
    assert [code for code, _ in order_refusals(who, credit, Decimal(amount), currency)] == codes
