"""The Dataverse webhook service on hand-written RemoteExecutionContext payloads (the documented shape:
key/value lists, ``__type`` annotations, ``\\/Date(ms)\\/`` dates)."""
from __future__ import annotations

import json
import logging
from datetime import datetime, timezone

import pytest

from shared.adapters.clock import ManualClock
from shared.adapters.sqlite_queue import SqliteQueue
from shared.domain.ids import outcome_event_id
from shared.domain.messages import SalesOutcome, parse_message
from shared.domain.sales import Qualification, SalesAccount, SalesContact
from shared.services.sales_webhook import (
    InvalidWebhook,
    SalesWebhook,
    UnsupportedWebhook,
    WebhookUnavailable,
    parse_dotnet_date,
)

OUTCOMES = "b2b-sales-outcomes"
C = "http://schemas.microsoft.com/xrm/2011/Contracts"
LEAD = "5a3e2b1c-0d4f-4e6a-9b8c-7d6e5f4a3b2c"
OPPORTUNITY = "9f8e7d6c-5b4a-4392-8170-6f5e4d3c2b1a"
ACCOUNT = "11111111-2222-4333-8444-555555555555"
CONTACT = "66666666-7777-4888-8999-aaaaaaaaaaaa"
WHEN_MS = 1767268800000  # 2026-01-01T12:00:00Z
WHEN = datetime(2026, 1, 1, 12, 0, tzinfo=timezone.utc)


def ref(logical: str, record_id: str) -> dict:
    return {"__type": f"EntityReference:{C}", "Id": record_id, "KeyAttributes": [], "LogicalName": logical,
            "Name": None, "RowVersion": None}


def opt(value: int) -> dict:
    return {"__type": f"OptionSetValue:{C}", "Value": value}


def ent(logical: str, record_id: str, **attributes) -> dict:
    return {"__type": f"Entity:{C}", "Attributes": [{"key": k, "value": v} for k, v in attributes.items()],
            "EntityState": None, "FormattedValues": [], "Id": record_id, "KeyAttributes": [], "LogicalName": logical,
            "RelatedEntities": [], "RowVersion": None}


def context(message: str, entity: str, primary_id: str, inputs: dict, outputs: dict | None = None,
            post_images: dict | None = None, request_id: str | None = "0f0e0d0c-0b0a-4908-8706-050403020100") -> dict:
    return {
        "BusinessUnitId": "c1d2e3f4-0000-4000-8000-000000000001",
        "CorrelationId": "2b3c4d5e-6f70-4812-9a3b-4c5d6e7f8091",
        "Depth": 1,
        "InitiatingUserId": "d0c0b0a0-0000-4000-8000-000000000002",
        "InputParameters": [{"key": k, "value": v} for k, v in inputs.items()],
        "IsExecutingOffline": False, "IsInTransaction": False, "IsOfflinePlayback": False, "IsolationMode": 2,
        "MessageName": message, "Mode": 1,
        "OperationCreatedOn": f"/Date({WHEN_MS}+0000)/",
        "OperationId": "7a6b5c4d-3e2f-4102-9384-756647382910",
        "OrganizationId": "e1e2e3e4-0000-4000-8000-000000000003", "OrganizationName": "contoso",
        "OutputParameters": [{"key": k, "value": v} for k, v in (outputs or {}).items()],
        "OwningExtension": ref("sdkmessageprocessingstep", "f1f2f3f4-0000-4000-8000-000000000004"),
        "ParentContext": None,
        "PostEntityImages": [{"key": k, "value": v} for k, v in (post_images or {}).items()],
        "PreEntityImages": [],
        "PrimaryEntityId": primary_id, "PrimaryEntityName": entity, "RequestId": request_id,
        "SecondaryEntityName": "none", "SharedVariables": [], "Stage": 40, "UserId": "d0c0b0a0-0000-4000-8000-000000000002",
    }


def wire(ctx: dict) -> bytes:
    """As Dataverse serializes it: the slashes of ``/Date(...)/`` escaped."""
    return json.dumps(ctx).replace('"/Date(', '"\\/Date(').replace(')/"', ')\\/"').encode()


