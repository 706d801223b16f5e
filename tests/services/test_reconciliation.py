"""Reconciliation: Sales decisions whose outcome messages were lost are re-derived by the sync timer, and
together with the messages that did arrive each decision takes effect exactly once."""
from __future__ import annotations

import json
from datetime import timedelta

import pytest

from shared.adapters.clock import ManualClock
from shared.adapters.dataverse_sales import DataverseSales
from shared.bootstrap import Container
from shared.config import Settings
from shared.domain.ids import outcome_event_id
from shared.domain.model import ProspectStatus
from shared.domain.sales import LeadState
from shared.services.reconciliation import OVERLAP, Reconciliation
from tests.contract.factories import lead_draft
from tests.dataverse_sim import SalesClient, running_simulator
from tests.services.flow import DECISIONS_ONLY, PATHS, assert_exactly_once, count, decided_flow, signup_body, take_all, watermark, work

# PATHS: won, disqualified, lost, won, qualified-only → qualified ×4 + won ×2 + lost + disqualified
DECISIONS = 8


def test_dropped_outcomes_are_re_derived_by_the_sync_timer(tmp_path):
    c, dropped = decided_flow(tmp_path)  # every emitted outcome taken off the queue and discarded
    assert len(dropped) == DECISIONS
    assert c.operator.prospects(ProspectStatus.PENDING) and not c.operator.prospects(ProspectStatus.APPROVED)

    report = c.channel_sync.run()
    assert report.reconciliation_error is None
    assert (report.reconciliation.read, report.reconciliation.enqueued) == (DECISIONS, DECISIONS)
    reconciled = [json.loads(body) for body in take_all(c, c.settings.outcome_queue)]
    # the same event ids the embedded Sales (and the webhook) produced for the same decisions
    assert sorted(o["event_id"] for o in reconciled) == sorted(json.loads(b)["event_id"] for b in dropped)
    assert {o["source"] for o in reconciled} == {"reconciliation"}
    assert all("qualification" not in o for o in reconciled)  # propagation reads it from Sales
    for body in reconciled:
        c.queue.send(c.settings.outcome_queue, json.dumps(body))
    work(c)
    assert_exactly_once(c)
    approved = c.operator.prospect(c.operator.prospects(ProspectStatus.APPROVED)[0].number)
    assert any(h.actor == "reconciliation:opportunity_won" and h.action == "approved" for h in approved.history)

    # the watermark is Sales' newest modifiedon; the next run reads the overlap again and enqueues nothing
    newest = max(d.modified_on for d in c.sales.decisions_since(None, 100))
    assert watermark(c) == newest
    again = c.channel_sync.run().reconciliation
    assert (again.read, again.enqueued, again.applied_already, again.watermark) == (DECISIONS, 0, DECISIONS, newest)
    assert c.queue.count(c.settings.outcome_queue) == 0


def test_webhook_copies_and_reconciliation_copies_together_apply_once(tmp_path):
    c, emitted = decided_flow(tmp_path)
    # nothing applied yet: the reconciliation enqueues a second copy of every decision
    for body in emitted:
        c.queue.send(c.settings.outcome_queue, body)
    assert c.channel_sync.run().reconciliation.enqueued == DECISIONS
    assert c.queue.count(c.settings.outcome_queue) == 2 * DECISIONS
    work(c)
    assert_exactly_once(c)
    assert count(c, "events") == DECISIONS
    # and late copies of either path change nothing more
    for body in emitted:
        c.propagation.handle(body)
    assert c.channel_sync.run().reconciliation.enqueued == 0
    work(c)
    assert_exactly_once(c)


def test_some_delivered_some_dropped(tmp_path):
    c, emitted = decided_flow(tmp_path)
    delivered = emitted[::2]
    for body in delivered:
        c.propagation.handle(body)
    report = c.channel_sync.run().reconciliation
    assert (report.enqueued, report.applied_already) == (DECISIONS - len(delivered), len(delivered))
    work(c)
    assert_exactly_once(c)


