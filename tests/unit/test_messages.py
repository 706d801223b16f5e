"""Versioned queue message contracts: round trips and refusals."""
from __future__ import annotations

import json
from datetime import datetime, timezone

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from shared.domain.errors import MalformedMessage
from shared.domain.ids import outcome_event_id
from shared.domain.messages import CreateLead, DeliverEmail, SalesOutcome, parse_message
from shared.domain.sales import Qualification, SalesAccount, SalesContact

QUALIFICATION = Qualification(
    lead_id="lead-1",
    contact=SalesContact(contact_id="c-1", first_name="Åsa", last_name="Öberg", email="asa@example.com"),
    account=SalesAccount(account_id="a-1", name="Contoso <AB> & Co", city="Uppsala", country="SE"),
    opportunity_id="opp-1",
)
WHEN = datetime(2026, 1, 2, 3, 4, 5, 678000, tzinfo=timezone.utc)

MESSAGES = [
    pytest.param(CreateLead(prospect_id="p-1"), id="create-lead"),
    pytest.param(DeliverEmail(email_id="e-1"), id="deliver-email"),
    pytest.param(SalesOutcome(event_id=outcome_event_id("lead_qualified", "lead-1"), kind="lead_qualified",
                              lead_id="lead-1", opportunity_id="opp-1", occurred_at=WHEN, qualification=QUALIFICATION),
                 id="sales-outcome-qualified"),
    pytest.param(SalesOutcome(event_id="e", kind="lead_disqualified", lead_id="lead-1", occurred_at=WHEN,
                              reason="Cannot Contact", source="reconciliation"), id="sales-outcome-disqualified"),
    pytest.param(SalesOutcome(event_id="e", kind="opportunity_won", lead_id="l", opportunity_id="o", occurred_at=WHEN),
                 id="sales-outcome-won"),
    pytest.param(SalesOutcome(event_id="e", kind="opportunity_lost", lead_id="l", opportunity_id="o",
                              occurred_at=WHEN, reason="Out-Sold"), id="sales-outcome-lost"),
]


@pytest.mark.parametrize("message", MESSAGES)
def test_round_trip(message):
    body = message.to_json()
    assert parse_message(body, type(message)) == message
    assert parse_message(body.encode("utf-8"), type(message)) == message


@pytest.mark.parametrize("message", MESSAGES)
def test_wire_form_names_schema_and_version(message):
    data = json.loads(message.to_json())
    assert data["schema"] == message.schema_
    assert data["version"] == 1
    assert "schema_" not in data
    assert None not in data.values()  # optional fields are left out, not null


def test_wire_form_of_create_lead_is_exactly_this():
    assert json.loads(CreateLead(prospect_id="p-1").to_json()) == {"version": 1, "schema": "create-lead",
                                                                   "prospect_id": "p-1"}


def test_occurred_at_keeps_its_instant_and_zone():
    outcome = parse_message(MESSAGES[4].values[0].to_json(), SalesOutcome)
    assert outcome.occurred_at == WHEN
    assert outcome.occurred_at.utcoffset().total_seconds() == 0


def test_a_message_from_a_hand_written_body():
    body = '{"schema": "sales-outcome", "version": 1, "event_id": "e", "kind": "opportunity_won", "lead_id": "l",' \
           ' "opportunity_id": "o", "occurred_at": "2026-01-02T03:04:05Z"}'
    outcome = parse_message(body, SalesOutcome)
    assert outcome.occurred_at == datetime(2026, 1, 2, 3, 4, 5, tzinfo=timezone.utc)
    assert outcome.source == "sales"


def test_unknown_fields_are_ignored_for_forward_compatibility():
    body = json.dumps({"schema": "create-lead", "version": 1, "prospect_id": "p", "added_later": {"x": 1}})
    assert parse_message(body, CreateLead) == CreateLead(prospect_id="p")