def qualify_lead(lead: str = LEAD) -> dict:
    return context("QualifyLead", "lead", lead.upper(), {
        "LeadId": ref("lead", lead), "CreateAccount": True, "CreateContact": True, "CreateOpportunity": True,
        "Status": opt(3), "SuppressDuplicateDetection": False,
    }, outputs={"CreatedEntities": [ref("account", ACCOUNT), ref("contact", CONTACT), ref("opportunity", OPPORTUNITY)]})


def disqualify_update(statuscode: int = 6) -> dict:
    return context("Update", "lead", LEAD, {"Target": ent("lead", LEAD, leadid=LEAD, statecode=opt(2),
                                                          statuscode=opt(statuscode))})


def close(message: str, status: int) -> dict:
    return context(message, "opportunity", OPPORTUNITY, {
        "OpportunityClose": ent("opportunityclose", "00000000-0000-0000-0000-000000000000",
                                opportunityid=ref("opportunity", OPPORTUNITY), subject="Closed",
                                actualrevenue={"__type": f"Money:{C}", "Value": 1000.0}),
        "Status": opt(status),
    })


QUALIFICATION = Qualification(
    lead_id=LEAD, opportunity_id=OPPORTUNITY,
    account=SalesAccount(account_id=ACCOUNT, name="Company 1 & Sons", city="Uppsala"),
    contact=SalesContact(contact_id=CONTACT, first_name="First1", last_name="Last1", email="person1@example.com"),
)


class FakeSales:
    def __init__(self, qualification: Qualification | None = QUALIFICATION, fail: bool = False):
        self.qualification, self.fail, self.reads = qualification, fail, []

    def get_qualification(self, lead_id: str):
        self.reads.append(lead_id)
        if self.fail:
            raise ConnectionError("Dataverse is down")
        return self.qualification


@pytest.fixture
def clock():
    return ManualClock(datetime(2030, 5, 5, tzinfo=timezone.utc))


@pytest.fixture
def queue(tmp_path, clock):
    q = SqliteQueue(tmp_path / "queues.sqlite3", clock)
    yield q
    q.close()


@pytest.fixture
def sales():
    return FakeSales()


@pytest.fixture
def webhook(queue, clock, sales):
    return SalesWebhook(queue, OUTCOMES, clock, sales=sales, opportunity_lead={OPPORTUNITY: LEAD.upper()}.get)


def outcomes(queue) -> list[SalesOutcome]:
    return [parse_message(m.body, SalesOutcome) for m in queue.peek(OUTCOMES, max_messages=32)]


# --- dates ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("text", [f"/Date({WHEN_MS})/", f"/Date({WHEN_MS}+0000)/", f"/Date({WHEN_MS}+0200)/",
                                  "2026-01-01T12:00:00Z"])
def test_dotnet_dates(text):
    assert parse_dotnet_date(text) == WHEN


# --- the mapping ---------------------------------------------------------------------------------
def test_qualify_lead_is_lead_qualified_with_the_qualification_read_from_sales(webhook, queue, sales):
    result = webhook.handle(wire(qualify_lead()), {"X-MS-Correlation-Request-Id": "abc"})
    assert result.status == "enqueued" and result.kind == "lead_qualified"
    [outcome] = outcomes(queue)
    assert outcome.event_id == outcome_event_id("lead_qualified", LEAD) == result.event_id
    assert outcome.lead_id == LEAD  # lower case, as every id of ours
    assert outcome.opportunity_id == OPPORTUNITY and outcome.qualification == QUALIFICATION
    assert outcome.occurred_at == WHEN and outcome.source == "dataverse-webhook"
    assert sales.reads == [LEAD]


def test_qualify_without_a_readable_qualification_goes_without_it(queue, clock):
    for sales in (FakeSales(qualification=None), FakeSales(fail=True)):
        SalesWebhook(queue, OUTCOMES, clock, sales=sales).handle(wire(qualify_lead()), {})
    assert [(o.kind, o.qualification, o.opportunity_id) for o in outcomes(queue)] == \
        [("lead_qualified", None, OPPORTUNITY)] * 2  # propagation reads it from Sales later


