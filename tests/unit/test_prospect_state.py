"""The prospect's state machine: Pending decides once; Approved and Rejected are terminal."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from shared.domain.errors import IllegalTransition
from shared.domain.model import PROSPECT_TYPE, Prospect, ProspectStatus
from shared.domain.signup import SignupRequest
from tests.unit.conftest import MINIMAL_BODY

T0 = datetime(2026, 1, 1, tzinfo=timezone.utc)


def later(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


@pytest.fixture
def pending() -> Prospect:
    return Prospect(id="p-1", number="PRO-000001", signup_id="s-1", request=SignupRequest.model_validate(MINIMAL_BODY),
                    created_at=T0, updated_at=T0, lead_id="lead-1")


@pytest.fixture
def qualified(pending) -> Prospect:
    return pending.with_customers("person-1", "org-1", "opp-1", later(10))


def test_a_new_prospect_is_a_pending_b2b_prospect(pending):
    assert pending.status is ProspectStatus.PENDING
    assert pending.type == PROSPECT_TYPE == "B2B prospect"
    assert not pending.is_terminal
    assert not pending.is_qualified


def test_pending_can_become_approved_or_rejected_only(pending):
    assert pending.can_become(ProspectStatus.APPROVED)
    assert pending.can_become(ProspectStatus.REJECTED)
    assert not pending.can_become(ProspectStatus.PENDING)


def test_approve_needs_the_customers(pending):
    with pytest.raises(IllegalTransition):
        pending.approve("H-1", later(20), by="opportunity_won")
    half = pending.model_copy(update={"person_customer_id": "person-1"})
    with pytest.raises(IllegalTransition):
        half.approve("H-1", later(20), by="opportunity_won")


def test_approve_a_qualified_prospect(qualified):
    approved = qualified.approve("H-000001", later(20), by="opportunity_won")
    assert approved.status is ProspectStatus.APPROVED
    assert approved.hierarchy_id == "H-000001"
    assert approved.decided_at == approved.updated_at == later(20)
    assert approved.decided_by == "opportunity_won"
    assert approved.is_terminal
    assert qualified.status is ProspectStatus.PENDING  # the original is unchanged


def test_reject(pending):
    rejected = pending.reject("lead disqualified (Lost)", later(30), by="lead_disqualified")
    assert rejected.status is ProspectStatus.REJECTED
    assert rejected.rejection_reason == "lead disqualified (Lost)"
    assert rejected.decided_at == rejected.updated_at == later(30)
    assert rejected.decided_by == "lead_disqualified"
    assert rejected.is_terminal
    assert pending.status is ProspectStatus.PENDING


def test_approved_stays_approved(qualified):
    approved = qualified.approve("H-1", later(20), by="x")
    assert not approved.can_become(ProspectStatus.REJECTED)
    assert not approved.can_become(ProspectStatus.APPROVED)
    assert not approved.can_become(ProspectStatus.PENDING)
    with pytest.raises(IllegalTransition):
        approved.reject("late lost", later(40), by="opportunity_lost")
    with pytest.raises(IllegalTransition):
        approved.approve("H-2", later(40), by="again")


def test_rejected_stays_rejected(qualified):
    rejected = qualified.reject("no", later(20), by="x")
    for target in ProspectStatus:
        assert not rejected.can_become(target)
    with pytest.raises(IllegalTransition):
        rejected.approve("H-1", later(40), by="opportunity_won")
    with pytest.raises(IllegalTransition):
        rejected.reject("again", later(40), by="x")


def test_with_lead_keeps_the_first_time(pending):
    once = pending.with_lead(later(5))
    twice = once.with_lead(later(50))
    assert once.lead_created_at == twice.lead_created_at == later(5)
    assert twice.updated_at == later(50)


def test_with_customers_keeps_the_first_qualification_time(qualified):
    again = qualified.with_customers("person-1", "org-1", "opp-1", later(99))
    assert qualified.is_qualified
    assert again.qualified_at == later(10)
    assert (again.person_customer_id, again.organization_customer_id, again.opportunity_id) == (
        "person-1", "org-1", "opp-1")


def test_flagged_does_not_change_the_status(qualified):
    approved = qualified.approve("H-1", later(20), by="x")
    flagged = approved.flagged("opportunity lost after won", later(30))
    assert flagged.needs_attention and flagged.attention_reason == "opportunity lost after won"
    assert flagged.status is ProspectStatus.APPROVED


def test_round_trip_through_json(qualified):
    approved = qualified.approve("H-1", later(20), by="x")
    assert Prospect.model_validate_json(approved.model_dump_json()) == approved


_steps = st.lists(st.sampled_from(["approve", "reject", "lead", "customers", "flag"]), max_size=12)


@settings(max_examples=200, deadline=None)
@given(_steps)
def test_the_first_decision_is_final_whatever_happens_next(steps):
    prospect = Prospect(id="p", number="PRO-1", signup_id="s", request=SignupRequest.model_validate(MINIMAL_BODY),
                        created_at=T0, updated_at=T0, lead_id="l")
    decided: ProspectStatus | None = None
    for i, step in enumerate(steps, start=1):
        at = later(i)
        try:
            if step == "approve":
                prospect = prospect.approve("H", at, by="t")
            elif step == "reject":
                prospect = prospect.reject("r", at, by="t")
            elif step == "lead":
                prospect = prospect.with_lead(at)
            elif step == "customers":
                prospect = prospect.with_customers("p", "o", "opp", at)
            else:
                prospect = prospect.flagged("f", at)
        except IllegalTransition:
            assert step in ("approve", "reject")
            assert decided is not None or (step == "approve" and not prospect.is_qualified)
            continue
        if step in ("approve", "reject"):
            assert decided is None
            decided = prospect.status
        assert prospect.status is (decided or ProspectStatus.PENDING)
        assert prospect.is_terminal == (decided is not None)
