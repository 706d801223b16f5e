"""The back office's partners: the list with search and cursors, the partner's file, rename, block and
reactivate (a blocked partner's users are refused everywhere, its orders denied with partner_blocked), and
the operator's user changes under the admin's rules, each told in the partner's history."""
from __future__ import annotations

import pytest

from shared.domain.errors import InvalidInput, NotFound
from shared.domain.model import HierarchyRole, PartnerStatus
from shared.domain.partners import LastAdmin, PartnerBlocked, UserStatus, user_id_for
from tests.services.partners import approved_partner, caller, new_user


def order(hierarchy: str, email: str, order_id: str = "order-1", amount: str = "10.00") -> dict:
    return {"hierarchyId": hierarchy, "userId": user_id_for(email), "orderId": order_id, "amount": amount,
            "currency": "EUR"}


def partner_actions(c, hierarchy, admin) -> dict:
    """Every partner route's service call, for the partner's own Admin (orders.py and partners.py)."""
    return {
        "me": lambda: c.partner_users.me(admin),
        "list users": lambda: c.partner_users.list(admin, hierarchy),
        "get user": lambda: c.partner_users.get(admin, hierarchy, user_id_for("person1@example.com")),
        "add user": lambda: c.partner_users.add(admin, hierarchy, new_user("nils@example.se")),
        "edit user": lambda: c.partner_users.edit(admin, hierarchy, user_id_for("person1@example.com"),
                                                  {"firstName": "Per"}),
        "remove user": lambda: c.partner_users.remove(admin, hierarchy, user_id_for("nobody@example.se")),
        "check order": lambda: c.credit.check(admin, order(hierarchy, "person1@example.com")),
        "reserve order": lambda: c.credit.reserve(admin, "order-2", order(hierarchy, "person1@example.com", "order-2")),
        "release order": lambda: c.credit.release(admin, "order-held", {"hierarchyId": hierarchy}),
    }


@pytest.fixture
def partner(container):
    hierarchy, admin = approved_partner(container)
    container.credit.set_line(hierarchy, {"limit": "1000.00", "currency": "EUR"})
    assert container.credit.reserve(admin, "order-held", order(hierarchy, "person1@example.com", "order-held")).allowed
    return hierarchy, admin


def test_a_blocked_partners_users_are_refused_everywhere_and_reactivating_gives_it_all_back(container, partner):
    hierarchy, admin = partner
    done = container.partner_admin.block(hierarchy, {"operator": "alice", "reason": "Unpaid invoices since May"})
    assert done.changed and done.hierarchy.status is PartnerStatus.BLOCKED
    assert (done.hierarchy.status_changed_by, done.hierarchy.block_reason) == (
        "back-office:alice", "Unpaid invoices since May")

    for name, action in partner_actions(container, hierarchy, admin).items():
        with pytest.raises(PartnerBlocked) as refused:
            action()
        assert refused.value.problem_members()["code"] == "partner_blocked", name
    with pytest.raises(PartnerBlocked) as denied:
        container.credit.check(admin, order(hierarchy, "person1@example.com", "order-9"))
    assert denied.value.problem_members() == {
        "code": "partner_blocked", "decision": "deny",
        "reasons": [{"code": "partner_blocked", "message": f"partner {hierarchy} is blocked; ask the back office"}]}

    file = container.partner_admin.file(hierarchy)  # nothing is deleted
    assert [u.email for u in file.users] == ["person1@example.com"]
    assert file.credit.reserved == 10 and [r.order_id for r in file.open_reservations] == ["order-held"]

    again = container.partner_admin.reactivate(hierarchy, {"operator": "bob"})
    assert again.changed and again.hierarchy.status is PartnerStatus.ACTIVE and again.hierarchy.block_reason is None
    assert container.credit.check(admin, order(hierarchy, "person1@example.com")).allowed
    assert container.partner_users.me(admin)[1].id == hierarchy
    history = [(e.actor, e.action, e.detail) for e in container.partner_admin.file(hierarchy).history]
    assert history[-2:] == [("back-office:alice", "partner blocked", "Unpaid invoices since May"),
                            ("back-office:bob", "partner reactivated", "")]


def test_blocking_is_idempotent_and_the_first_who_and_why_stand(container, partner):
    hierarchy, _ = partner
    container.partner_admin.block(hierarchy, {"operator": "alice", "reason": "first"})
    entries = len(container.partner_admin.file(hierarchy).history)
    again = container.partner_admin.block(hierarchy, {"operator": "bob", "reason": "second"})
    assert not again.changed and again.hierarchy.block_reason == "first"
    assert again.hierarchy.status_changed_by == "back-office:alice"
    assert len(container.partner_admin.file(hierarchy).history) == entries
    assert container.partner_admin.reactivate(hierarchy, {"operator": "bob"}).changed
    assert not container.partner_admin.reactivate(hierarchy, {"operator": "bob"}).changed


