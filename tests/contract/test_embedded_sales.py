"""The embedded Sales stand-in beyond the port: Dataverse semantics of what a salesperson does."""
from __future__ import annotations

import pytest

from shared.adapters.clock import ManualClock
from shared.adapters.embedded_sales import EmbeddedSales, SalesError
from shared.adapters.sqlite_queue import SqliteQueue
from shared.domain.errors import NotFound
from shared.domain.ids import outcome_event_id
from shared.domain.messages import SalesOutcome, parse_message
from shared.domain.sales import (
    INTEGRATION_OWNER,
    LEAD_DISQUALIFY_REASONS,
    LEAD_QUALIFIED_STATUS,
    OPPORTUNITY_LOSS_REASONS,
    OPPORTUNITY_WON_STATUS,
    LeadState,
    OpportunityState,
)
from tests.contract.factories import lead_draft

OUTCOMES = "sales-outcomes"


@pytest.fixture
def clock():
    return ManualClock()


@pytest.fixture
def queue(tmp_path, clock):
    q = SqliteQueue(tmp_path / "queue.db", clock)
    yield q
    q.close()


@pytest.fixture
def sales(tmp_path, clock, queue):
    s = EmbeddedSales(tmp_path / "sales.db", clock, queue, OUTCOMES)
    yield s
    s.close()


@pytest.fixture
def lead(sales):
    draft = lead_draft(1)
    sales.create_lead(draft)
    return draft.lead_id


def outcomes(queue) -> list[SalesOutcome]:
    return [parse_message(m.body, SalesOutcome) for m in queue.peek(OUTCOMES, max_messages=32)]


def rows(sales, sql, params=()):
    with sales.database.transaction(read_only=True) as connection:
        return [dict(r) for r in connection.execute(sql, params).fetchall()]


# --- qualify -----------------------------------------------------------------------------------------

def test_qualify_sets_dataverse_states_and_creates_the_three_records(sales, lead, clock):
    clock.advance(60)
    qualification = sales.qualify(lead)
    snapshot = sales.get_lead(lead)
    assert (int(snapshot.statecode), snapshot.statuscode) == (1, 3) == (LeadState.QUALIFIED, LEAD_QUALIFIED_STATUS)
    assert snapshot.qualifying_opportunity_id == qualification.opportunity_id
    assert snapshot.modified_on > snapshot.created_on
    opportunity = sales.opportunity(qualification.opportunity_id)
    assert opportunity["originatingleadid"] == lead
    assert (opportunity["statecode"], opportunity["statuscode"]) == (OpportunityState.OPEN, 1)
    assert opportunity["parentaccountid"] == qualification.account.account_id
    assert opportunity["parentcontactid"] == qualification.contact.contact_id
    assert rows(sales, "SELECT originatingleadid FROM accounts") == [{"originatingleadid": lead}]
    assert rows(sales, "SELECT originatingleadid FROM contacts") == [{"originatingleadid": lead}]
    assert sales.get_qualification(lead) == qualification


def test_qualify_emits_one_outcome_with_the_deterministic_event_id(sales, lead, queue):
    qualification = sales.qualify(lead)
    (outcome,) = outcomes(queue)
    assert outcome.kind == "lead_qualified"
    assert outcome.event_id == outcome_event_id("lead_qualified", lead)
    assert outcome.event_id == outcome_event_id("lead_qualified", lead.upper())
    assert outcome.lead_id == lead
    assert outcome.opportunity_id == qualification.opportunity_id
    assert outcome.qualification == qualification
    assert outcome.occurred_at.utcoffset().total_seconds() == 0


def test_qualify_twice_raises_and_emits_nothing_more(sales, lead, queue):
    sales.qualify(lead)
    with pytest.raises(SalesError):
        sales.qualify(lead)
    assert len(outcomes(queue)) == 1
    assert len(rows(sales, "SELECT * FROM opportunities")) == 1
    assert len(rows(sales, "SELECT * FROM accounts")) == 1


def test_qualify_unknown_lead_is_not_found(sales, queue):
    with pytest.raises(NotFound):
        sales.qualify("00000000-0000-0000-0000-000000000000")
    assert outcomes(queue) == []


