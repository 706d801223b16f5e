"""Partner admins manage their users; the user sync applies each change once; who may do what."""
from __future__ import annotations

from decimal import Decimal

import pytest

from shared.domain.errors import Forbidden, InvalidInput, NotFound
from shared.domain.model import HierarchyRole, MemberStatus
from shared.domain.partners import EmailTaken, LastAdmin, UserChange, UserStatus, user_id_for
from tests.services.flow import work
from tests.services.partners import approved_partner, caller, emails_to, new_user


def members(c, hierarchy_id):
    with c.store.unit_of_work(read_only=True) as uow:
        return {m.customer_id: m for m in uow.members(hierarchy_id)}


def test_the_requester_is_the_partners_first_user_an_active_admin_without_limit(container):
    hierarchy, admin = approved_partner(container)
    [user] = container.partner_users.list(admin, hierarchy)
    assert (user.email, user.role, user.status, user.spending_limit) == (
        "person1@example.com", HierarchyRole.ADMIN, UserStatus.ACTIVE, None)
    me, partner = container.partner_users.me(admin)
    assert me == user and partner.id == hierarchy


def test_added_user_is_pending_until_the_sync_makes_it_an_active_member_with_an_email(container):
    hierarchy, admin = approved_partner(container)
    added = container.partner_users.add(admin, hierarchy, new_user("Nils@Example.se", spendingLimit="250.00",
                                                                   language="sv"))
    assert added.created and added.user.status is UserStatus.PENDING and added.user.sync is UserChange.ADD
    assert added.user.spending_limit == Decimal("250.00")
    assert added.user.customer_id not in members(container, hierarchy)

    assert container.channel_sync.run().users_synced == 1
    user = container.partner_users.get(admin, hierarchy, added.user.id)
    assert user.status is UserStatus.ACTIVE and user.sync is None and user.activated_at is not None
    member = members(container, hierarchy)[user.customer_id]
    assert (member.role, member.status) == (HierarchyRole.USER, MemberStatus.ACTIVE)
    with container.store.unit_of_work(read_only=True) as uow:
        person = uow.get_customer(user.customer_id)
    assert (person.type.value, person.first_name, person.email) == ("Person", "Nils", "Nils@example.se")
    assert emails_to(container, "nils@example.se") == ["user_added"]
    [email] = [e for e in container.operator.emails() if e.template == "user_added"]
    assert email.language == "sv" and email.values["company"] == "Company 1 & Sons"

    assert container.channel_sync.run().users_synced == 0  # nothing twice
    work(container)
    assert emails_to(container, "nils@example.se") == ["user_added"]


def test_a_repeated_add_is_harmless_and_a_different_one_is_a_conflict(container):
    hierarchy, admin = approved_partner(container)
    first = container.partner_users.add(admin, hierarchy, new_user("nils@example.se"))
    again = container.partner_users.add(admin, hierarchy, new_user("NILS@example.se"))
    assert again.user == first.user and not again.created
    with pytest.raises(EmailTaken):
        container.partner_users.add(admin, hierarchy, new_user("nils@example.se", firstName="Other"))


def test_one_sign_in_email_is_one_user_across_partners(container):
    a, admin_a = approved_partner(container, 1)
    b, admin_b = approved_partner(container, 2)
    container.partner_users.add(admin_a, a, new_user("shared@example.com"))
    with pytest.raises(EmailTaken) as refused:
        container.partner_users.add(admin_b, b, new_user("Shared@Example.com"))
    assert a not in str(refused.value)  # partner B learns nothing about partner A
    with pytest.raises(EmailTaken):  # nor may B add A's admin
        container.partner_users.add(admin_b, b, new_user("person1@example.com"))


def test_edit_goes_through_the_sync_and_keeps_the_user_active(container):
    hierarchy, admin = approved_partner(container)
    user = container.partner_users.add(admin, hierarchy, new_user("nils@example.se")).user
    container.channel_sync.run()
    edited = container.partner_users.edit(admin, hierarchy, user.id, {"lastName": "Karlsson", "role": "Admin",
                                                                       "spendingLimit": None})
    assert edited.status is UserStatus.ACTIVE and edited.sync is UserChange.EDIT and edited.version == 2
    assert edited.spending_limit is None and edited.role is HierarchyRole.ADMIN
    container.channel_sync.run()
    assert members(container, hierarchy)[user.customer_id].role is HierarchyRole.ADMIN
    with container.store.unit_of_work(read_only=True) as uow:
        assert uow.get_customer(user.customer_id).name == "Nils Karlsson"
    assert emails_to(container, "nils@example.se") == ["user_added"]  # an edit sends no email
    unchanged = container.partner_users.edit(admin, hierarchy, user.id, {"lastName": "Karlsson"})
    assert unchanged.version == 2 and unchanged.sync is None


