"""The back office onboards an existing organization and its persons as a partner, by hand."""
from __future__ import annotations

import pytest

from shared.domain.errors import DuplicateRecord, IdempotencyConflict, InvalidInput, NotFound
from shared.domain.model import HierarchyRole, MemberStatus, ProspectStatus
from shared.domain.partners import EmailTaken, FromProspect, UserStatus, user_id_for
from tests.services.flow import signup_body, work
from tests.services.partners import approved_partner, caller, customers, emails_to, new_user


def test_onboarding_builds_the_hierarchy_and_the_sync_welcomes_each_person(container):
    org, anna, bo = customers(container)
    done = container.partner_onboarding.onboard({
        "organizationCustomerId": org.id, "operator": "alice",
        "members": [{"customerId": anna.id, "role": "Admin"},
                    {"customerId": bo.id, "role": "User", "spendingLimit": "300"}]})
    assert done.created and done.hierarchy.prospect_id is None and done.hierarchy.name == "Fabrikam AB"
    assert done.hierarchy.purpose == "B2B organization"
    assert {u.email: u.status for u in done.users} == {"anna@fabrikam.example": UserStatus.PENDING,
                                                      "bo@fabrikam.example": UserStatus.PENDING}
    container.channel_sync.run()
    with container.store.unit_of_work(read_only=True) as uow:
        members = {m.customer_id: m for m in uow.members(done.hierarchy.id)}
    assert members[anna.id].role is HierarchyRole.ADMIN and members[bo.id].status is MemberStatus.ACTIVE
    assert emails_to(container, "anna@fabrikam.example") == ["user_added"]
    # the hand-made partner works like any other: its admin manages users
    admin = caller("anna@fabrikam.example")
    container.partner_users.add(admin, done.hierarchy.id, new_user("cy@fabrikam.example"))
    assert len(container.partner_users.list(admin, done.hierarchy.id)) == 3

    again = container.partner_onboarding.onboard({"organizationCustomerId": org.id, "operator": "alice",
                                                  "members": [{"customerId": anna.id, "role": "Admin"}]})
    assert not again.created and again.hierarchy.id == done.hierarchy.id


def test_a_person_who_signs_in_elsewhere_refuses_the_whole_onboarding(container):
    hierarchy, admin = approved_partner(container)
    org, anna, bo = customers(container)
    container.partner_users.add(admin, hierarchy, new_user("bo@fabrikam.example"))
    with pytest.raises(EmailTaken):
        container.partner_onboarding.onboard({"organizationCustomerId": org.id, "operator": "alice",
                                              "members": [{"customerId": anna.id, "role": "Admin"},
                                                          {"customerId": bo.id}]})
    with container.store.unit_of_work(read_only=True) as uow:
        assert uow.get_partner_user(user_id_for("anna@fabrikam.example")) is None
    assert [u.email for u in container.partner_users.list(admin, hierarchy)] == [
        "bo@fabrikam.example", "person1@example.com"]


def test_an_organization_from_an_approved_prospect_is_a_partner_already(container):
    hierarchy, admin = approved_partner(container)
    with container.store.unit_of_work(read_only=True) as uow:
        organization_id = uow.get_hierarchy(hierarchy).organization_customer_id
    _, anna, _ = customers(container)
    with pytest.raises(DuplicateRecord):
        container.partner_onboarding.onboard({"organizationCustomerId": organization_id, "operator": "alice",
                                              "members": [{"customerId": anna.id, "role": "Admin"}]})


@pytest.mark.parametrize("members, error", [
    ([{"customerId": "ANNA", "role": "User"}], InvalidInput),  # no Admin
    ([{"customerId": "ANNA", "role": "Admin"}, {"customerId": "ANNA"}], InvalidInput),  # twice
    ([{"customerId": "ORG", "role": "Admin"}], InvalidInput),  # an organization as a person
    ([{"customerId": "nobody", "role": "Admin"}], NotFound),
])
def test_onboarding_rules(container, members, error):
    org, anna, _ = customers(container)
    ids = {"ANNA": anna.id, "ORG": org.id}
    members = [{**m, "customerId": ids.get(m["customerId"], m["customerId"])} for m in members]
    with pytest.raises(error):
        container.partner_onboarding.onboard({"organizationCustomerId": org.id, "operator": "a", "members": members})
    with pytest.raises(InvalidInput):  # a person is not an organization either
        container.partner_onboarding.onboard({"organizationCustomerId": anna.id, "operator": "a",
                                              "members": [{"customerId": anna.id, "role": "Admin"}]})


