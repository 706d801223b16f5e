"""The SalesGateway port's contract: every Sales adapter (embedded, Dataverse) must pass it unchanged.

To add an adapter, add a builder to ``SALES_BUILDERS`` yielding a ``SalesHarness``. The port has no
"qualify" (a salesperson does that in Sales), so the harness supplies it; ``lead_count`` and ``notes``
look inside Sales so that the suite can prove nothing was duplicated: every harness must supply them.
"""
from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass
import uuid
from datetime import timedelta
from typing import Callable, ContextManager

import pytest

from shared.adapters.clock import ManualClock
from shared.adapters.dataverse_sales import DataverseSales
from shared.adapters.embedded_sales import EmbeddedSales
from shared.adapters.sqlite_queue import SqliteQueue
from shared.domain.sales import LeadDraft, LeadState, OpportunityState, SalesDecision
from shared.ports import SalesGateway
from tests.contract.factories import lead_draft
from tests.dataverse_sim import SalesClient, running_simulator
from tests.contract.factories import build_harness


@dataclass
class SalesHarness:
    """The gateway, and what a salesperson does in Sales (``disqualify(lead, statuscode)``, ``win(opportunity)``,
    ``lose(opportunity, statuscode)``); ``clock`` is Sales' clock (``modifiedon``), moved by whole seconds
    since Dataverse keeps seconds; ``add_other_lead`` makes a lead without a prospect number (not B2B);
    ``lead_count()`` counts the leads the gateway created in Sales, ``notes(lead_id)`` lists a lead's notes."""

    gateway: SalesGateway
    qualify: Callable[[str], object]
    disqualify: Callable[[str, int], object]
    win: Callable[[str], object]
    lose: Callable[[str, int], object]
    clock: ManualClock
    add_other_lead: Callable[[], str]
    lead_count: Callable[[], int]
    notes: Callable[[str], list]


@contextmanager
def _embedded(tmp_path):
    clock = ManualClock()
    queue = SqliteQueue(tmp_path / "queue.db", clock)
    sales = EmbeddedSales(tmp_path / "sales.db", clock, queue, "sales-outcomes")

    def add_other_lead() -> str:
        lead_id = str(uuid.uuid4())
        now = clock.now().isoformat()
        with sales.database.transaction() as db:  # a salesperson's own lead: no prospect number
            db.execute("INSERT INTO leads (leadid, statecode, statuscode, b2b_prospectnumber, ownerid, createdon, "
                       "modifiedon, data) VALUES (?, 0, 1, NULL, 'a salesperson', ?, ?, ?)",
                       (lead_id, now, now, lead_draft(99).model_dump_json()))
        return lead_id

    try:
        yield SalesHarness(sales, sales.qualify, sales.disqualify, sales.win, sales.lose, clock, add_other_lead,
                           lambda: len(sales.b2b_leads(state=None)), sales.notes)
    finally:
        sales.close()
        queue.close()


@contextmanager
def _dataverse(tmp_path):
    """DataverseSales against the Web API simulator; a salesperson qualifies over HTTP (QualifyLead)."""
    clock = ManualClock()
    with running_simulator(now=clock.now) as sim:
        token = sim.issue_token()
        sales = DataverseSales(sim.url, lambda: token, timeout=(2.0, 5.0))
        salesperson = SalesClient(sim.api_url, sim.issue_token("a salesperson"))

        def add_other_lead() -> str:
            answer = salesperson._call("POST", "leads", {"subject": "Not from Commerce", "lastname": "Other"})
            return answer.headers["OData-EntityId"].rsplit("(", 1)[1].rstrip(")")

        try:
            yield SalesHarness(sales, salesperson.qualify, salesperson.disqualify, salesperson.win, salesperson.lose,
                               clock, add_other_lead, sim.lead_count, sim.notes)
        finally:
            sales.close()


SALES_BUILDERS: dict[str, Callable[..., ContextManager[SalesHarness]]] = {
    "embedded": _embedded,
    "dataverse": _dataverse,
}


