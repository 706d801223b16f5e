"""The Store port's contract for what an approved partner has: users, credit line, reservations.

Runs on every Store adapter (the builders of test_store_contract). The hierarchy is saved before the
records kept with it, as the services do.
"""
from __future__ import annotations

from decimal import Decimal

import pytest

from shared.domain.errors import DuplicateRecord
from shared.domain.model import HierarchyRole, MemberStatus, PartnerStatus
from shared.domain.partners import Reservation, ReservationStatus, SignIn, UserChange, UserStatus
from tests.contract.factories import at, credit_line, hierarchy, member, partner_user, reservation
from tests.contract.test_store_contract import harness, racing, store  # noqa: F401 - fixtures


@pytest.fixture
def partners(store):
    """Two partners: one from a prospect, one onboarded by hand (no prospect)."""
    with store.unit_of_work() as uow:
        uow.save_hierarchy(hierarchy("CH-000001", "prospect-1"))
        uow.save_hierarchy(hierarchy("CH-000002", None))
    return store


def test_partner_users_by_hierarchy_in_email_order(partners):
    b = partner_user("b@one.example", "CH-000001")
    a = partner_user("a@one.example", "CH-000001", role=HierarchyRole.ADMIN, limit=None)
    other = partner_user("c@two.example", "CH-000002")
    with partners.unit_of_work() as uow:
        uow.save_partner_user(b)
        uow.save_partner_user(a)
        uow.save_partner_user(other)
    with partners.unit_of_work(read_only=True) as uow:
        assert uow.partner_users("CH-000001") == [a, b]
        assert uow.partner_users("CH-000002") == [other]
        assert uow.partner_users("CH-000009") == []
        assert uow.get_partner_user(a.id) == a
        assert uow.get_partner_user(a.id).spending_limit is None
        assert uow.get_partner_user(b.id).spending_limit == Decimal("500.00")
        assert uow.get_partner_user("nobody") is None


def test_a_user_saved_again_replaces_it_and_may_move_to_another_partner(partners):
    user = partner_user("a@one.example", "CH-000001")
    with partners.unit_of_work() as uow:
        uow.save_partner_user(user)
    moved = user.model_copy(update={"hierarchy_id": "CH-000002", "status": UserStatus.PENDING, "version": 2,
                                    "sync": UserChange.ADD, "updated_at": at(5)})
    with partners.unit_of_work() as uow:
        uow.save_partner_user(moved)
    with partners.unit_of_work(read_only=True) as uow:
        assert uow.get_partner_user(user.id) == moved
        assert uow.partner_users("CH-000001") == []
        assert uow.partner_users("CH-000002") == [moved]


def test_users_to_sync_are_those_with_a_change_oldest_first(partners):
    users = [
        partner_user("late@one.example", "CH-000001", status=UserStatus.PENDING, sync=UserChange.ADD, updated=at(30)),
        partner_user("done@one.example", "CH-000001", updated=at(1)),
        partner_user("early@two.example", "CH-000002", sync=UserChange.EDIT, updated=at(10)),
        partner_user("gone@one.example", "CH-000001", status=UserStatus.REMOVED, sync=UserChange.REMOVE,
                     updated=at(20)),
    ]
    with partners.unit_of_work() as uow:
        for user in users:
            uow.save_partner_user(user)
    with partners.unit_of_work(read_only=True) as uow:
        assert [u.email for u in uow.users_to_sync(limit=10)] == [
            "early@two.example", "gone@one.example", "late@one.example"]
        assert [u.email for u in uow.users_to_sync(limit=2)] == ["early@two.example", "gone@one.example"]
    with partners.unit_of_work() as uow:
        uow.save_partner_user(users[2].model_copy(update={"sync": None, "updated_at": at(40)}))
    with partners.unit_of_work(read_only=True) as uow:
        assert [u.email for u in uow.users_to_sync(limit=10)] == ["gone@one.example", "late@one.example"]