def test_a_synced_edit_keeps_when_the_member_joined(container, clock):
    hierarchy, admin = approved_partner(container)
    user = container.partner_users.add(admin, hierarchy, new_user("nils@example.se")).user
    container.channel_sync.run()
    joined = members(container, hierarchy)[user.customer_id].added_at
    clock.advance(3600)
    container.partner_users.edit(admin, hierarchy, user.id, {"role": "Admin"})
    container.channel_sync.run()
    member = members(container, hierarchy)[user.customer_id]
    assert (member.role, member.added_at) == (HierarchyRole.ADMIN, joined)


def test_an_edit_before_the_sync_stays_an_add_with_the_new_values(container):
    hierarchy, admin = approved_partner(container)
    user = container.partner_users.add(admin, hierarchy, new_user("nils@example.se")).user
    container.partner_users.edit(admin, hierarchy, user.id, {"firstName": "Nisse"})
    container.channel_sync.run()
    with container.store.unit_of_work(read_only=True) as uow:
        assert uow.get_customer(user.customer_id).first_name == "Nisse"
    assert emails_to(container, "nils@example.se") == ["user_added"]


def test_remove_leaves_the_hierarchy_keeps_the_customer_and_says_goodbye(container):
    hierarchy, admin = approved_partner(container)
    user = container.partner_users.add(admin, hierarchy, new_user("nils@example.se")).user
    container.channel_sync.run()
    removed = container.partner_users.remove(admin, hierarchy, user.id)
    assert removed.status is UserStatus.REMOVED and removed.sync is UserChange.REMOVE
    assert container.partner_users.list(admin, hierarchy) == [container.partner_users.me(admin)[0]]
    container.channel_sync.run()
    assert user.customer_id not in members(container, hierarchy)
    with container.store.unit_of_work(read_only=True) as uow:
        assert uow.get_customer(user.customer_id) is not None
    assert emails_to(container, "nils@example.se") == ["user_added", "user_removed"]
    with pytest.raises(NotFound):
        container.partner_users.remove(admin, hierarchy, user.id)


def test_a_user_removed_before_the_sync_is_never_told(container):
    hierarchy, admin = approved_partner(container)
    user = container.partner_users.add(admin, hierarchy, new_user("nils@example.se")).user
    container.partner_users.remove(admin, hierarchy, user.id)
    container.channel_sync.run()
    assert emails_to(container, "nils@example.se") == []
    assert user.customer_id not in members(container, hierarchy)


def test_a_removed_user_may_join_another_partner_as_the_same_user_and_customer(container):
    a, admin_a = approved_partner(container, 1)
    b, admin_b = approved_partner(container, 2)
    user = container.partner_users.add(admin_a, a, new_user("nils@example.se")).user
    container.channel_sync.run()
    container.partner_users.remove(admin_a, a, user.id)
    # re-added elsewhere before the sync took it out of A: the sync does both
    moved = container.partner_users.add(admin_b, b, new_user("nils@example.se")).user
    assert (moved.id, moved.customer_id, moved.hierarchy_id) == (user.id, user.customer_id, b)
    container.channel_sync.run()
    assert user.customer_id not in members(container, a)
    assert members(container, b)[user.customer_id].status is MemberStatus.ACTIVE
    with pytest.raises(NotFound):
        container.partner_users.get(admin_a, a, user.id)


def test_moved_through_a_partner_between_two_syncs_still_leaves_the_first(container):
    # Removed from A, added to B, removed from B, added to C, all before a sync: the user was never a
    # member of B, but is still one of A, which the sync must take it out of.
    a, admin_a = approved_partner(container, 1)
    b, admin_b = approved_partner(container, 2)
    c, admin_c = approved_partner(container, 3)
    user = container.partner_users.add(admin_a, a, new_user("nils@example.se")).user
    container.channel_sync.run()
    container.partner_users.remove(admin_a, a, user.id)
    container.partner_users.add(admin_b, b, new_user("nils@example.se"))
    container.partner_users.remove(admin_b, b, user.id)
    moved = container.partner_users.add(admin_c, c, new_user("nils@example.se")).user
    assert moved.leaves_hierarchy_id == a
    container.channel_sync.run()
    assert user.customer_id not in members(container, a)
    assert user.customer_id not in members(container, b)
    assert members(container, c)[user.customer_id].status is MemberStatus.ACTIVE