@pytest.fixture(params=sorted(SALES_BUILDERS))
def harness(request, tmp_path) -> SalesHarness:
    with build_harness(SALES_BUILDERS, request, tmp_path) as built:
        yield built


@pytest.fixture
def sales(harness) -> SalesGateway:
    return harness.gateway


def same_id(a: str, b: str) -> bool:
    return a.lower() == b.lower()


def test_create_lead_returns_an_open_lead_with_the_prospect_number(sales):
    draft = lead_draft(1)
    lead = sales.create_lead(draft)
    assert same_id(lead.lead_id, draft.lead_id)
    assert lead.statecode is LeadState.OPEN and int(lead.statecode) == 0
    assert lead.statuscode == 1
    assert lead.prospect_number == draft.prospect_number
    assert lead.qualifying_opportunity_id is None
    assert lead.created_on.utcoffset() == timedelta(0)
    assert lead.modified_on >= lead.created_on


def test_get_lead_returns_what_create_returned(sales):
    draft = lead_draft(1)
    created = sales.create_lead(draft)
    assert sales.get_lead(draft.lead_id) == created


def test_create_lead_twice_returns_the_same_lead_and_creates_nothing_more(harness):
    sales = harness.gateway
    draft = lead_draft(1)
    first = sales.create_lead(draft)
    second = sales.create_lead(draft)
    changed = sales.create_lead(lead_draft(1, subject="a different subject, same lead id"))
    assert first == second == changed
    assert harness.lead_count() == 1
    notes = harness.notes(draft.lead_id)
    assert len(notes) == 1
    assert draft.timeline_note in notes[0]["notetext"]


def test_distinct_lead_ids_are_distinct_leads(harness):
    sales = harness.gateway
    one, two = sales.create_lead(lead_draft(1)), sales.create_lead(lead_draft(2))
    assert not same_id(one.lead_id, two.lead_id)
    assert (one.prospect_number, two.prospect_number) == ("PRO-000001", "PRO-000002")
    assert harness.lead_count() == 2


def test_lead_ids_are_case_insensitive(harness):
    sales = harness.gateway
    draft = lead_draft(1)
    upper: LeadDraft = draft.model_copy(update={"lead_id": draft.lead_id.upper()})
    created = sales.create_lead(upper)
    assert sales.get_lead(draft.lead_id.lower()) == created
    assert sales.get_lead(draft.lead_id.upper()) == created
    assert sales.create_lead(draft.model_copy(update={"lead_id": draft.lead_id.lower()})) == created
    assert harness.lead_count() == 1
    assert len(harness.notes(draft.lead_id)) == 1


def test_get_lead_of_unknown_id_is_none(sales):
    assert sales.get_lead("00000000-0000-0000-0000-000000000000") is None


def test_qualification_before_and_after_qualify(harness):
    sales = harness.gateway
    draft = lead_draft(1)
    sales.create_lead(draft)
    assert sales.get_qualification(draft.lead_id) is None
    assert sales.get_qualification("00000000-0000-0000-0000-000000000000") is None
    harness.qualify(draft.lead_id)
    qualification = sales.get_qualification(draft.lead_id)
    assert qualification is not None
    assert same_id(qualification.lead_id, draft.lead_id)
    assert (qualification.contact.first_name, qualification.contact.last_name) == (draft.first_name, draft.last_name)
    assert qualification.contact.email == draft.email
    assert qualification.account.name == draft.company_name
    lead = sales.get_lead(draft.lead_id)
    assert lead.statecode is LeadState.QUALIFIED
    assert same_id(lead.qualifying_opportunity_id, qualification.opportunity_id)
    assert sales.get_qualification(draft.lead_id.upper()) == qualification
    assert sales.get_qualification(lead_draft(2).lead_id) is None


def test_create_lead_after_qualify_returns_the_qualified_lead(harness):
    sales = harness.gateway
    draft = lead_draft(1)
    sales.create_lead(draft)
    harness.qualify(draft.lead_id)
    again = sales.create_lead(draft)
    assert again.statecode is LeadState.QUALIFIED
    assert harness.lead_count() == 1


