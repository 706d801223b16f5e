"""Back-office decisions: the effects of a Sales outcome, once, named after the operator; and SALES_MODE=none."""
from __future__ import annotations

import pytest

from shared.adapters.clock import ManualClock
from shared.bootstrap import Container
from shared.config import Settings
from shared.domain.errors import InvalidInput, MalformedMessage, NotFound
from shared.domain.ids import customer_id_for
from shared.domain.messages import CreateLead
from shared.domain.model import CustomerType, ProspectStatus
from shared.domain.errors import DecisionConflict
from tests.services.flow import DECISIONS_ONLY, count, sales_count, signup_body, work
from tests.services.partners import customers, new_user


def pending(c: Container, n: int = 1) -> list[str]:
    """``n`` signups synced into pending prospects; their numbers."""
    for i in range(1, n + 1):
        c.intake.submit(signup_body(i))
    c.channel_sync.run()
    return sorted(p.number for p in c.operator.prospects(ProspectStatus.PENDING))


def effects(c: Container) -> dict[str, int]:
    return {table: count(c, table) for table in ("customers", "hierarchies", "members", "emails")}


@pytest.fixture
def no_sales(tmp_path) -> Container:
    c = Container.build(Settings.from_env({"SALES_MODE": "none", **DECISIONS_ONLY}, data_dir=tmp_path), clock=ManualClock())
    yield c
    c.store.close()
    c.queue.close()


def test_approve_creates_each_effect_once(container):
    number = pending(container)[0]
    decision = container.back_office.approve(number.lower(), "alice")
    assert decision.changed and decision.status is ProspectStatus.APPROVED and decision.hierarchy_id == "CH-000001"
    assert decision.decided_by == "back-office:alice"
    assert effects(container) == {"customers": 2, "hierarchies": 1, "members": 1, "emails": 1}

    details = container.operator.prospect(number)
    p = details.prospect
    assert p.status is ProspectStatus.APPROVED and p.opportunity_id is None
    assert p.person_customer_id == customer_id_for(p.id, CustomerType.PERSON.value)
    assert p.organization_customer_id == customer_id_for(p.id, CustomerType.ORGANIZATION.value)
    assert details.hierarchy.name == "Company 1 & Sons" and details.hierarchy.purpose == "B2B organization"
    assert details.hierarchy.organization_customer_id == p.organization_customer_id
    assert [(m.customer_id, m.role.value, m.status.value) for m in details.members] == [
        (p.person_customer_id, "Admin", "Active")]
    with container.store.unit_of_work(read_only=True) as uow:
        person = uow.get_customer(p.person_customer_id)
        organization = uow.get_customer(p.organization_customer_id)
    assert (person.first_name, person.last_name, person.email) == ("First1", "Last1", "person1@example.com")
    assert organization.name == "Company 1 & Sons" and organization.city == "Uppsala"
    assert {h.action for h in details.history if h.actor == "back-office:alice"} == {"customers created", "approved"}

    work(container)
    emails = container.operator.emails()
    assert [(e.template, e.status.value) for e in emails] == [("prospect_approved", "delivered")]
    assert len(container.transport.list()) == 1

    again = container.back_office.approve(p.id, "bob")
    assert not again.changed and again.status is ProspectStatus.APPROVED and again.decided_by == "back-office:alice"
    work(container)
    assert effects(container) == {"customers": 2, "hierarchies": 1, "members": 1, "emails": 1}
    assert len(container.transport.list()) == 1
    assert not any(h.actor == "back-office:bob" for h in container.operator.prospect(number).history)


def test_reject_then_approve_is_a_conflict(container):
    first, second = pending(container, 2)
    decision = container.back_office.reject(first, "  Not a fit for us  ", "carol")
    assert decision.changed and decision.status is ProspectStatus.REJECTED
    assert not container.back_office.reject(first, "again", "carol").changed
    with pytest.raises(DecisionConflict, match="Rejected"):
        container.back_office.approve(first, "dave")
    work(container)
    p = container.operator.prospect(first).prospect
    assert p.rejection_reason == "Not a fit for us" and p.decided_by == "back-office:carol" and not p.person_customer_id
    assert effects(container) == {"customers": 0, "hierarchies": 0, "members": 0, "emails": 1}
    assert [e.template for e in container.operator.emails()] == ["prospect_rejected"]

    container.back_office.approve(second, "dave")
    with pytest.raises(DecisionConflict, match="Approved"):
        container.back_office.reject(second, "changed my mind", "dave")
    assert container.operator.prospect(second).prospect.status is ProspectStatus.APPROVED


def test_refusals(container):
    number = pending(container)[0]
    with pytest.raises(NotFound):
        container.back_office.approve("PRO-999999", "alice")
    with pytest.raises(InvalidInput, match="operator"):
        container.back_office.approve(number, "  ")
    with pytest.raises(InvalidInput, match="operator"):
        container.back_office.approve(number, "x" * 65)
    with pytest.raises(InvalidInput, match="reason"):
        container.back_office.reject(number, "", "alice")
    with pytest.raises(InvalidInput, match="reason"):
        container.back_office.reject(number, "bad\x00reason", "alice")
    assert container.operator.prospect(number).prospect.status is ProspectStatus.PENDING