def test_the_watermark_moves_forward_and_the_next_run_reads_only_the_window(tmp_path):
    c, _ = decided_flow(tmp_path)
    c.channel_sync.run()
    work(c)
    first = watermark(c)
    c.clock.advance(OVERLAP.total_seconds() * 2)
    pending = c.operator.prospects(ProspectStatus.PENDING)[0]  # the qualified-only one
    c.sales.win(c.sales.get_lead(pending.lead_id).qualifying_opportunity_id)
    take_all(c, c.settings.outcome_queue)  # dropped again
    report = c.channel_sync.run().reconciliation
    # the window starts 5 minutes before the last decision read, not before now: the old ones again
    assert (report.read, report.enqueued, report.applied_already) == (DECISIONS + 1, 1, DECISIONS)
    assert watermark(c) == c.clock.now() > first
    work(c)
    assert c.operator.prospect(pending.number).prospect.status is ProspectStatus.APPROVED
    assert count(c, "hierarchies") == 3
    report = c.channel_sync.run().reconciliation
    assert (report.read, report.enqueued, report.applied_already) == (1, 0, 1)  # the window moved on


def test_b2b_leads_that_no_prospect_has_are_skipped(tmp_path):
    c = Container.build(Settings.from_env(DECISIONS_ONLY, data_dir=tmp_path), clock=ManualClock())
    foreign = lead_draft(42, lead_id="0f0f0f0f-0000-4000-8000-000000000042")  # another environment's prospect
    c.sales.create_lead(foreign)
    c.sales.disqualify(foreign.lead_id)
    take_all(c, c.settings.outcome_queue)
    report = c.channel_sync.run().reconciliation
    assert (report.read, report.not_ours, report.enqueued) == (1, 1, 0)
    assert c.queue.count(c.settings.outcome_queue) == 0


def test_pages_cover_every_decision_even_at_equal_modifiedon(tmp_path):
    c = Container.build(Settings.from_env(DECISIONS_ONLY, data_dir=tmp_path), clock=ManualClock())
    for n in range(7):
        c.intake.submit(signup_body(n))
    c.channel_sync.run()
    work(c)
    for i, lead in enumerate(c.sales.b2b_leads()):
        if i % 2 == 0:
            c.clock.advance(1)  # pairs of decisions at the same moment
        c.sales.disqualify(lead["leadid"])
    take_all(c, c.settings.outcome_queue)
    for page_size in (3, 2, 1):  # nothing is applied between runs: each enqueues all seven again
        reconciliation = Reconciliation(c.store, c.sales, c.queue, c.settings.outcome_queue, page_size=page_size)
        report = reconciliation.run()
        assert (report.read, report.enqueued) == (7, 7)
        bodies = take_all(c, c.settings.outcome_queue)
        assert len({json.loads(b)["event_id"] for b in bodies}) == len(bodies) == 7
    for body in bodies:
        c.queue.send(c.settings.outcome_queue, body)
    work(c)
    assert len(c.operator.prospects(ProspectStatus.REJECTED)) == 7
    assert count(c, "emails") == 7


def test_sales_failing_does_not_fail_the_sync_and_the_watermark_stays(tmp_path):
    c, _ = decided_flow(tmp_path)

    class Down:
        def __getattr__(self, name):
            return getattr(c.sales, name)

        def decisions_since(self, since, limit):
            raise ConnectionError("Sales is down")

    c.reconciliation._sales = Down()
    c.intake.submit(signup_body(99))
    report = c.channel_sync.run()
    assert report.prospects_created == 1
    assert report.reconciliation is None and "Sales is down" in report.reconciliation_error
    assert watermark(c) is None


def test_without_sales_there_is_nothing_to_reconcile(tmp_path):
    c = Container.build(Settings.from_env({"SALES_MODE": "none", **DECISIONS_ONLY}, data_dir=tmp_path), clock=ManualClock())
    c.intake.submit(signup_body(1))
    report = c.channel_sync.run()
    assert c.reconciliation is None
    assert (report.prospects_created, report.reconciliation, report.reconciliation_error) == (1, None, None)
    with pytest.raises(Exception, match="SALES_MODE=none"):
        c.drift.report().drifts