def test_an_opportunity_names_the_lead_it_came_from(harness):
    sales = harness.gateway
    created = sales.create_lead(lead_draft(7))
    harness.qualify(created.lead_id)
    opportunity_id = sales.get_qualification(created.lead_id).opportunity_id
    assert sales.get_opportunity_lead(opportunity_id).lower() == created.lead_id.lower()
    assert sales.get_opportunity_lead("00000000-0000-0000-0000-0000000000ff") is None


def test_get_lead_carries_the_state_of_its_opportunity(harness):
    sales = harness.gateway
    won, lost = sales.create_lead(lead_draft(1)), sales.create_lead(lead_draft(2))
    assert sales.get_lead(won.lead_id).opportunity_state is None
    for lead in (won, lost):
        harness.qualify(lead.lead_id)
    opened = sales.get_lead(won.lead_id)
    assert (opened.opportunity_state, opened.opportunity_statuscode) == (OpportunityState.OPEN, 1)
    harness.win(opened.qualifying_opportunity_id)
    harness.lose(sales.get_lead(lost.lead_id).qualifying_opportunity_id, 5)
    assert (sales.get_lead(won.lead_id).opportunity_state, sales.get_lead(won.lead_id).opportunity_statuscode) == \
        (OpportunityState.WON, 3)
    assert (sales.get_lead(lost.lead_id).opportunity_state, sales.get_lead(lost.lead_id).opportunity_statuscode) == \
        (OpportunityState.LOST, 5)


def _brief(decisions: list[SalesDecision]) -> list[tuple]:
    return [(d.kind, d.lead_id.lower(), (d.opportunity_id or "").lower(), d.statuscode, d.prospect_number)
            for d in decisions]


def test_decisions_since_reports_closed_b2b_leads_and_opportunities_oldest_first(harness):
    sales, clock = harness.gateway, harness.clock
    start = clock.now()
    leads = [sales.create_lead(lead_draft(n)).lead_id.lower() for n in (1, 2, 3, 4, 5)]
    other = harness.add_other_lead()
    assert sales.decisions_since(None, 100) == []  # open leads are no decisions
    clock.advance(60)
    harness.disqualify(leads[0], 6)
    clock.advance(60)
    won = harness.qualify(leads[1])
    won_opportunity = sales.get_lead(leads[1]).qualifying_opportunity_id.lower()
    clock.advance(60)
    harness.win(won_opportunity)
    clock.advance(60)
    harness.qualify(leads[2])
    lost_opportunity = sales.get_lead(leads[2]).qualifying_opportunity_id.lower()
    clock.advance(60)
    harness.lose(lost_opportunity, 5)
    clock.advance(60)
    harness.disqualify(other, 4)  # not a B2B lead: never reported
    harness.qualify(leads[3])
    qualified_only = sales.get_lead(leads[3]).qualifying_opportunity_id.lower()
    assert won is not None

    decisions = sales.decisions_since(None, 100)
    assert _brief(decisions) == [
        ("lead_disqualified", leads[0], "", 6, "PRO-000001"),
        ("lead_qualified", leads[1], won_opportunity, 3, "PRO-000002"),
        ("opportunity_won", leads[1], won_opportunity, 3, "PRO-000002"),
        ("lead_qualified", leads[2], lost_opportunity, 3, "PRO-000003"),
        ("opportunity_lost", leads[2], lost_opportunity, 5, "PRO-000003"),
        ("lead_qualified", leads[3], qualified_only, 3, "PRO-000004"),
    ]
    assert [d.modified_on for d in decisions] == [start + timedelta(seconds=s) for s in (60, 120, 180, 240, 300, 360)]
    assert all(d.modified_on.utcoffset() == timedelta(0) for d in decisions)
    assert [d.reason for d in decisions] == ["No Longer Interested", None, None, None, "Out-Sold", None]
    assert [d.primary_id.lower() for d in decisions] == [leads[0], leads[1], won_opportunity, leads[2],
                                                          lost_opportunity, leads[3]]