def test_remove_member_leaves_the_others(partners):
    with partners.unit_of_work() as uow:
        uow.save_member(member("CH-000002", "c-admin", HierarchyRole.ADMIN, MemberStatus.ACTIVE))
        uow.save_member(member("CH-000002", "c-user", HierarchyRole.USER, MemberStatus.ACTIVE))
    with partners.unit_of_work() as uow:
        uow.remove_member("CH-000002", "c-user")
        uow.remove_member("CH-000002", "c-never-there")
    with partners.unit_of_work(read_only=True) as uow:
        assert [m.customer_id for m in uow.members("CH-000002")] == ["c-admin"]


def test_credit_line_save_get_replace(partners):
    with partners.unit_of_work(read_only=True) as uow:
        assert uow.get_credit_line("CH-000001") is None
    line = credit_line("CH-000001", "2500.50")
    with partners.unit_of_work() as uow:
        uow.save_credit_line(line)
    with partners.unit_of_work() as uow:
        assert uow.get_credit_line("CH-000001") == line
        uow.save_credit_line(line.model_copy(update={"reserved": Decimal("100.25")}))
    with partners.unit_of_work(read_only=True) as uow:
        stored = uow.get_credit_line("CH-000001")
        assert stored.reserved == Decimal("100.25") and stored.available == Decimal("2400.25")
        assert uow.get_credit_line("CH-000002") is None


def test_reservation_save_get_and_release(partners):
    held = reservation("order-1", "CH-000002", "99.99")
    with partners.unit_of_work() as uow:
        uow.save_reservation(held)
    released = held.model_copy(update={"status": ReservationStatus.RELEASED, "released_at": at(60)})
    with partners.unit_of_work() as uow:
        assert uow.get_reservation("CH-000002", "order-1") == held
        uow.save_reservation(released)
    with partners.unit_of_work(read_only=True) as uow:
        assert uow.get_reservation("CH-000002", "order-1") == released
        assert uow.get_reservation("CH-000002", "order-2") is None
        assert uow.get_reservation("CH-000009", "order-1") is None


def test_order_ids_are_each_partners_own(partners):
    """Two partners reserve the same order id: two orders, neither sees nor changes the other's."""
    mine, theirs = reservation("order-1", "CH-000001", "10.00"), reservation("order-1", "CH-000002", "20.00")
    with partners.unit_of_work() as uow:
        assert uow.get_reservation("CH-000001", "order-1") is None
        uow.save_reservation(mine)
    with partners.unit_of_work() as uow:
        assert uow.get_reservation("CH-000002", "order-1") is None
        uow.save_reservation(theirs)
    released = theirs.model_copy(update={"status": ReservationStatus.RELEASED, "released_at": at(60)})
    with partners.unit_of_work() as uow:
        uow.get_reservation("CH-000002", "order-1")
        uow.save_reservation(released)
    with partners.unit_of_work(read_only=True) as uow:
        assert uow.get_reservation("CH-000001", "order-1") == mine
        assert uow.get_reservation("CH-000002", "order-1") == released


def test_two_first_reservations_of_one_order_make_one(harness, partners):
    """Each reads the order as absent and saves it: one commits, the other runs again and finds it."""
    made: list[str] = []

    def reserve(user_id: str) -> None:
        with partners.unit_of_work() as uow:
            if uow.get_reservation("CH-000001", "order-1") is not None:
                return
            uow.save_reservation(reservation("order-1", "CH-000001", user_id=user_id))
        made.append(user_id)

    racing(harness, [lambda i=i: reserve(f"user-{i}") for i in range(4)])
    assert len(made) == 1
    with partners.unit_of_work(read_only=True) as uow:
        assert uow.get_reservation("CH-000001", "order-1").user_id == made[0]