def test_decisions_accept_lead_ids_in_any_case(sales, lead, queue):
    qualification = sales.qualify(lead.upper())
    assert sales.get_lead(lead).statecode is LeadState.QUALIFIED
    sales.win(qualification.opportunity_id.upper())
    assert sales.opportunity(qualification.opportunity_id)["statecode"] == OpportunityState.WON
    assert [o.event_id for o in outcomes(queue)] == [
        outcome_event_id("lead_qualified", lead), outcome_event_id("opportunity_won", qualification.opportunity_id)]


# --- disqualify ----------------------------------------------------------------------------------------

@pytest.mark.parametrize("statuscode", sorted(LEAD_DISQUALIFY_REASONS))
def test_disqualify_with_each_reason(sales, lead, queue, statuscode):
    sales.disqualify(lead, statuscode)
    snapshot = sales.get_lead(lead)
    assert (snapshot.statecode, snapshot.statuscode) == (LeadState.DISQUALIFIED, statuscode)
    (outcome,) = outcomes(queue)
    assert outcome.kind == "lead_disqualified"
    assert outcome.event_id == outcome_event_id("lead_disqualified", lead)
    assert outcome.reason == LEAD_DISQUALIFY_REASONS[statuscode]
    assert outcome.opportunity_id is None and outcome.qualification is None
    assert sales.get_qualification(lead) is None


@pytest.mark.parametrize("statuscode", [0, 1, 2, 3, 8, -4])
def test_disqualify_with_an_invalid_reason_raises(sales, lead, queue, statuscode):
    with pytest.raises(SalesError):
        sales.disqualify(lead, statuscode)
    assert sales.get_lead(lead).statecode is LeadState.OPEN
    assert outcomes(queue) == []


def test_disqualify_a_qualified_lead_raises(sales, lead, queue):
    sales.qualify(lead)
    with pytest.raises(SalesError):
        sales.disqualify(lead, 4)
    assert sales.get_lead(lead).statecode is LeadState.QUALIFIED
    assert [o.kind for o in outcomes(queue)] == ["lead_qualified"]


def test_disqualified_lead_cannot_be_disqualified_or_qualified_again(sales, lead, queue):
    sales.disqualify(lead, 5)
    with pytest.raises(SalesError):
        sales.disqualify(lead, 6)
    with pytest.raises(SalesError):
        sales.qualify(lead)
    assert sales.get_lead(lead).statuscode == 5
    assert [o.kind for o in outcomes(queue)] == ["lead_disqualified"]


def test_disqualify_unknown_lead_is_not_found(sales):
    with pytest.raises(NotFound):
        sales.disqualify("00000000-0000-0000-0000-000000000000", 4)


# --- win / lose ----------------------------------------------------------------------------------------

@pytest.fixture
def opportunity(sales, lead):
    return sales.qualify(lead).opportunity_id


def test_win_closes_the_opportunity_and_emits_one_outcome(sales, lead, opportunity, queue):
    sales.win(opportunity)
    row = sales.opportunity(opportunity)
    assert (row["statecode"], row["statuscode"]) == (OpportunityState.WON, OPPORTUNITY_WON_STATUS) == (1, 3)
    assert len(rows(sales, "SELECT * FROM opportunitycloses WHERE opportunityid = ?", (opportunity,))) == 1
    qualified, won = outcomes(queue)
    assert qualified.kind == "lead_qualified"
    assert won.kind == "opportunity_won"
    assert won.event_id == outcome_event_id("opportunity_won", opportunity)
    assert won.lead_id == lead
    assert won.opportunity_id == opportunity
    assert won.reason is None


@pytest.mark.parametrize("statuscode", sorted(OPPORTUNITY_LOSS_REASONS))
def test_lose_with_each_reason(sales, lead, opportunity, queue, statuscode):
    sales.lose(opportunity, statuscode)
    row = sales.opportunity(opportunity)
    assert (row["statecode"], row["statuscode"]) == (OpportunityState.LOST, statuscode)
    lost = outcomes(queue)[-1]
    assert lost.kind == "opportunity_lost"
    assert lost.event_id == outcome_event_id("opportunity_lost", opportunity)
    assert lost.lead_id == lead and lost.opportunity_id == opportunity
    assert lost.reason == OPPORTUNITY_LOSS_REASONS[statuscode]


@pytest.mark.parametrize("statuscode", [0, 1, 2, 3, 6])
def test_lose_with_an_invalid_reason_raises(sales, opportunity, queue, statuscode):
    with pytest.raises(SalesError):
        sales.lose(opportunity, statuscode)
    assert sales.opportunity(opportunity)["statecode"] == OpportunityState.OPEN
    assert [o.kind for o in outcomes(queue)] == ["lead_qualified"]