def test_removed_before_a_move_was_synced_is_told_of_the_partner_it_leaves(container):
    a, admin_a = approved_partner(container, 1)
    b, admin_b = approved_partner(container, 2)
    user = container.partner_users.add(admin_a, a, new_user("nils@example.se")).user
    container.channel_sync.run()
    work(container)
    container.partner_users.remove(admin_a, a, user.id)
    container.partner_users.add(admin_b, b, new_user("nils@example.se"))
    container.partner_users.remove(admin_b, b, user.id)  # never joined B
    container.channel_sync.run()
    work(container)
    assert user.customer_id not in members(container, a)
    [removed] = [e for e in container.operator.emails() if e.template == "user_removed"]
    assert removed.values["company"] == "Company 1 & Sons"  # A, not B


def test_a_partner_keeps_at_least_one_admin(container):
    hierarchy, admin = approved_partner(container)
    admin_id = user_id_for(admin.verified_email)
    with pytest.raises(LastAdmin):
        container.partner_users.edit(admin, hierarchy, admin_id, {"role": "User"})
    with pytest.raises(LastAdmin):
        container.partner_users.remove(admin, hierarchy, admin_id)
    second = container.partner_users.add(admin, hierarchy, new_user("boss@example.se", role="Admin")).user
    container.partner_users.edit(admin, hierarchy, admin_id, {"role": "User"})  # another Admin stays
    container.channel_sync.run()
    with pytest.raises(Forbidden):  # no longer an Admin
        container.partner_users.remove(admin, hierarchy, second.id)
    with pytest.raises(LastAdmin):
        container.partner_users.remove(caller("boss@example.se"), hierarchy, second.id)


def test_who_may_do_what(container):
    a, admin_a = approved_partner(container, 1)
    b, admin_b = approved_partner(container, 2)
    plain = container.partner_users.add(admin_a, a, new_user("plain@example.se")).user
    with pytest.raises(NotFound):  # a Pending user signs in to nothing yet
        container.partner_users.list(caller("plain@example.se"), a)
    container.channel_sync.run()
    with pytest.raises(Forbidden):  # a User of the partner may not manage its users
        container.partner_users.list(caller("plain@example.se"), a)
    for attempt in (lambda: container.partner_users.list(admin_b, a),
                    lambda: container.partner_users.add(admin_b, a, new_user("x@example.se")),
                    lambda: container.partner_users.edit(admin_b, a, plain.id, {"firstName": "X"}),
                    lambda: container.partner_users.remove(admin_b, a, plain.id),
                    lambda: container.partner_users.get(admin_b, a, plain.id),
                    lambda: container.partner_users.list(caller("stranger@example.org"), a),
                    lambda: container.partner_users.list(admin_a, "CH-999999")):
        with pytest.raises(NotFound, match="no partner"):
            attempt()
    with pytest.raises(NotFound):  # B's admin cannot reach A's user through B either
        container.partner_users.edit(admin_b, b, plain.id, {"firstName": "X"})


@pytest.mark.parametrize("body, field", [
    ({"firstName": "A", "lastName": "B", "email": "not-an-email"}, "email"),
    ({"firstName": "", "lastName": "B", "email": "a@example.se"}, "firstName"),
    ({"firstName": "A", "lastName": "B", "email": "a@example.se", "role": "Owner"}, "role"),
    ({"firstName": "A", "lastName": "B", "email": "a@example.se", "spendingLimit": 12.5}, "spendingLimit"),
    ({"firstName": "A", "lastName": "B", "email": "a@example.se", "spendingLimit": "-1"}, "spendingLimit"),
    ({"firstName": "A", "lastName": "B", "email": "a@example.se", "spendingLimit": "1.00001"}, "spendingLimit"),
    ({"firstName": "A", "lastName": "B", "email": "a@example.se", "admin": True}, "admin"),
])
def test_bad_user_input_names_the_field_and_writes_nothing(container, body, field):
    hierarchy, admin = approved_partner(container)
    with pytest.raises(InvalidInput) as error:
        container.partner_users.add(admin, hierarchy, body)
    assert field in [f for f, _ in error.value.problems]
    assert len(container.partner_users.list(admin, hierarchy)) == 1


def test_an_edit_must_name_a_field(container):
    hierarchy, admin = approved_partner(container)
    with pytest.raises(InvalidInput):
        container.partner_users.edit(admin, hierarchy, user_id_for(admin.verified_email), {})
    with pytest.raises(InvalidInput):
        container.partner_users.edit(admin, hierarchy, user_id_for(admin.verified_email), {"firstName": None})