def test_the_event_id_is_the_embedded_sales_one(webhook, queue, tmp_path, clock):
    """Same decision, same id: the embedded Sales' _emit and the webhook agree."""
    from shared.adapters.embedded_sales import EmbeddedSales

    embedded_queue = SqliteQueue(tmp_path / "embedded-queues.sqlite3", clock)
    embedded = EmbeddedSales(tmp_path / "sales.sqlite3", clock, embedded_queue, OUTCOMES)
    try:
        embedded._emit("lead_qualified", LEAD, LEAD)
        embedded._emit("opportunity_won", OPPORTUNITY, LEAD, opportunity_id=OPPORTUNITY)
        expected = [parse_message(m.body, SalesOutcome).event_id for m in embedded_queue.peek(OUTCOMES, max_messages=8)]
    finally:
        embedded.close()
        embedded_queue.close()
    webhook.handle(wire(qualify_lead()), {})
    webhook.handle(wire(close("Win", 3)), {})
    assert [o.event_id for o in outcomes(queue)] == expected


@pytest.mark.parametrize("statuscode, reason", [(4, "Lost"), (5, "Cannot Contact"), (6, "No Longer Interested"),
                                                (7, "Canceled"), (100000001, "statuscode 100000001")])
def test_update_to_disqualified_carries_the_reason(webhook, queue, statuscode, reason):
    result = webhook.handle(wire(disqualify_update(statuscode)), {})
    [outcome] = outcomes(queue)
    assert (result.status, outcome.kind, outcome.reason) == ("enqueued", "lead_disqualified", reason)
    assert outcome.event_id == outcome_event_id("lead_disqualified", LEAD) and outcome.lead_id == LEAD
    assert outcome.qualification is None and outcome.opportunity_id is None


def test_disqualified_state_read_from_the_post_image(webhook, queue):
    ctx = context("Update", "lead", LEAD, {"Target": ent("lead", LEAD, description="changed")},
                  post_images={"PostImage": ent("lead", LEAD, statecode=opt(2), statuscode=opt(5))})
    webhook.handle(wire(ctx), {})
    assert [(o.kind, o.reason) for o in outcomes(queue)] == [("lead_disqualified", "Cannot Contact")]


@pytest.mark.parametrize("message", ["SetState", "SetStateDynamicEntity"])
def test_set_state_to_disqualified(webhook, queue, message):
    ctx = context(message, "lead", LEAD, {"EntityMoniker": ref("lead", LEAD), "State": opt(2), "Status": opt(7)})
    webhook.handle(wire(ctx), {})
    assert [(o.kind, o.reason, o.event_id) for o in outcomes(queue)] == \
        [("lead_disqualified", "Canceled", outcome_event_id("lead_disqualified", LEAD))]


def test_updates_that_do_not_disqualify_are_acknowledged_and_ignored(webhook, queue):
    reopened = context("SetState", "lead", LEAD, {"EntityMoniker": ref("lead", LEAD), "State": opt(0), "Status": opt(1)})
    edited = context("Update", "lead", LEAD, {"Target": ent("lead", LEAD, subject="x")})
    assert [webhook.handle(wire(c), {}).status for c in (reopened, edited)] == ["ignored", "ignored"]
    assert queue.count(OUTCOMES) == 0


def test_win_finds_the_lead_of_the_opportunity(webhook, queue):
    result = webhook.handle(wire(close("Win", 3)), {})
    [outcome] = outcomes(queue)
    assert (result.status, outcome.kind, outcome.lead_id, outcome.opportunity_id) == \
        ("enqueued", "opportunity_won", LEAD, OPPORTUNITY)
    assert outcome.event_id == outcome_event_id("opportunity_won", OPPORTUNITY)
    assert outcome.qualification is None and outcome.reason is None


@pytest.mark.parametrize("status, reason", [(4, "Canceled"), (5, "Out-Sold")])
def test_lose_carries_the_reason(webhook, queue, status, reason):
    webhook.handle(wire(close("Lose", status)), {})
    [outcome] = outcomes(queue)
    assert (outcome.kind, outcome.reason, outcome.event_id) == \
        ("opportunity_lost", reason, outcome_event_id("opportunity_lost", OPPORTUNITY))


def test_an_opportunity_without_an_originating_lead_is_ignored(queue, clock):
    webhook = SalesWebhook(queue, OUTCOMES, clock, opportunity_lead=lambda opportunity_id: None)
    assert webhook.handle(wire(close("Win", 3)), {}).status == "ignored"
    assert queue.count(OUTCOMES) == 0