@pytest.mark.parametrize("first, second", [("win", "win"), ("win", "lose"), ("lose", "win"), ("lose", "lose")])
def test_closing_twice_raises(sales, opportunity, queue, first, second):
    getattr(sales, first)(opportunity)
    with pytest.raises(SalesError):
        getattr(sales, second)(opportunity)
    expected = OpportunityState.WON if first == "win" else OpportunityState.LOST
    assert sales.opportunity(opportunity)["statecode"] == expected
    assert len(outcomes(queue)) == 2
    assert len(rows(sales, "SELECT * FROM opportunitycloses")) == 1


def test_close_unknown_opportunity_is_not_found(sales, queue):
    with pytest.raises(NotFound):
        sales.win("00000000-0000-0000-0000-000000000000")
    with pytest.raises(NotFound):
        sales.lose("00000000-0000-0000-0000-000000000000")
    assert outcomes(queue) == []


def test_every_decision_emits_exactly_one_outcome(sales, queue):
    drafts = [lead_draft(n) for n in range(1, 5)]
    for draft in drafts:
        sales.create_lead(draft)
    assert outcomes(queue) == []  # creating a lead is not a decision
    won = sales.qualify(drafts[0].lead_id).opportunity_id
    lost = sales.qualify(drafts[1].lead_id).opportunity_id
    sales.disqualify(drafts[2].lead_id, 7)
    sales.win(won)
    sales.lose(lost, 5)
    got = outcomes(queue)
    assert [(o.kind, o.event_id) for o in got] == [
        ("lead_qualified", outcome_event_id("lead_qualified", drafts[0].lead_id)),
        ("lead_qualified", outcome_event_id("lead_qualified", drafts[1].lead_id)),
        ("lead_disqualified", outcome_event_id("lead_disqualified", drafts[2].lead_id)),
        ("opportunity_won", outcome_event_id("opportunity_won", won)),
        ("opportunity_lost", outcome_event_id("opportunity_lost", lost)),
    ]
    assert len({o.event_id for o in got}) == 5


# --- views and notes -----------------------------------------------------------------------------------

def test_b2b_leads_view_and_my_open_leads(sales):
    drafts = [lead_draft(n) for n in range(1, 4)]
    for draft in drafts:
        sales.create_lead(draft)
    view = sales.b2b_leads()
    assert [row["prospect_number"] for row in view] == ["PRO-000001", "PRO-000002", "PRO-000003"]
    assert {row["leadid"] for row in view} == {d.lead_id for d in drafts}
    assert all(row["owner"] == INTEGRATION_OWNER for row in view)
    first = next(row for row in view if row["leadid"] == drafts[0].lead_id)
    assert first["company"] == drafts[0].company_name
    assert first["contact"] == f"{drafts[0].first_name} {drafts[0].last_name}"
    assert first["subject"] == drafts[0].subject
    assert (first["statecode"], first["statuscode"]) == (0, 1)
    assert sales.my_open_leads("some-salesperson") == []


def test_b2b_leads_view_filters_by_state(sales):
    drafts = [lead_draft(n) for n in range(1, 4)]
    for draft in drafts:
        sales.create_lead(draft)
    sales.qualify(drafts[0].lead_id)
    sales.disqualify(drafts[1].lead_id, 6)
    assert [r["leadid"] for r in sales.b2b_leads()] == [drafts[2].lead_id]
    assert [r["leadid"] for r in sales.b2b_leads(LeadState.QUALIFIED)] == [drafts[0].lead_id]
    assert [r["leadid"] for r in sales.b2b_leads(LeadState.DISQUALIFIED)] == [drafts[1].lead_id]
    assert len(sales.b2b_leads(state=None)) == 3
    qualified = sales.b2b_leads(LeadState.QUALIFIED)[0]
    assert qualified["opportunityid"] == sales.get_lead(drafts[0].lead_id).qualifying_opportunity_id


def test_timeline_note_on_the_lead(sales, lead):
    (note,) = sales.notes(lead)
    assert note["notetext"] == lead_draft(1).timeline_note
    assert note["subject"]
    assert sales.notes(lead.upper()) == [note]
    assert sales.notes("00000000-0000-0000-0000-000000000000") == []