def test_concurrent_reservations_never_overdraw_the_credit_line(harness, partners):
    """Read the line, check, write the line and the reservation: racing units of work stay consistent."""
    with partners.unit_of_work() as uow:
        uow.save_credit_line(credit_line("CH-000001", "100.00"))
    threads = 12

    def reserve(order_id: str) -> None:
        with partners.unit_of_work() as uow:
            line = uow.get_credit_line("CH-000001")
            if uow.get_reservation("CH-000001", order_id) is not None or line.available < Decimal("10.00"):
                return
            uow.save_reservation(reservation(order_id, "CH-000001", "10.00"))
            uow.save_credit_line(line.model_copy(update={"reserved": line.reserved + Decimal("10.00")}))

    racing(harness, [lambda i=i: reserve(f"order-{i}") for i in range(threads)])
    with partners.unit_of_work(read_only=True) as uow:
        line = uow.get_credit_line("CH-000001")
        held = [r for r in (uow.get_reservation("CH-000001", f"order-{i}") for i in range(threads)) if r is not None]
    assert line.reserved == Decimal("100.00")
    assert len(held) == 10 and all(isinstance(r, Reservation) for r in held)


def test_a_rule_over_all_users_cannot_pass_twice_on_stale_reads(harness, partners):
    """Three admins each step down only if another admin stays: at least one admin always remains."""
    admins = [partner_user(f"admin{i}@one.example", "CH-000001", role=HierarchyRole.ADMIN) for i in range(3)]
    with partners.unit_of_work() as uow:
        for admin in admins:
            uow.save_partner_user(admin)

    def step_down(user_id: str) -> None:
        with partners.unit_of_work() as uow:
            users = uow.partner_users("CH-000001")
            me = next(u for u in users if u.id == user_id)
            others = [u for u in users if u.role is HierarchyRole.ADMIN and u.id != user_id]
            if me.role is HierarchyRole.ADMIN and others:
                uow.save_partner_user(me.model_copy(update={"role": HierarchyRole.USER}))

    racing(harness, [lambda a=a: step_down(a.id) for a in admins], timeout=60)
    with partners.unit_of_work(read_only=True) as uow:
        roles = [u.role for u in uow.partner_users("CH-000001")]
    assert roles.count(HierarchyRole.ADMIN) == 1


# --- the account a user signs in with (PartnerUser.sign_in) ------------------------------------------------
ISSUER = "https://issuer.example/v2.0"


def bound(user, subject: str, issuer: str = ISSUER):
    return user.model_copy(update={"sign_in": SignIn(issuer=issuer, subject=subject, bound_at=at(1))})


def test_a_user_is_found_by_the_account_bound_to_it(partners):
    anna, bo = partner_user("anna@one.example", "CH-000001"), partner_user("bo@one.example", "CH-000001")
    with partners.unit_of_work() as uow:
        uow.save_partner_user(bound(anna, "sub-anna"))
        uow.save_partner_user(bo)
    with partners.unit_of_work(read_only=True) as uow:
        assert uow.find_partner_user_by_sign_in(ISSUER, "sub-anna") == bound(anna, "sub-anna")
        assert uow.find_partner_user_by_sign_in(ISSUER, "sub-bo") is None
        assert uow.find_partner_user_by_sign_in("https://other.example/", "sub-anna") is None
    with partners.unit_of_work() as uow:  # added again: unbound, so its old account finds no one
        uow.save_partner_user(uow.get_partner_user(anna.id).model_copy(update={"sign_in": None}))
    with partners.unit_of_work(read_only=True) as uow:
        assert uow.find_partner_user_by_sign_in(ISSUER, "sub-anna") is None


def test_a_moved_user_is_found_by_its_account_in_its_new_partner(partners):
    anna = bound(partner_user("anna@one.example", "CH-000001"), "sub-anna")
    with partners.unit_of_work() as uow:
        uow.save_partner_user(anna)
    moved = anna.model_copy(update={"hierarchy_id": "CH-000002", "version": 2, "updated_at": at(5)})
    with partners.unit_of_work() as uow:
        uow.save_partner_user(moved)
    with partners.unit_of_work(read_only=True) as uow:
        assert uow.find_partner_user_by_sign_in(ISSUER, "sub-anna") == moved