def test_customers_are_identified_by_account_number(container):
    body = {"accountNumber": "ACC-7", "type": "Person", "firstName": "Ada", "lastName": "L", "email": "ada@x.example"}
    first, created = container.partner_onboarding.add_customer(body)
    again, created_again = container.partner_onboarding.add_customer(body)
    assert created and not created_again and again == first
    with pytest.raises(IdempotencyConflict):
        container.partner_onboarding.add_customer({**body, "lastName": "Other"})
    with pytest.raises(InvalidInput) as missing:
        container.partner_onboarding.add_customer({"accountNumber": "ACC-8", "type": "Person", "firstName": "X"})
    assert {f for f, _ in missing.value.problems} == {"lastName", "email"}


def test_two_persons_whose_emails_differ_only_in_case_refuse_the_onboarding(container):
    # One email is one sign-in user: saving both would leave the second (a User) and lose the Admin.
    org, anna, _ = customers(container)
    anna_again, _ = container.partner_onboarding.add_customer({
        "accountNumber": "ACC-103", "type": "Person", "firstName": "Anna", "lastName": "Berg",
        "email": "Anna@Fabrikam.example"})
    with pytest.raises(InvalidInput) as refused:
        container.partner_onboarding.onboard({"organizationCustomerId": org.id, "operator": "alice",
                                              "members": [{"customerId": anna_again.id, "role": "Admin"},
                                                          {"customerId": anna.id, "role": "User"}]})
    assert [field for field, _ in refused.value.problems] == ["members"]
    assert "same email" in str(refused.value)
    with container.store.unit_of_work(read_only=True) as uow:
        assert uow.get_partner_user(user_id_for("anna@fabrikam.example")) is None
    assert container.operator.partners() == []


def _qualified_prospect(c):
    """A prospect whose lead Sales qualified (its customers exist) but that nobody decided yet."""
    c.intake.submit(signup_body(1))
    c.channel_sync.run()
    work(c)
    prospect = c.operator.prospects()[0]
    qualified = c.sales.qualify(prospect.lead_id)
    work(c)
    return c.operator.prospect(prospect.number).prospect, qualified


def _onboard_by_hand(c, prospect):
    _, anna, _ = customers(c)
    return c.partner_onboarding.onboard({"organizationCustomerId": prospect.organization_customer_id,
                                         "operator": "alice", "members": [{"customerId": anna.id, "role": "Admin"}]})


def test_an_organization_from_a_pending_prospect_becomes_a_partner_only_through_its_prospect(container):
    # A hand-made hierarchy would claim a number under the organization while winning the opportunity
    # claims another under the prospect: one organization, two hierarchies.
    prospect, qualified = _qualified_prospect(container)
    assert prospect.status is ProspectStatus.PENDING and prospect.organization_customer_id
    with pytest.raises(FromProspect, match=f"decide it in the back office instead \\(b2b approve {prospect.number}\\)"):
        _onboard_by_hand(container, prospect)
    assert container.operator.partners() == []

    container.sales.win(qualified.opportunity_id)
    work(container)
    assert [h.prospect_id for h in container.operator.partners()] == [prospect.id]


def test_an_organization_from_a_rejected_prospect_is_refused_too(container):
    prospect, qualified = _qualified_prospect(container)
    container.sales.lose(qualified.opportunity_id, 5)
    work(container)
    with pytest.raises(FromProspect, match=f"prospect {prospect.number}, which was rejected"):
        _onboard_by_hand(container, prospect)
    assert container.operator.partners() == []
