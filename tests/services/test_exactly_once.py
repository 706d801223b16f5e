"""Every outcome delivered twice and in shuffled order still takes effect exactly once."""
from __future__ import annotations

import json
import random

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from shared.adapters.clock import ManualClock
from shared.bootstrap import Container
from shared.config import Settings
from shared.domain.model import ProspectStatus
from tests.services.flow import count, signup_body, take_all, work

PATHS = ["won", "disqualified", "lost", "won", "qualified-only"]


def decided_flow(tmp_path) -> tuple[Container, list[str]]:
    """Prospects with leads, decided in Sales; their outcome messages taken off the queue, unapplied."""
    c = Container.build(Settings.from_env({}, data_dir=tmp_path), clock=ManualClock())
    for n, _ in enumerate(PATHS):
        c.intake.submit(signup_body(n))
    c.channel_sync.run()
    work(c)
    for lead, path in zip(c.sales.b2b_leads(), PATHS):
        if path == "disqualified":
            c.sales.disqualify(lead["leadid"], 5)
            continue
        opportunity = c.sales.qualify(lead["leadid"]).opportunity_id
        if path == "won":
            c.sales.win(opportunity)
        elif path == "lost":
            c.sales.lose(opportunity, 5)
    return c, take_all(c, c.settings.outcome_queue)


def deliver(c: Container, bodies: list[str]) -> None:
    for body in bodies:
        c.propagation.handle(body)
    work(c)


def assert_exactly_once(c: Container) -> None:
    by_status = {s: len(c.operator.prospects(s)) for s in ProspectStatus}
    assert by_status == {ProspectStatus.APPROVED: 2, ProspectStatus.REJECTED: 2, ProspectStatus.PENDING: 1}
    # won ×2, lost and qualified-only were qualified: one Person and one Organization each
    assert count(c, "customers") == 2 * 4
    assert count(c, "hierarchies") == 2
    assert count(c, "members") == 2
    assert count(c, "emails") == 4
    assert len(c.transport.list()) == 4
    for prospect in c.operator.prospects(ProspectStatus.APPROVED):
        details = c.operator.prospect(prospect.number)
        assert details.hierarchy.name == prospect.request.company.name
        assert [(m.customer_id, m.role.value) for m in details.members] == [(prospect.person_customer_id, "Admin")]
    assert not c.operator.prospects(needs_attention=True)


def test_each_outcome_twice_in_order(tmp_path):
    c, bodies = decided_flow(tmp_path)
    deliver(c, bodies + bodies)
    assert_exactly_once(c)


def test_won_before_qualified_reads_the_missing_facts_from_sales(tmp_path):
    c, bodies = decided_flow(tmp_path)
    kinds = [json.loads(b)["kind"] for b in bodies]
    won_first = sorted(bodies, key=lambda b: json.loads(b)["kind"] != "opportunity_won")
    assert json.loads(won_first[0])["kind"] == "opportunity_won" and "lead_qualified" in kinds
    deliver(c, won_first)
    assert_exactly_once(c)
    approved = c.operator.prospects(ProspectStatus.APPROVED)[0]
    assert approved.person_customer_id and approved.organization_customer_id and approved.opportunity_id


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(seed=st.integers(min_value=0, max_value=2**32 - 1))
def test_duplicated_and_shuffled(tmp_path_factory, seed):
    c, bodies = decided_flow(tmp_path_factory.mktemp("flow"))
    shuffled = bodies * 2
    random.Random(seed).shuffle(shuffled)
    deliver(c, shuffled)
    assert_exactly_once(c)


def test_a_late_conflicting_outcome_is_recorded_not_applied(container, body):
    c = container
    c.intake.submit(body)
    c.channel_sync.run()
    work(c)
    lead = c.sales.b2b_leads()[0]
    c.sales.win(c.sales.qualify(lead["leadid"]).opportunity_id)
    work(c)
    # A "lost" that Sales could never send after "won" still must not undo the approval.
    from shared.domain.ids import outcome_event_id
    from shared.domain.messages import SalesOutcome

    late = SalesOutcome(event_id=outcome_event_id("opportunity_lost", "x"), kind="opportunity_lost",
                        lead_id=lead["leadid"], occurred_at=c.clock.now(), reason="Out-Sold")
    assert c.propagation.handle(late.to_json()) == "conflict"
    assert c.propagation.handle(late.to_json()) == "duplicate"
    details = c.operator.prospect(lead["prospect_number"])
    assert details.prospect.status is ProspectStatus.APPROVED
    assert details.prospect.needs_attention and "opportunity_lost" in details.prospect.attention_reason
    assert details.history[-1].action == "conflicting outcome ignored"
    assert [p.number for p in c.operator.prospects(needs_attention=True)] == [lead["prospect_number"]]
    assert count(c, "emails") == 1


def test_unknown_lead_is_refused_for_the_operator(container):
    from shared.domain.errors import MalformedMessage
    from shared.domain.messages import SalesOutcome

    outcome = SalesOutcome(event_id="e1", kind="lead_disqualified", lead_id="not-ours", occurred_at=container.clock.now())
    with pytest.raises(MalformedMessage):
        container.propagation.handle(outcome.to_json())