def test_a_lead_id_in_the_context_needs_no_lookup(queue, clock):
    ctx = close("Win", 3)
    ctx["InputParameters"][0]["value"]["Attributes"].append({"key": "originatingleadid", "value": ref("lead", LEAD)})
    SalesWebhook(queue, OUTCOMES, clock).handle(wire(ctx), {})
    assert [o.lead_id for o in outcomes(queue)] == [LEAD]


def test_leads_no_prospect_has_are_ignored_when_a_store_is_given(queue, clock, tmp_path):
    from shared.adapters.sqlite_store import SqliteStore

    store = SqliteStore(tmp_path / "state.sqlite3")
    try:
        webhook = SalesWebhook(queue, OUTCOMES, clock, store=store)
        result = webhook.handle(wire(disqualify_update()), {})
    finally:
        store.close()
    assert result.status == "ignored" and queue.count(OUTCOMES) == 0


# --- repeats -------------------------------------------------------------------------------------
@pytest.fixture
def store(tmp_path):
    """The state store, with the prospect whose lead the payloads name."""
    from shared.adapters.sqlite_store import SqliteStore
    from tests.contract.factories import prospect

    s = SqliteStore(tmp_path / "state.sqlite3")
    with s.unit_of_work() as uow:
        uow.add_prospect(prospect(1).model_copy(update={"lead_id": LEAD}))
    yield s
    s.close()


def instance(queue, clock, sales, store) -> SalesWebhook:
    """One function instance: its own SalesWebhook, sharing only the queue and the store."""
    return SalesWebhook(queue, OUTCOMES, clock, sales=sales, opportunity_lead={OPPORTUNITY: LEAD.upper()}.get,
                        store=store)


def test_a_repeated_request_is_enqueued_once(queue, clock, sales, store):
    webhook = instance(queue, clock, sales, store)
    body = wire(qualify_lead())
    assert [webhook.handle(body, {}).status for _ in range(3)] == ["enqueued", "duplicate", "duplicate"]
    assert queue.count(OUTCOMES) == 1


def test_a_repeat_reaching_another_instance_is_recognised_through_the_store(queue, clock, sales, store):
    one, two = instance(queue, clock, sales, store), instance(queue, clock, sales, store)
    body = wire(close("Lose", 5))
    assert one.handle(body, {}).status == "enqueued"
    assert two.handle(body, {}).status == "duplicate"
    assert two.handle(wire(close("Win", 3)), {}).status == "enqueued"  # another request: not a repeat
    assert [o.kind for o in outcomes(queue)] == ["opportunity_lost", "opportunity_won"]


def test_the_correlation_header_identifies_a_repeat_when_the_context_has_no_request_id(queue, clock, sales, store):
    one, two = instance(queue, clock, sales, store), instance(queue, clock, sales, store)
    ctx = disqualify_update()
    ctx["RequestId"] = ctx["OperationId"] = None
    body = wire(ctx)
    headers = {"x-ms-correlation-request-id": "c0ffee00-0000-4000-8000-000000000005"}
    assert one.handle(body, headers).status == "enqueued"
    assert two.handle(body, headers).status == "duplicate"
    assert two.handle(body, {"x-ms-correlation-request-id": "c0ffee00-0000-4000-8000-000000000006"}).status \
        == "enqueued"  # another request, same decision: harmless (same event id)
    assert len({o.event_id for o in outcomes(queue)}) == 1


class FailingSend:
    """A queue whose next send fails (the outcome never went out)."""

    def __init__(self, queue):
        self._queue, self.fail = queue, True

    def send(self, name, body, **kwargs):
        if self.fail:
            self.fail = False
            raise ConnectionError("queue unavailable")
        return self._queue.send(name, body, **kwargs)


def test_a_request_whose_send_failed_is_not_a_repeat_when_retried(queue, clock, sales, store):
    failing = FailingSend(queue)
    body = wire(qualify_lead())
    with pytest.raises(WebhookUnavailable) as unavailable:  # a 503, which Dataverse retries (never a 500)
        instance(failing, clock, sales, store).handle(body, {})
    assert isinstance(unavailable.value.__cause__, ConnectionError)
    assert queue.count(OUTCOMES) == 0
    assert instance(queue, clock, sales, store).handle(body, {}).status == "enqueued"
    assert instance(queue, clock, sales, store).handle(body, {}).status == "duplicate"
    assert queue.count(OUTCOMES) == 1