def test_decisions_since_is_strictly_after_and_limited(harness):
    sales, clock = harness.gateway, harness.clock
    start = clock.now()
    leads = [sales.create_lead(lead_draft(n)).lead_id.lower() for n in (1, 2, 3)]
    for lead in leads:
        clock.advance(10)
        harness.disqualify(lead, 4)
    every = sales.decisions_since(None, 100)
    assert [d.lead_id.lower() for d in every] == leads
    assert [d.lead_id.lower() for d in sales.decisions_since(start + timedelta(seconds=10), 100)] == leads[1:]
    assert [d.lead_id.lower() for d in sales.decisions_since(start + timedelta(seconds=9), 100)] == leads
    assert sales.decisions_since(start + timedelta(seconds=30), 100) == []
    assert sales.decisions_since(start + timedelta(days=1), 100) == []
    assert [d.lead_id.lower() for d in sales.decisions_since(None, 2)] == leads[:2]
    assert [d.lead_id.lower() for d in sales.decisions_since(every[1].modified_on, 2)] == leads[2:]


def test_decisions_since_reports_a_record_changed_again_by_its_current_state(harness):
    """A lead qualified long ago whose opportunity is lost now: only the opportunity moved."""
    sales, clock = harness.gateway, harness.clock
    lead = sales.create_lead(lead_draft(1)).lead_id
    harness.qualify(lead)
    clock.advance(3600)
    checkpoint = clock.now()
    clock.advance(1)
    harness.lose(sales.get_lead(lead).qualifying_opportunity_id, 4)
    assert [d.kind for d in sales.decisions_since(checkpoint, 100)] == ["opportunity_lost"]


# --- many leads at once ----------------------------------------------------------------------------
def over_long_prospect_number(n: int) -> LeadDraft:
    """A lead Sales refuses for good: the prospect number is longer than its column (100)."""
    return lead_draft(n).model_copy(update={"prospect_number": "P" * 101})


def test_create_leads_returns_one_result_per_draft_in_order(harness):
    sales = harness.gateway
    drafts = [lead_draft(n) for n in (1, 2, 3)]
    results = sales.create_leads(drafts)
    assert [r.lead_id.lower() for r in results] == [d.lead_id.lower() for d in drafts]
    assert all(r.ok and r.error is None for r in results)
    assert [r.snapshot for r in results] == [sales.get_lead(d.lead_id) for d in drafts]
    assert [r.snapshot.prospect_number for r in results] == ["PRO-000001", "PRO-000002", "PRO-000003"]
    assert all(len(harness.notes(d.lead_id)) == 1 for d in drafts)


def test_one_refused_lead_does_not_fail_the_others(harness):
    sales = harness.gateway
    bad = over_long_prospect_number(3)
    drafts = [lead_draft(1), lead_draft(2), bad, lead_draft(4)]
    results = sales.create_leads(drafts)
    assert [r.ok for r in results] == [True, True, False, True]
    refused = results[2]
    assert refused.snapshot is None and getattr(refused.error, "permanent", False) is True
    assert refused.error.status == 400 and refused.error.body  # Sales' answer, kept for the operator
    assert sales.get_lead(bad.lead_id) is None
    assert all(sales.get_lead(d.lead_id) is not None for d in drafts if d is not bad)
    assert harness.lead_count() == 3


def test_create_leads_of_existing_leads_returns_them_and_creates_nothing(harness):
    sales = harness.gateway
    first = sales.create_lead(lead_draft(1))
    harness.qualify(first.lead_id)
    results = sales.create_leads([lead_draft(1), lead_draft(2), lead_draft(1)])
    assert all(r.ok for r in results)
    assert results[0].snapshot == results[2].snapshot == sales.get_lead(first.lead_id)
    assert results[0].snapshot.statecode is LeadState.QUALIFIED
    assert harness.lead_count() == 2
    assert len(harness.notes(first.lead_id)) == 1