def test_a_block_needs_a_reason_and_an_operator(container, partner):
    hierarchy, _ = partner
    with pytest.raises(InvalidInput) as refused:
        container.partner_admin.block(hierarchy, {"operator": "alice", "reason": "  "})
    assert [field for field, _ in refused.value.problems] == ["reason"]
    with pytest.raises(InvalidInput):
        container.partner_admin.block(hierarchy, {"reason": "why"})
    with pytest.raises(NotFound):
        container.partner_admin.block("CH-999999", {"operator": "alice", "reason": "why"})
    assert container.partner_admin.file(hierarchy).hierarchy.status is PartnerStatus.ACTIVE


def test_a_user_of_another_partner_learns_nothing_of_the_block(container, partner):
    hierarchy, _ = partner
    other, stranger = approved_partner(container, 2)
    container.partner_admin.block(hierarchy, {"operator": "alice", "reason": "fraud"})
    with pytest.raises(NotFound):
        container.partner_users.list(stranger, hierarchy)
    assert container.partner_users.list(stranger, other)  # its own partner works


def test_renaming_is_told_in_the_history_and_the_same_name_changes_nothing(container, partner):
    hierarchy, admin = partner
    before = container.partner_admin.file(hierarchy).hierarchy.name
    done = container.partner_admin.rename(hierarchy, {"operator": "alice", "name": "Fabrikam Nordic"})
    assert done.changed and done.hierarchy.name == "Fabrikam Nordic"
    assert container.partner_users.me(admin)[1].name == "Fabrikam Nordic"
    assert not container.partner_admin.rename(hierarchy, {"operator": "bob", "name": "Fabrikam Nordic"}).changed
    [entry] = [e for e in container.partner_admin.file(hierarchy).history if e.action == "partner renamed"]
    assert (entry.actor, entry.detail) == ("back-office:alice", f"'{before}' → 'Fabrikam Nordic'")


def test_the_operator_changes_users_under_the_admins_rules_and_the_history_tells_it(container, partner):
    hierarchy, _ = partner
    admin_id = user_id_for("person1@example.com")
    with pytest.raises(LastAdmin):
        container.partner_users.edit_by_operator(hierarchy, admin_id, {"operator": "alice", "role": "User"})
    with pytest.raises(LastAdmin):
        container.partner_users.remove_by_operator(hierarchy, admin_id, {"operator": "alice"})
    added = container.partner_users.add_by_operator(hierarchy, {"operator": "alice", **new_user("nils@example.se")})
    container.channel_sync.run()
    second = container.partner_users.edit_by_operator(hierarchy, added.user.id, {"operator": "alice", "role": "Admin"})
    assert second.role is HierarchyRole.ADMIN
    container.partner_users.edit_by_operator(hierarchy, admin_id, {"operator": "alice", "role": "User"})
    removed = container.partner_users.remove_by_operator(hierarchy, admin_id, {"operator": "alice"})
    assert removed.status is UserStatus.REMOVED
    with pytest.raises(InvalidInput):
        container.partner_users.edit_by_operator(hierarchy, added.user.id, {"operator": "alice"})  # no change named
    history = [(e.action, e.detail) for e in container.partner_admin.file(hierarchy).history
               if e.actor == "back-office:alice"]
    assert history[-4:] == [("partner user added", "nils@example.se as User"),
                            ("partner user changed", "nils@example.se: role Admin"),
                            ("partner user changed", "person1@example.com: role User"),
                            ("partner user removed", "person1@example.com")]


def test_the_list_pages_with_cursors_and_finds_by_name_number_and_email(container):
    ids = [approved_partner(container, n)[0] for n in (1, 2, 3)]
    first = container.partner_admin.page(limit=2)
    assert [r.hierarchy.id for r in first.rows] == ids[:2] and first.next_cursor == ids[1]
    rest = container.partner_admin.page(cursor=first.next_cursor, limit=2)
    assert [r.hierarchy.id for r in rest.rows] == ids[2:] and rest.next_cursor is None
    row = first.rows[0]
    assert (row.users, [a.email for a in row.admins], row.credit) == (1, ["person1@example.com"], None)

    container.partner_admin.rename(ids[1], {"operator": "alice", "name": "Ålands Ölhandel"})
    assert [r.hierarchy.id for r in container.partner_admin.page("ölhand").rows] == [ids[1]]
    assert [r.hierarchy.id for r in container.partner_admin.page(ids[2].lower()).rows] == [ids[2]]
    assert [r.hierarchy.id for r in container.partner_admin.page(" Person3@Example.com ").rows] == [ids[2]]
    assert container.partner_admin.page("nobody@example.com").rows == []
    assert container.partner_admin.page("CH-999999").rows == []
    with pytest.raises(InvalidInput):
        container.partner_admin.page(cursor="x' or 1=1")
    with pytest.raises(InvalidInput):
        container.partner_admin.page(limit=0)


def test_a_blocked_partner_is_listed_as_blocked(container, partner):
    hierarchy, _ = partner
    container.partner_admin.block(hierarchy, {"operator": "alice", "reason": "fraud"})
    [row] = container.partner_admin.page().rows
    assert row.hierarchy.status is PartnerStatus.BLOCKED and row.credit.limit == 1000
    assert caller("person1@example.com")  # the caller helper still names the same account