def test_two_instances_racing_on_one_repeat_both_enqueue_the_same_message(queue, clock, sales, store):
    """Both checked before either recorded: the second record meets the first and is not an error; the
    two messages are the same outcome, which propagation applies once."""
    one, two = instance(queue, clock, sales, store), instance(queue, clock, sales, store)
    body = wire(close("Lose", 5))
    seen = two._seen
    two._seen = lambda delivery: False  # two read "not seen" before one recorded
    assert one.handle(body, {}).status == "enqueued"
    assert two.handle(body, {}).status == "enqueued"
    two._seen = seen
    first, second = (m.body for m in queue.peek(OUTCOMES, max_messages=8))
    assert first == second  # same event id and occurred_at
    assert two.handle(body, {}).status == "duplicate"


def test_without_a_store_every_request_is_enqueued_with_the_same_event_id(queue, clock, sales):
    body = wire(close("Lose", 5))
    lookup = {OPPORTUNITY: LEAD}.get
    for _ in range(2):
        SalesWebhook(queue, OUTCOMES, clock, sales=sales, opportunity_lead=lookup).handle(body, {})
    first, second = (m.body for m in queue.peek(OUTCOMES, max_messages=8))
    assert first == second  # same event id and occurred_at: propagation applies it once


# --- refusals ------------------------------------------------------------------------------------
@pytest.mark.parametrize("body", [b"{not json", b"[]", b"null", b'{"MessageName": "Win"}',
                                  b'{"MessageName": 3, "PrimaryEntityName": "lead"}',
                                  b'{"MessageName": "Update", "PrimaryEntityName": "lead", "OperationCreatedOn": "soon"}'])
def test_malformed_bodies(webhook, body):
    with pytest.raises(InvalidWebhook):
        webhook.handle(body, {})


def test_missing_ids_are_invalid(webhook):
    ctx = close("Win", 3)
    ctx["PrimaryEntityId"] = "00000000-0000-0000-0000-000000000000"
    ctx["InputParameters"][0]["value"]["Attributes"] = []
    with pytest.raises(InvalidWebhook, match="names no opportunity"):
        webhook.handle(wire(ctx), {})


@pytest.mark.parametrize("message, entity", [("Create", "lead"), ("Delete", "lead"), ("Win", "lead"),
                                             ("QualifyLead", "contact"), ("Update", "opportunity")])
def test_unknown_messages_are_refused_without_personal_data(webhook, queue, message, entity):
    ctx = context(message, entity, LEAD, {"Target": ent(entity, LEAD, firstname="Jane", emailaddress1="jane@example.com")})
    with pytest.raises(UnsupportedWebhook, match=message) as refused:
        webhook.handle(wire(ctx), {})
    assert "jane" not in str(refused.value).lower()
    assert queue.count(OUTCOMES) == 0


def test_logs_name_messages_and_ids_only(webhook, caplog):
    caplog.set_level(logging.INFO, logger="b2b.sales_webhook")
    ctx = disqualify_update()
    ctx["InputParameters"][0]["value"]["Attributes"] += [{"key": "emailaddress1", "value": "jane@example.com"},
                                                          {"key": "fullname", "value": "Jane Doe"}]
    webhook.handle(wire(ctx), {})
    webhook.handle(wire(qualify_lead()), {})  # the qualification (names, email) goes on the queue, not in the log
    text = " ".join(f"{r.getMessage()} {r.__dict__}" for r in caplog.records)
    assert LEAD in text and "lead_disqualified" in text
    for personal in ("jane", "Jane", "First1", "Last1", "person1@example.com", "Company 1"):
        assert personal not in text


# --- transient faults: 503 (Dataverse retries 502/503/504 only), within the budget ----------------------
class Throttled(Exception):
    """What the Dataverse adapter raises for a 429 it will not wait out (duck-typed: ``retry_after``)."""

    retry_after = 69.0


class Refused(Exception):
    permanent = True  # a Dataverse 4xx: no retry fixes it


def failing_lookup(error: Exception):
    def lookup(opportunity_id: str):
        raise error
    return lookup


@pytest.mark.parametrize("error, retry_after", [(Throttled("429"), 69), (ConnectionError("unreachable"), 10),
                                                (TimeoutError("read timed out"), 10)])
