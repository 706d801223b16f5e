"""Every outcome delivered twice and in shuffled order still takes effect exactly once."""
from __future__ import annotations

import json
import random

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from shared.bootstrap import Container
from shared.domain.model import ProspectStatus
from tests.services.flow import assert_exactly_once, count, decided_flow, work


def deliver(c: Container, bodies: list[str]) -> None:
    for body in bodies:
        c.propagation.handle(body)
    work(c)


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