def test_messages_are_immutable():
    message = CreateLead(prospect_id="p")
    with pytest.raises(ValidationError):
        message.prospect_id = "q"


@pytest.mark.parametrize("body", [
    "", "   ", "not json", "{", "{'schema': 'create-lead'}", b"\xff\xfe\x00", "NaN",
    "null", "[]", '["create-lead"]', "42", '"create-lead"', "true",
])
@pytest.mark.parametrize("model", [CreateLead, DeliverEmail, SalesOutcome])
def test_malformed_bodies(body, model):
    with pytest.raises(MalformedMessage):
        parse_message(body, model)


@pytest.mark.parametrize("body, model", [
    ({"schema": "deliver-email", "version": 1, "prospect_id": "p"}, CreateLead),
    ({"schema": "create-lead", "version": 1, "email_id": "e"}, DeliverEmail),
    ({"schema": "create-lead", "version": 1, "prospect_id": "p"}, SalesOutcome),
    ({"schema": "Create-Lead", "version": 1, "prospect_id": "p"}, CreateLead),
])
def test_wrong_schema(body, model):
    with pytest.raises(MalformedMessage, match="schema"):
        parse_message(json.dumps(body), model)


@pytest.mark.parametrize("version", [0, 2, "2", None, 1.5, "v1"])
def test_wrong_version(version):
    with pytest.raises(MalformedMessage, match="version"):
        parse_message(json.dumps({"schema": "create-lead", "version": version, "prospect_id": "p"}), CreateLead)


@pytest.mark.parametrize("body, model, field", [
    ({"schema": "create-lead", "version": 1}, CreateLead, "prospect_id"),
    ({"schema": "create-lead", "version": 1, "prospect_id": None}, CreateLead, "prospect_id"),
    ({"schema": "create-lead", "version": 1, "prospect_id": 7}, CreateLead, "prospect_id"),
    ({"schema": "deliver-email", "version": 1}, DeliverEmail, "email_id"),
    ({"schema": "sales-outcome", "version": 1, "kind": "opportunity_won", "lead_id": "l",
      "occurred_at": "2026-01-01T00:00:00Z"}, SalesOutcome, "event_id"),
    ({"schema": "sales-outcome", "version": 1, "event_id": "e", "kind": "opportunity_won", "lead_id": "l"},
     SalesOutcome, "occurred_at"),
    ({"schema": "sales-outcome", "version": 1, "event_id": "e", "kind": "opportunity_maybe", "lead_id": "l",
      "occurred_at": "2026-01-01T00:00:00Z"}, SalesOutcome, "kind"),
    ({"schema": "sales-outcome", "version": 1, "event_id": "e", "kind": "lead_qualified", "lead_id": "l",
      "occurred_at": "yesterday"}, SalesOutcome, "occurred_at"),
    ({"schema": "sales-outcome", "version": 1, "event_id": "e", "kind": "lead_qualified", "lead_id": "l",
      "occurred_at": "2026-01-01T00:00:00Z", "qualification": {"lead_id": "l"}}, SalesOutcome, "qualification"),
])
def test_missing_or_invalid_fields_are_named(body, model, field):
    with pytest.raises(MalformedMessage, match=field):
        parse_message(json.dumps(body), model)


def test_deeply_nested_json_is_malformed_not_a_crash():
    with pytest.raises(MalformedMessage):
        parse_message("[" * 100_000, CreateLead)


@settings(max_examples=300, deadline=None)
@given(st.one_of(st.text(max_size=200), st.binary(max_size=200),
                 st.recursive(st.none() | st.booleans() | st.integers() | st.text(max_size=10),
                              lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=10), inner,
                                                                                          max_size=4),
                              max_leaves=10).map(json.dumps)))
def test_any_body_parses_or_is_malformed(body):
    for model in (CreateLead, DeliverEmail, SalesOutcome):
        try:
            parse_message(body, model)
        except MalformedMessage:
            pass