def test_an_account_is_bound_to_one_user(partners):
    anna, bo = partner_user("anna@one.example", "CH-000001"), partner_user("bo@two.example", "CH-000002")
    with partners.unit_of_work() as uow:
        uow.save_partner_user(bound(anna, "sub-shared"))
        uow.save_partner_user(bo)
    with pytest.raises(DuplicateRecord):
        with partners.unit_of_work() as uow:
            uow.save_partner_user(bound(uow.get_partner_user(bo.id), "sub-shared"))
    with partners.unit_of_work(read_only=True) as uow:
        assert uow.find_partner_user_by_sign_in(ISSUER, "sub-shared").id == anna.id
        assert uow.get_partner_user(bo.id).sign_in is None


@pytest.mark.parametrize("accounts", [["sub-same"] * 6, [f"sub-{i}" for i in range(6)]],
                         ids=["one account", "six accounts"])
def test_racing_first_sign_ins_bind_the_user_once(harness, partners, accounts):
    """Each reads the user, binds it if it is unbound and saves: one binding commits; the others run again and
    find it (the same account: nothing to do; another account: the user is taken)."""
    anna = partner_user("anna@one.example", "CH-000001")
    with partners.unit_of_work() as uow:
        uow.save_partner_user(anna)
    bindings: list[str] = []

    def first_sign_in(subject: str) -> None:
        with partners.unit_of_work() as uow:
            user = uow.get_partner_user(anna.id)
            if user.sign_in is not None:
                return
            uow.save_partner_user(bound(user, subject))
        bindings.append(subject)

    racing(harness, [lambda s=s: first_sign_in(s) for s in accounts], timeout=60)
    assert len(bindings) == 1
    with partners.unit_of_work(read_only=True) as uow:
        assert uow.get_partner_user(anna.id).sign_in.subject == bindings[0]
        assert uow.find_partner_user_by_sign_in(ISSUER, bindings[0]).id == anna.id
        assert all(uow.find_partner_user_by_sign_in(ISSUER, s) is None for s in set(accounts) - set(bindings))


def test_hierarchy_pages_in_number_order_after_a_cursor_with_a_name_filter(store):
    names = {1: "Fabrikam AB", 2: "Ålands Ölhandel", 3: "Contoso", 4: "Fabrikam Nordic", 5: "Northwind"}
    with store.unit_of_work() as uow:
        for n in (3, 1, 5, 2, 4):  # saved out of order: the page is in number order all the same
            uow.save_hierarchy(hierarchy(f"CH-{n:06d}", f"prospect-{n}" if n % 2 else None, names[n]))

    def page(after, limit, name=None):
        with store.unit_of_work(read_only=True) as uow:
            return [h.id for h in uow.hierarchy_page(after, limit, name)]

    assert page(None, 2) == ["CH-000001", "CH-000002"]
    assert page("CH-000002", 2) == ["CH-000003", "CH-000004"]
    assert page("CH-000004", 2) == ["CH-000005"]
    assert page("CH-000005", 2) == []
    assert page(None, 5, "FABRIKAM") == ["CH-000001", "CH-000004"]
    assert page("CH-000001", 5, "fabrikam") == ["CH-000004"]
    assert page(None, 1, "fabrikam") == ["CH-000001"]
    assert page(None, 5, "ölhandel") == ["CH-000002"]
    assert page(None, 5, "nothing like it") == []


def test_a_renamed_and_blocked_hierarchy_reads_back_and_is_found_by_its_new_name(store):
    with store.unit_of_work() as uow:
        uow.save_hierarchy(hierarchy("CH-000001", "prospect-1", "Old Name AB"))
    with store.unit_of_work() as uow:
        changed = uow.get_hierarchy("CH-000001").model_copy(update={
            "name": "New Name AB", "status": PartnerStatus.BLOCKED, "status_changed_at": at(3),
            "status_changed_by": "back-office:alice", "block_reason": "unpaid"})
        uow.save_hierarchy(changed)
    with store.unit_of_work(read_only=True) as uow:
        assert uow.get_hierarchy("CH-000001") == changed
        assert uow.find_hierarchy_by_prospect("prospect-1") == changed
        assert [h.id for h in uow.hierarchy_page(None, 5, "new name")] == ["CH-000001"]
        assert uow.hierarchy_page(None, 5, "old name") == []


