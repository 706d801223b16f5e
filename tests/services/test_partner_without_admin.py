"""A partner approved without a sign-in user (its requester's email signs in for another partner already)
is flagged; the back office adds it an Admin, with the rules and sync of an admin's add, and acknowledges
the flag, which the history keeps."""
from __future__ import annotations

import pytest

from shared.domain.errors import InvalidInput, NotFound
from shared.domain.model import HierarchyRole, MemberStatus
from shared.domain.partners import EmailTaken, UserStatus
from tests.services.flow import work
from tests.services.partners import caller, emails_to, new_user, partner_without_admin


def test_an_approval_whose_requester_signs_in_elsewhere_is_flagged_and_leaves_no_user(container):
    hierarchy, number = partner_without_admin(container)
    prospect = container.operator.prospect(number).prospect
    assert prospect.status.value == "Approved" and prospect.needs_attention
    assert "signs in for partner CH-000001 already" in prospect.attention_reason
    assert f"b2b add-user {hierarchy}" in prospect.attention_reason
    assert f"/api/backoffice/partners/{hierarchy}/users" in prospect.attention_reason
    assert container.operator.partner(hierarchy).users == []
    me, partner = container.partner_users.me(caller("person2@example.com"))
    assert partner.id == "CH-000001"  # still the user of the first partner: one email, one user


def test_the_back_office_adds_an_admin_who_then_manages_the_partner(container):
    hierarchy, number = partner_without_admin(container)
    body = {**new_user("Boss@Company2.example", role="Admin"), "operator": "alice"}
    added = container.partner_users.add_by_operator(hierarchy, body)
    assert added.created and added.user.status is UserStatus.PENDING and added.user.role is HierarchyRole.ADMIN
    assert not container.partner_users.add_by_operator(hierarchy, body).created  # a retried request
    work(container)
    container.channel_sync.run()
    work(container)

    boss = caller("boss@company2.example")
    [user] = container.partner_users.list(boss, hierarchy)
    assert (user.status, user.role) == (UserStatus.ACTIVE, HierarchyRole.ADMIN)
    with container.store.unit_of_work(read_only=True) as uow:
        members = {m.customer_id: m for m in uow.members(hierarchy)}
    # Beside the requester's Person customer (the hierarchy's Admin member from the approval, no sign-in).
    assert len(members) == 2 and (members[user.customer_id].role, members[user.customer_id].status) == (
        HierarchyRole.ADMIN, MemberStatus.ACTIVE)
    assert emails_to(container, "boss@company2.example") == ["user_added"]
    container.partner_users.add(boss, hierarchy, new_user("buyer@company2.example"))  # an Admin indeed


def test_acknowledging_clears_the_flag_once_and_the_history_keeps_why(container, clock):
    hierarchy, number = partner_without_admin(container)
    reason = container.operator.prospect(number).prospect.attention_reason
    assert [p.number for p in container.operator.prospects(needs_attention=True)] == [number]

    done = container.back_office.acknowledge(number, "Admin boss@company2.example added", "alice")
    assert done.changed and done.reason == reason and done.number == number
    assert container.operator.prospects(needs_attention=True) == []
    details = container.operator.prospect(number)
    assert not details.prospect.needs_attention and details.prospect.attention_reason is None
    [entry] = [h for h in details.history if h.action == "attention acknowledged"]
    assert entry.actor == "back-office:alice"
    assert entry.detail == f"Admin boss@company2.example added (the flag said: {reason})"

    again = container.back_office.acknowledge(number.lower(), "twice", "alice")
    assert not again.changed
    assert len([h for h in container.operator.prospect(number).history if h.action == "attention acknowledged"]) == 1


def test_what_the_back_office_may_not_do(container):
    hierarchy, number = partner_without_admin(container)
    with pytest.raises(NotFound):
        container.partner_users.add_by_operator("CH-999999", {**new_user("x@example.com"), "operator": "alice"})
    with pytest.raises(EmailTaken):  # person2 signs in for partner 1: the back office cannot make a second user
        container.partner_users.add_by_operator(hierarchy, {**new_user("person2@example.com"), "operator": "alice"})
    with pytest.raises(InvalidInput) as missing:
        container.partner_users.add_by_operator(hierarchy, new_user("x@example.com"))
    assert missing.value.problems == [("operator", "is required")]
    with pytest.raises(InvalidInput) as unknown:
        container.partner_users.add_by_operator(hierarchy, {**new_user("x@example.com"), "operator": "a", "admin": 1})
    assert unknown.value.problems[0][0] == "admin"
    with pytest.raises(InvalidInput) as no_note:
        container.back_office.acknowledge(number, "  ", "alice")
    assert no_note.value.problems == [("note", "is required")]
    with pytest.raises(NotFound):
        container.back_office.acknowledge("PRO-999999", "n", "alice")
    assert container.operator.partner(hierarchy).users == []
    assert container.operator.prospect(number).prospect.needs_attention