def test_a_sales_read_that_fails_for_now_is_unavailable_with_retry_after(queue, clock, error, retry_after):
    webhook = SalesWebhook(queue, OUTCOMES, clock, opportunity_lead=failing_lookup(error))
    with pytest.raises(WebhookUnavailable) as unavailable:
        webhook.handle(wire(close("Win", 3)), {})
    assert unavailable.value.retry_after == retry_after and unavailable.value.__cause__ is error
    assert queue.count(OUTCOMES) == 0


def test_a_permanent_sales_refusal_is_not_made_transient(queue, clock):
    webhook = SalesWebhook(queue, OUTCOMES, clock, opportunity_lead=failing_lookup(Refused("403")))
    with pytest.raises(Refused):
        webhook.handle(wire(close("Win", 3)), {})


class FailingStore:
    """A store that times out (Azure Table Storage unreachable, SQLite locked)."""

    def unit_of_work(self, read_only: bool = False):
        raise TimeoutError("the store did not answer")


def test_a_store_that_fails_is_unavailable(queue, clock, sales):
    webhook = SalesWebhook(queue, OUTCOMES, clock, sales=sales, store=FailingStore())
    with pytest.raises(WebhookUnavailable, match="the store"):
        webhook.handle(wire(disqualify_update()), {})
    assert queue.count(OUTCOMES) == 0


def test_a_queue_send_that_fails_is_unavailable(queue, clock, sales):
    webhook = SalesWebhook(FailingSend(queue), OUTCOMES, clock, sales=sales)
    with pytest.raises(WebhookUnavailable, match="the outcome queue"):
        webhook.handle(wire(disqualify_update()), {})


def test_a_store_that_fails_only_to_record_the_request_still_answers_enqueued(queue, clock, sales, store,
                                                                               monkeypatch):
    webhook = instance(queue, clock, sales, store)
    real = store.unit_of_work

    def read_only_works(read_only: bool = False):
        if not read_only:
            raise TimeoutError("the store did not answer")
        return real(read_only=True)

    monkeypatch.setattr(store, "unit_of_work", read_only_works)
    assert webhook.handle(wire(disqualify_update()), {}).status == "enqueued"  # on the queue: handled
    assert queue.count(OUTCOMES) == 1


def test_with_the_budget_nearly_spent_the_qualification_is_left_to_propagation(queue, clock):
    """A QualifyLead whose handling took 16 of its 20 s before the optional qualification read: the read is
    skipped (propagation reads it), the outcome goes out in time."""
    now = [0.0]
    sales = FakeSales()
    webhook = SalesWebhook(queue, OUTCOMES, clock, sales=sales, budget=20.0, monotonic=lambda: now[0])
    decide = webhook._decide

    def slow_decide(context):
        now[0] += 16.0
        return decide(context)

    webhook._decide = slow_decide
    assert webhook.handle(wire(qualify_lead()), {}).status == "enqueued" and sales.reads == []
    [outcome] = outcomes(queue)
    assert outcome.kind == "lead_qualified" and outcome.qualification is None

    now[0] = 0.0
    webhook._decide = decide  # the budget whole: read
    webhook.handle(wire(qualify_lead()), {})
    assert sales.reads == [LEAD]


def test_the_budget_is_the_deadline_of_the_sales_reads(queue, clock):
    """The reads run under the request's deadline (what the Dataverse adapter reads to cut its waits)."""
    from shared.deadline import current_deadline

    seen = []

    def lookup(opportunity_id):
        seen.append(current_deadline().remaining())
        return LEAD

    SalesWebhook(queue, OUTCOMES, clock, opportunity_lead=lookup, budget=12.5, monotonic=lambda: 0.0) \
        .handle(wire(close("Win", 3)), {})
    assert seen == [12.5] and current_deadline() is None


# --- oversized contexts (x-ms-dynamics-msg-size-exceeded) ----------------------------------------
TRIMMED = {"x-ms-dynamics-msg-size-exceeded": "true"}


def trimmed(ctx: dict) -> dict:
    """As Dataverse sends a context above 256 KB: without these four properties (OutputParameters stay)."""
    return {k: v for k, v in ctx.items()
            if k not in ("InputParameters", "ParentContext", "PreEntityImages", "PostEntityImages")}