def test_open_reservations_are_the_partners_held_ones_oldest_first(partners):
    held = [reservation(f"order-{i}", "CH-000001").model_copy(update={"created_at": at(10 - i)}) for i in range(3)]
    released = reservation("order-9", "CH-000001").model_copy(update={"status": ReservationStatus.RELEASED,
                                                                      "released_at": at(20)})
    other = reservation("order-0", "CH-000002")
    with partners.unit_of_work() as uow:
        for r in [*held, released, other]:
            uow.save_reservation(r)
    with partners.unit_of_work(read_only=True) as uow:
        assert [r.order_id for r in uow.open_reservations("CH-000001", 10)] == ["order-2", "order-1", "order-0"]
        assert [r.order_id for r in uow.open_reservations("CH-000001", 2)] == ["order-2", "order-1"]
        assert uow.open_reservations("CH-000002", 10) == [other]
        assert uow.open_reservations("CH-000009", 10) == []


def test_the_partners_list_lines_follow_every_change_they_summarize(partners):
    """The line of a partner (name, standing, users not removed, Admins, credit line) after each kind of change,
    each in a unit of work of its own as the services make them: read back as the list reads it."""
    def lines(name=None):
        with partners.unit_of_work(read_only=True) as uow:
            return {line.hierarchy.id: line for line in uow.partner_summaries(None, 10, name)}

    admin = partner_user("a@one.example", "CH-000001", role=HierarchyRole.ADMIN)
    user = partner_user("b@one.example", "CH-000001")
    with partners.unit_of_work() as uow:
        uow.save_partner_user(admin)
        uow.save_partner_user(user)
    assert (lines()["CH-000001"].users, lines()["CH-000001"].admins, lines()["CH-000001"].credit) == (2, [admin], None)
    assert lines()["CH-000002"].users == 0

    second_admin = user.model_copy(update={"role": HierarchyRole.ADMIN, "version": 2})
    with partners.unit_of_work() as uow:
        uow.save_partner_user(second_admin)
    assert lines()["CH-000001"].admins == [admin, second_admin]

    with partners.unit_of_work() as uow:
        uow.save_credit_line(credit_line("CH-000001", limit="2500.00", reserved="100.00"))
    assert lines()["CH-000001"].credit == credit_line("CH-000001", limit="2500.00", reserved="100.00")

    removed = admin.model_copy(update={"status": UserStatus.REMOVED, "version": 2})
    with partners.unit_of_work() as uow:
        uow.save_partner_user(removed)
    assert (lines()["CH-000001"].users, lines()["CH-000001"].admins) == (1, [second_admin])

    moved = second_admin.model_copy(update={"hierarchy_id": "CH-000002", "version": 3})
    with partners.unit_of_work() as uow:
        uow.save_partner_user(moved)
    assert (lines()["CH-000001"].users, lines()["CH-000002"].users, lines()["CH-000002"].admins) == (0, 1, [moved])

    with partners.unit_of_work() as uow:
        blocked = uow.get_hierarchy("CH-000001").model_copy(update={
            "name": "Renamed AB", "status": PartnerStatus.BLOCKED, "status_changed_at": at(3),
            "status_changed_by": "back-office:alice", "block_reason": "unpaid"})
        uow.save_hierarchy(blocked)
    assert lines()["CH-000001"].hierarchy == blocked
    assert list(lines("renamed")) == ["CH-000001"]
    assert list(lines("company")) == ["CH-000002"]
    with partners.unit_of_work(read_only=True) as uow:
        assert [line.hierarchy.id for line in uow.partner_summaries("CH-000001", 10)] == ["CH-000002"]
        assert [line.hierarchy.id for line in uow.partner_summaries(None, 1)] == ["CH-000001"]