# --- drift -------------------------------------------------------------------------------------------

def test_drift_lists_prospects_whose_sales_state_disagrees(tmp_path):
    c, _ = decided_flow(tmp_path)  # decided in Sales, nothing applied here
    c.intake.submit(signup_body(50))
    c.channel_sync.run()
    take_all(c, c.settings.outcome_queue)  # what this run's reconciliation enqueued is lost as well
    work(c)  # the new prospect's lead is created: open in Sales, Pending here
    newest = c.operator.prospects()[-1]
    c.back_office.approve(newest.number, "alice")  # decided here, still open in Sales
    drift = {d.number: d for d in c.drift.report().drifts}
    by_path = dict(zip(PATHS, sorted(p.number for p in c.operator.prospects() if p.number != newest.number)))
    won, disqualified, lost = drift[by_path["won"]], drift[by_path["disqualified"]], drift[by_path["lost"]]
    assert (won.ours, won.sales) == ("Pending, no customers", "lead Qualified, opportunity Won")
    assert won.problem == "Sales says Approved, we say Pending; qualified in Sales, but no customers here"
    assert (disqualified.sales, disqualified.problem) == ("lead Disqualified (Cannot Contact)",
                                                          "Sales says Rejected, we say Pending")
    assert lost.sales == "lead Qualified, opportunity Lost (Out-Sold)"
    assert drift[newest.number].ours == "Approved, customers"
    assert drift[newest.number].problem == "Sales says Pending, we say Approved"
    assert len(drift) == len(PATHS) + 1  # qualified-only: Pending without its customers

    c.channel_sync.run()  # the reconciliation brings our side in line with Sales
    work(c)
    assert [d.number for d in c.drift.report().drifts] == [newest.number]


# --- on Dataverse (the simulator), with no webhook at all ------------------------------------------

def test_reconciliation_on_dataverse_applies_decisions_no_webhook_reported(tmp_path):
    clock = ManualClock()
    with running_simulator(now=clock.now) as sim:
        token = sim.issue_token()
        c = Container.build(Settings.from_env(DECISIONS_ONLY, data_dir=tmp_path), clock=clock,
                            sales=DataverseSales(sim.url, lambda: token))
        try:
            for n in range(3):
                c.intake.submit(signup_body(n))
            c.channel_sync.run()
            work(c)
            leads = {p.number: p.lead_id for p in c.operator.prospects()}
            assert all(c.sales.get_lead(lead).statecode is LeadState.OPEN for lead in leads.values())
            salesperson = SalesClient(sim.api_url, sim.issue_token("a salesperson"))
            clock.advance(30)
            won = salesperson.qualify(leads["PRO-000001"])["opportunity"]
            clock.advance(30)
            salesperson.win(won)
            salesperson.disqualify(leads["PRO-000002"], 7)
            clock.advance(30)

            report = c.channel_sync.run().reconciliation
            assert (report.read, report.enqueued) == (3, 3)
            bodies = take_all(c, c.settings.outcome_queue)
            assert sorted(json.loads(b)["event_id"] for b in bodies) == sorted([
                outcome_event_id("lead_qualified", leads["PRO-000001"]), outcome_event_id("opportunity_won", won),
                outcome_event_id("lead_disqualified", leads["PRO-000002"])])
            for body in bodies + bodies:
                c.queue.send(c.settings.outcome_queue, body)
            work(c)
            assert c.operator.prospect("PRO-000001").prospect.status is ProspectStatus.APPROVED
            rejected = c.operator.prospect("PRO-000002").prospect
            assert (rejected.status, rejected.rejection_reason) == (ProspectStatus.REJECTED,
                                                                    "lead disqualified (Canceled)")
            assert count(c, "hierarchies") == 1 and count(c, "emails") == 2
            assert [d.number for d in c.drift.report().drifts] == []
            assert c.channel_sync.run().reconciliation.enqueued == 0
            assert watermark(c) == clock.now() - timedelta(seconds=30)
        finally:
            c.store.close()
            c.queue.close()
            c.sales.close()
