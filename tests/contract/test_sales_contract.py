"""The SalesGateway port's contract: every Sales adapter (embedded, Dataverse) must pass it unchanged.

To add an adapter, add a builder to ``SALES_BUILDERS`` yielding a ``SalesHarness``. The port has no
"qualify" (a salesperson does that in Sales), so the harness supplies it; ``lead_count`` and ``notes``
are optional looks inside Sales that let the suite prove nothing was duplicated.
"""
from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta
from typing import Callable, ContextManager

import pytest

from shared.adapters.clock import ManualClock
from shared.adapters.dataverse_sales import DataverseSales
from shared.adapters.embedded_sales import EmbeddedSales
from shared.adapters.sqlite_queue import SqliteQueue
from shared.domain.sales import LeadDraft, LeadState
from shared.ports import SalesGateway
from tests.contract.factories import lead_draft
from tests.dataverse_sim import SalesClient, running_simulator
from tests.contract.factories import build_harness


@dataclass
class SalesHarness:
    gateway: SalesGateway
    qualify: Callable[[str], object]
    lead_count: Callable[[], int] | None = None
    notes: Callable[[str], list] | None = None


@contextmanager
def _embedded(tmp_path):
    clock = ManualClock()
    queue = SqliteQueue(tmp_path / "queue.db", clock)
    sales = EmbeddedSales(tmp_path / "sales.db", clock, queue, "sales-outcomes")
    try:
        yield SalesHarness(sales, sales.qualify, lambda: len(sales.b2b_leads(state=None)), sales.notes)
    finally:
        sales.close()
        queue.close()


@contextmanager
def _dataverse(tmp_path):
    """DataverseSales against the Web API simulator; a salesperson qualifies over HTTP (QualifyLead)."""
    with running_simulator() as sim:
        token = sim.issue_token()
        sales = DataverseSales(sim.url, lambda: token, timeout=(2.0, 5.0))
        salesperson = SalesClient(sim.api_url, sim.issue_token("a salesperson"))
        try:
            yield SalesHarness(sales, salesperson.qualify, sim.lead_count, sim.notes)
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
    if harness.lead_count:
        assert harness.lead_count() == 1
    if harness.notes:
        notes = harness.notes(draft.lead_id)
        assert len(notes) == 1
        assert draft.timeline_note in notes[0]["notetext"]


def test_distinct_lead_ids_are_distinct_leads(harness):
    sales = harness.gateway
    one, two = sales.create_lead(lead_draft(1)), sales.create_lead(lead_draft(2))
    assert not same_id(one.lead_id, two.lead_id)
    assert (one.prospect_number, two.prospect_number) == ("PRO-000001", "PRO-000002")
    if harness.lead_count:
        assert harness.lead_count() == 2


def test_lead_ids_are_case_insensitive(harness):
    sales = harness.gateway
    draft = lead_draft(1)
    upper: LeadDraft = draft.model_copy(update={"lead_id": draft.lead_id.upper()})
    created = sales.create_lead(upper)
    assert sales.get_lead(draft.lead_id.lower()) == created
    assert sales.get_lead(draft.lead_id.upper()) == created
    assert sales.create_lead(draft.model_copy(update={"lead_id": draft.lead_id.lower()})) == created
    if harness.lead_count:
        assert harness.lead_count() == 1
    if harness.notes:
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
    if harness.lead_count:
        assert harness.lead_count() == 1


def test_an_opportunity_names_the_lead_it_came_from(harness):
    sales = harness.gateway
    created = sales.create_lead(lead_draft(7))
    harness.qualify(created.lead_id)
    opportunity_id = sales.get_qualification(created.lead_id).opportunity_id
    assert sales.get_opportunity_lead(opportunity_id).lower() == created.lead_id.lower()
    assert sales.get_opportunity_lead("00000000-0000-0000-0000-0000000000ff") is None