def test_with_sales_the_back_office_uses_the_customers_sales_made_and_later_outcomes_do_not_apply(container):
    first, second = pending(container, 2)
    work(container)  # leads created
    leads = {lead["prospect_number"]: lead["leadid"] for lead in container.sales.b2b_leads()}
    opportunity = container.sales.qualify(leads[first]).opportunity_id
    work(container)  # "qualified": customers from Sales' contact and account
    qualified = container.operator.prospect(first).prospect
    assert qualified.status is ProspectStatus.PENDING and qualified.is_qualified

    container.back_office.approve(first, "alice")
    container.sales.win(opportunity)
    container.back_office.approve(second, "alice")
    container.sales.disqualify(leads[second])
    work(container)

    approved = container.operator.prospect(first).prospect
    assert approved.status is ProspectStatus.APPROVED and approved.decided_by == "back-office:alice"
    assert approved.opportunity_id == opportunity and approved.person_customer_id == qualified.person_customer_id
    assert effects(container) == {"customers": 4, "hierarchies": 2, "members": 2, "emails": 2}
    late = container.operator.prospect(second)
    assert late.prospect.needs_attention and "lead_disqualified" in late.prospect.attention_reason
    assert late.prospect.status is ProspectStatus.APPROVED


def test_without_sales_signup_sync_approve_and_no_lead_anywhere(no_sales, tmp_path):
    c = no_sales
    assert c.sales is None
    first, second = pending(c, 2)
    assert c.queue.count(c.settings.lead_queue) == 0
    assert count(c, "outbox", "WHERE queue = ?", (c.settings.lead_queue,)) == 0
    assert work(c) == 0

    assert c.back_office.approve(first, "alice").status is ProspectStatus.APPROVED
    assert c.back_office.reject(second, "no", "alice").status is ProspectStatus.REJECTED
    assert work(c) == 2  # the two emails
    assert len(c.transport.list()) == 2
    assert effects(c) == {"customers": 2, "hierarchies": 1, "members": 1, "emails": 2}
    for number in (first, second):
        p = c.operator.prospect(number).prospect
        assert p.lead_created_at is None and p.decided_by == "back-office:alice"
    assert not (tmp_path / "sales.sqlite3").exists()


def test_without_sales_a_leftover_create_lead_message_is_noted_once(no_sales):
    c = no_sales
    number = pending(c)[0]
    prospect = c.operator.prospect(number).prospect
    body = CreateLead(prospect_id=prospect.id).to_json()
    c.queue.send(c.settings.lead_queue, body)
    c.queue.send(c.settings.lead_queue, body)
    assert work(c) == 2
    notes = [h for h in c.operator.prospect(number).history if h.action == "no lead created"]
    assert len(notes) == 1 and "SALES_MODE=none" in notes[0].detail
    assert c.queue.count(c.settings.lead_queue + "-poison") == 0
    with pytest.raises(MalformedMessage):
        c.lead_creation.handle(CreateLead(prospect_id="nope").to_json())


def test_sales_mode_none_is_a_valid_setting():
    assert Settings.from_env({"SALES_MODE": "none"}).sales_mode == "none"
    with pytest.raises(ValueError, match="none"):
        Settings.from_env({"SALES_MODE": "crm"})


def test_embedded_sales_still_gets_its_leads(container):
    pending(container, 2)
    work(container)
    assert sales_count(container, "leads") == 2


@pytest.mark.parametrize("name, problem", [
    # a zero-width space: looks like "alice" in a history
    ("al\u200bice", "has a hidden character (U+200B), often pasted along with copied text: please type it again"),
    ("\u202eecila", "has a hidden character (U+202E), often pasted along with copied text: please type it again"),  # a right-to-left override
    ("alice\nbob", "must be on one line, without line breaks"),
    ("x" * 65, "may be at most 64 characters"),
    ("  ", "is required"),
    (7, "must be text"),
])
def test_an_operator_name_follows_one_rule_in_every_back_office_action(container, name, problem):
    # Deciding, adding a user and onboarding by hand all record the operator: one name, one rule.
    number = pending(container)[0]
    org, anna, _ = customers(container)
    actions = [
        lambda: container.back_office.approve(number, name),
        lambda: container.back_office.acknowledge(number, "a note", name),
        lambda: container.partner_users.add_by_operator("CH-000001", {**new_user("x@example.com"), "operator": name}),
        lambda: container.partner_onboarding.onboard({"organizationCustomerId": org.id, "operator": name,
                                                      "members": [{"customerId": anna.id, "role": "Admin"}]}),
    ]
    for action in actions:
        with pytest.raises(InvalidInput) as refused:
            action()
        assert refused.value.problems == [("operator", problem)]
    assert container.operator.partners() == []
