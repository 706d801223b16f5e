"""End to end on Dataverse (the simulator) with the webhook dropped: signup → sync → lead created in
Dataverse → a salesperson qualifies and wins one lead, disqualifies another → no delivery reaches us → the
next channel sync's reconciliation re-derives the outcomes from Sales → prospects approved (hierarchy,
welcome email) and rejected (email) → the webhook deliveries arriving late through ``sales_events``
change nothing.

The simulator stamps ``modifiedon`` with its own clock (a manual one here), not ours: the reconciliation's
watermark is Sales' time. The disqualification is stamped a minute *before* the win (another Sales server,
its clock behind), so the second run, reading from ``OVERLAP`` before the watermark, reads all three
decisions again and enqueues none.
"""
from __future__ import annotations

import json
from datetime import datetime, timezone

import pytest

from shared.adapters.clock import ManualClock
from shared.domain.ids import outcome_event_id
from shared.domain.model import ProspectStatus
from shared.services.reconciliation import OVERLAP
from tests.dataverse_sim import SalesClient, running_simulator
from tests.e2e.dataverse_app import assert_approved_with_sales_records, call_function
from tests.dataverse_sim.webhook import WebhookRelay
from tests.services.flow import count, signup_body, watermark, work

pytestmark = pytest.mark.e2e


@pytest.fixture
def sales_clock() -> ManualClock:
    """Sales' clock (``modifiedon``), whole seconds as Dataverse answers them."""
    return ManualClock(datetime.now(timezone.utc).replace(microsecond=0))


@pytest.fixture
def sim(sales_clock):
    """The simulator on Sales' own clock (e2e conftest's runs on the wall clock)."""
    with running_simulator(now=sales_clock.now) as simulator:
        yield simulator


def test_dropped_webhooks_are_reconciled_and_late_deliveries_change_nothing(sim, app, sales_clock):
    c = app
    for n in (1, 2):
        c.intake.submit(signup_body(n))
    first = c.channel_sync.run()  # nothing decided yet: the reconciliation reads nothing
    assert first.reconciliation_error is None and first.reconciliation.read == 0
    work(c)
    leads = {p.number: p.lead_id for p in c.operator.prospects()}
    (won_number, won_lead), (dq_number, dq_lead) = sorted(leads.items())
    assert all(sim.lead(lead)["statecode"] == 0 for lead in leads.values())
    assert watermark(c) is None
    relay = WebhookRelay(sim)
    relay.pending()  # the leads' Creates: no step is registered on them

    salesperson = SalesClient(sim.api_url, sim.issue_token("a salesperson"))
    sales_clock.advance(60)
    created = salesperson.qualify(won_lead)
    sales_clock.advance(30)
    salesperson.win(created["opportunity"])
    won_at = sales_clock.now()
    sales_clock.advance(-60)  # another Sales server, its clock behind: stamped before the win
    salesperson.disqualify(dq_lead, statuscode=6)
    # ... and every webhook delivery of these is dropped (none is delivered until the end)

    assert c.queue.count(c.settings.outcome_queue) == 0
    assert {p.status for p in c.operator.prospects()} == {ProspectStatus.PENDING}
    report = c.channel_sync.run()
    assert report.reconciliation_error is None
    assert (report.reconciliation.read, report.reconciliation.enqueued) == (3, 3)
    assert watermark(c) == won_at  # Sales' newest modifiedon, not ours, not the last stamped
    work(c)

    approved = assert_approved_with_sales_records(c, won_number, created)
    assert [(h.actor, h.action) for h in approved.history if h.actor.startswith("reconciliation")] == [
        ("reconciliation:lead_qualified", "qualified in Sales"), ("reconciliation:opportunity_won", "approved")]
    rejected = c.operator.prospect(dq_number).prospect
    assert (rejected.status, rejected.rejection_reason) == (ProspectStatus.REJECTED,
                                                            "lead disqualified (No Longer Interested)")
    emails = c.transport.list()
    assert len(emails) == 2 and sum(e["subject"].startswith("Welcome to") for e in emails) == 1
    assert count(c, "hierarchies") == 1

    # the next tick re-reads the overlap (the disqualification included) and enqueues nothing
    assert sales_clock.now() < won_at + OVERLAP
    again = c.channel_sync.run().reconciliation
    assert (again.read, again.enqueued, again.applied_already, again.watermark) == (3, 0, 3, won_at)

    # the dropped deliveries arrive late: acknowledged, and their outcomes are no-ops
    answers = relay.deliver(call_function)
    assert [a.status_code for a in answers] == [202, 202, 202]
    assert sorted(json.loads(a.get_body())["event_id"] for a in answers) == sorted([
        outcome_event_id("lead_qualified", won_lead), outcome_event_id("opportunity_won", created["opportunity"]),
        outcome_event_id("lead_disqualified", dq_lead)])
    work(c)
    assert c.queue.count(c.settings.outcome_queue) == 0
    assert c.operator.prospect(won_number).prospect.status is ProspectStatus.APPROVED
    assert c.operator.prospect(dq_number).prospect.status is ProspectStatus.REJECTED
    assert count(c, "hierarchies") == 1 and len(c.transport.list()) == 2 and count(c, "emails") == 2
    assert not [h for n in (won_number, dq_number) for h in c.operator.prospect(n).history
                if h.actor.startswith("dataverse-webhook")]  # the late copies applied nothing
