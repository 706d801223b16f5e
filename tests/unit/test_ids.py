"""Deterministic identities."""
from __future__ import annotations

import uuid

from hypothesis import given
from hypothesis import strategies as st

from shared.domain import ids


def test_same_inputs_give_the_same_ids():
    assert ids.derived_id("kind", "a", "b") == ids.derived_id("kind", "a", "b")
    assert ids.prospect_id_for("s-1") == ids.prospect_id_for("s-1")
    assert ids.lead_id_for("p-1") == ids.lead_id_for("p-1")
    assert ids.customer_id_for("p-1", "Person") == ids.customer_id_for("p-1", "Person")
    assert ids.email_id_for("p-1", "prospect_approved") == ids.email_id_for("p-1", "prospect_approved")
    assert ids.outcome_event_id("opportunity_won", "o-1") == ids.outcome_event_id("opportunity_won", "o-1")


def test_different_inputs_give_different_ids():
    assert ids.prospect_id_for("s-1") != ids.prospect_id_for("s-2")
    assert ids.lead_id_for("p-1") != ids.lead_id_for("p-2")
    assert ids.prospect_id_for("x") != ids.lead_id_for("x")  # the kind is part of the identity
    assert ids.customer_id_for("p-1", "Person") != ids.customer_id_for("p-1", "Organization")
    assert ids.email_id_for("p-1", "prospect_approved") != ids.email_id_for("p-1", "prospect_rejected")
    assert ids.outcome_event_id("opportunity_won", "o-1") != ids.outcome_event_id("opportunity_lost", "o-1")
    assert ids.outcome_event_id("opportunity_won", "o-1") != ids.outcome_event_id("opportunity_won", "o-2")


def test_ids_are_stable_across_releases():
    """Changing the namespace would orphan every id already stored: pin one value."""
    assert ids.derived_id("prospect", "signup") == str(uuid.uuid5(
        uuid.UUID("6f1d2c1e-4b8a-5e0f-9c3d-b2b0a1ce0001"), "prospect\x1fsignup"))


def test_parts_cannot_run_into_each_other():
    assert ids.derived_id("k", "a/b") != ids.derived_id("k", "a", "b")


def test_derived_ids_are_lowercase_uuids():
    value = ids.lead_id_for(ids.prospect_id_for("s-1"))
    assert uuid.UUID(value).version == 5
    assert value == value.lower() == str(uuid.UUID(value))


def test_outcome_event_id_ignores_the_case_of_the_id():
    lead = "3F2504E0-4F89-11D3-9A0C-0305E82C3301"
    assert ids.outcome_event_id("lead_qualified", lead) == ids.outcome_event_id("lead_qualified", lead.lower())


def test_outcome_event_id_does_not_ignore_the_case_of_the_kind():
    assert ids.outcome_event_id("lead_qualified", "x") != ids.outcome_event_id("LEAD_QUALIFIED", "x")


def test_new_public_ids_are_random_uuid4():
    values = {ids.new_public_id() for _ in range(100)}
    assert len(values) == 100
    assert all(uuid.UUID(v).version == 4 for v in values)


def test_hash_key_is_sha256_hex():
    assert ids.hash_key("abc") == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
    assert ids.hash_key("Åsa") != ids.hash_key("åsa")


@given(st.text(max_size=40), st.text(max_size=40))
def test_distinct_signups_give_distinct_prospects_and_leads(a, b):
    if a != b:
        assert ids.prospect_id_for(a) != ids.prospect_id_for(b)
        assert ids.lead_id_for(a) != ids.lead_id_for(b)
    else:
        assert ids.prospect_id_for(a) == ids.prospect_id_for(b)


@given(st.sampled_from(["lead_qualified", "lead_disqualified", "opportunity_won", "opportunity_lost"]),
       st.uuids().map(str))
def test_outcome_event_id_is_case_insensitive_for_any_guid(kind, guid):
    assert ids.outcome_event_id(kind, guid.upper()) == ids.outcome_event_id(kind, guid)