def snapshot(statecode: int, statuscode: int, opportunity: str | None = None, opportunity_statuscode: int | None = None):
    from shared.domain.sales import LeadSnapshot, LeadState, OpportunityState

    return LeadSnapshot(lead_id=LEAD, prospect_number="PRO-000001", statecode=LeadState(statecode),
                        statuscode=statuscode, qualifying_opportunity_id=opportunity,
                        opportunity_state=OpportunityState.LOST if opportunity_statuscode else None,
                        opportunity_statuscode=opportunity_statuscode, created_on=WHEN, modified_on=WHEN)


class LeadReadingSales(FakeSales):
    def __init__(self, lead=None, fail: Exception | None = None):
        super().__init__()
        self.lead, self.error, self.lead_reads = lead, fail, []

    def get_lead(self, lead_id):
        self.lead_reads.append(lead_id)
        if self.error is not None:
            raise self.error
        return self.lead


def trimmed_webhook(queue, clock, sales) -> SalesWebhook:
    return SalesWebhook(queue, OUTCOMES, clock, sales=sales, opportunity_lead={OPPORTUNITY: LEAD}.get)


def test_a_trimmed_win_takes_the_opportunity_from_the_primary_entity(queue, clock):
    result = trimmed_webhook(queue, clock, LeadReadingSales()).handle(wire(trimmed(close("Win", 3))), TRIMMED)
    assert (result.status, result.kind, result.lead_id, result.opportunity_id) == \
        ("enqueued", "opportunity_won", LEAD, OPPORTUNITY)
    assert result.event_id == outcome_event_id("opportunity_won", OPPORTUNITY)


def test_a_trimmed_lose_reads_its_reason_from_sales(queue, clock):
    sales = LeadReadingSales(snapshot(1, 3, OPPORTUNITY, opportunity_statuscode=5))
    result = trimmed_webhook(queue, clock, sales).handle(wire(trimmed(close("Lose", 5))), TRIMMED)
    assert (result.status, result.kind) == ("enqueued", "opportunity_lost")
    [outcome] = outcomes(queue)
    assert outcome.reason == "Out-Sold" and outcome.event_id == outcome_event_id("opportunity_lost", OPPORTUNITY)


def test_without_the_header_a_win_without_its_opportunity_close_is_still_refused(webhook):
    with pytest.raises(InvalidWebhook, match="OpportunityClose"):
        webhook.handle(wire(trimmed(close("Win", 3))), {})


@pytest.mark.parametrize("message", ["Update", "SetState", "SetStateDynamicEntity"])
def test_a_trimmed_lead_change_is_a_disqualification_when_sales_has_it_disqualified(queue, clock, message):
    sales = LeadReadingSales(snapshot(2, 6))
    ctx = trimmed(context(message, "lead", LEAD, {}))
    result = trimmed_webhook(queue, clock, sales).handle(wire(ctx), TRIMMED)
    assert (result.status, result.kind) == ("enqueued", "lead_disqualified") and sales.lead_reads == [LEAD]
    assert outcomes(queue)[0].reason == "No Longer Interested"


def test_a_trimmed_lead_update_that_did_not_disqualify_is_ignored(queue, clock):
    sales = LeadReadingSales(snapshot(0, 1))
    result = trimmed_webhook(queue, clock, sales).handle(wire(trimmed(context("Update", "lead", LEAD, {}))), TRIMMED)
    assert result.status == "ignored" and queue.count(OUTCOMES) == 0


def test_a_trimmed_qualify_lead_needs_nothing_that_was_removed(queue, clock):
    sales = LeadReadingSales()
    result = trimmed_webhook(queue, clock, sales).handle(wire(trimmed(qualify_lead())), TRIMMED)
    assert (result.status, result.kind, result.opportunity_id) == ("enqueued", "lead_qualified", OPPORTUNITY)
    assert sales.lead_reads == [] and outcomes(queue)[0].qualification == QUALIFICATION


def test_a_trimmed_context_whose_sales_read_fails_for_now_is_unavailable(queue, clock):
    sales = LeadReadingSales(fail=Throttled("429"))
    with pytest.raises(WebhookUnavailable) as unavailable:
        trimmed_webhook(queue, clock, sales).handle(wire(trimmed(context("Update", "lead", LEAD, {}))), TRIMMED)
    assert unavailable.value.retry_after == 69
