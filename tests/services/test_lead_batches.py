"""The batch consumer of the lead queue (SALES_MODE=dataverse): many create-lead messages, one
``create_leads`` call, each message settled on its own lead's result — created (recorded, deleted),
a passing failure (released with a backoff, poisoned after the last try), a permanent refusal (recorded
and flagged as the per-message path does, poisoned with the original body), a malformed message (poisoned
at once). On the embedded Sales with scripted failures, and through the Dataverse simulator."""
from __future__ import annotations

import argparse
import io
import json
import logging

import pytest

from shared.adapters.dataverse_sales import DataverseRequestError, DataverseSales, DataverseUnavailable, RetryPolicy
from shared.bootstrap import Container
from shared.cli import Cli
from shared.config import Settings
from shared.domain.messages import CreateLead
from shared.observability import JsonFormatter
from shared.ports import LeadResult
from shared.queue_worker import poison_queue_name
from shared.services.leads import LeadBatchCreation
from tests.dataverse_sim import running_simulator
from tests.services.flow import DECISIONS_ONLY, sales_count, signup_body, work

BODY = json.dumps({"error": {"code": "0x80040203", "message": "Invalid value for emailaddress1: 'person2@example.com'"}})


class ScriptedSales:
    """The embedded Sales, except for the leads given an error (per lead id) or a whole-call failure."""

    def __init__(self, sales, errors: dict[str, Exception] | None = None, raise_whole: Exception | None = None):
        self._sales, self.errors, self.raise_whole, self.calls = sales, errors or {}, raise_whole, []

    def create_leads(self, drafts):
        self.calls.append([d.lead_id for d in drafts])
        if self.raise_whole is not None:
            raise self.raise_whole
        return [LeadResult(d.lead_id, error=self.errors[d.lead_id]) if d.lead_id in self.errors
                else LeadResult(d.lead_id, snapshot=self._sales.create_lead(d)) for d in drafts]


def refusal() -> DataverseRequestError:
    return DataverseRequestError("Dataverse refused to create lead: 400 0x80040203", status=400, code="0x80040203",
                                 body=BODY, method="POST", url="https://org/api/data/v9.2/$batch")


def prospects_with_messages(c: Container, n: int) -> list:
    for i in range(1, n + 1):
        c.intake.submit(signup_body(i))
    c.channel_sync.run()
    assert c.queue.count(c.settings.lead_queue) == n
    return sorted(c.operator.prospects(), key=lambda p: p.number)


def consumer(c: Container, sales, **options) -> LeadBatchCreation:
    return LeadBatchCreation(c.lead_creation, sales, c.queue, c.settings.lead_queue, jitter=lambda: 0.0, **options)


def lead_history(c: Container, number: str) -> list[str]:
    return [h.action for h in c.operator.prospect(number).history if h.actor == "lead-creation"]


def test_all_leads_of_the_queue_in_one_create_leads_call(container):
    c = container
    prospects = prospects_with_messages(c, 5)
    sales = ScriptedSales(c.sales)
    report = consumer(c, sales, batch_size=10).run_once()
    assert len(sales.calls) == 1 and sorted(sales.calls[0]) == sorted(p.lead_id for p in prospects)
    assert (report.taken, report.created, report.retried, report.poisoned) == (5, 5, 0, 0)
    assert c.queue.count(c.settings.lead_queue) == 0 and sales_count(c, "leads") == 5
    for p in prospects:
        assert c.operator.prospect(p.number).prospect.lead_created_at is not None
        assert lead_history(c, p.number) == ["lead created"]  # the per-message path's record


def test_a_batch_logs_its_counts_at_info_as_json(container):
    """At INFO (production's LOG_LEVEL) "lead batch done" is logged, not raised: its count of created leads is
    ``leads_created`` (``created`` is a LogRecord attribute, and makeRecord refused it with KeyError)."""
    c = container
    prospects_with_messages(c, 2)
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    log = logging.getLogger("b2b.leads")
    log.addHandler(handler)
    saved = log.level
    log.setLevel(logging.INFO)
    try:
        report = consumer(c, ScriptedSales(c.sales), batch_size=10).run_once()
    finally:
        log.removeHandler(handler)
        log.setLevel(saved)
    [done] = [json.loads(line) for line in stream.getvalue().splitlines() if '"lead batch done"' in line]
    assert (done["taken"], done["leads_created"], done["retried"], done["poisoned"]) == (2, 2, 0, 0)
    assert report.created == 2


def test_batches_are_at_most_batch_size_and_drain_takes_them_all(container):
    c = container
    prospects_with_messages(c, 7)
    sales = ScriptedSales(c.sales)
    report = consumer(c, sales, batch_size=3).drain()
    assert [len(call) for call in sales.calls] == [3, 3, 1]
    assert (report.taken, report.created) == (7, 7) and c.queue.count(c.settings.lead_queue) == 0


def test_a_passing_failure_releases_only_its_message_with_a_backoff(container, clock):
    c = container
    first, second, third = prospects_with_messages(c, 3)
    sales = ScriptedSales(c.sales, {second.lead_id: DataverseUnavailable("503 five times", status=503)})
    report = consumer(c, sales, backoff_base=10.0).run_once()
    assert (report.created, report.retried, report.poisoned) == (2, 1, 0)
    assert c.queue.count(c.settings.lead_queue) == 1  # still there, invisible for the backoff
    assert lead_history(c, second.number) == [] and not c.operator.prospect(second.number).prospect.needs_attention

    clock.advance(4.9)  # first retry: half of 10 s with no jitter
    assert consumer(c, sales).run_once().taken == 0
    clock.advance(0.2)
    del sales.errors[second.lead_id]
    report = consumer(c, sales).run_once()
    assert (report.taken, report.created) == (1, 1)
    assert c.operator.prospect(second.number).prospect.lead_created_at is not None
    assert c.queue.count(c.settings.lead_queue) == 0 and sales_count(c, "leads") == 3


def test_the_backoff_doubles_with_each_try_and_the_last_try_poisons(container, clock):
    c = container
    [prospect] = prospects_with_messages(c, 1)
    sales = ScriptedSales(c.sales, {prospect.lead_id: DataverseUnavailable("timeout")})
    batches = consumer(c, sales, backoff_base=10.0, max_dequeue_count=3)
    waits = []
    for _ in range(3):
        waited = 0.0
        while batches.run_once().taken == 0:
            clock.advance(1)
            waited += 1
        waits.append(waited)
    assert waits == [0, 5, 10]  # taken at once, then after 5 s (10/2), then after 10 s (20/2)
    assert c.queue.count(c.settings.lead_queue) == 0
    [poisoned] = c.operator.poison_messages(c.settings.lead_queue)
    assert json.loads(poisoned.body)["prospect_id"] == prospect.id
    assert not c.operator.prospect(prospect.number).prospect.needs_attention  # an outage is not a refusal


def test_a_permanent_refusal_is_recorded_like_the_per_message_path_and_poisoned(container):
    c = container
    first, second, third = prospects_with_messages(c, 3)
    [original] = [m.body for m in c.queue.peek(c.settings.lead_queue, max_messages=8)
                  if json.loads(m.body)["prospect_id"] == second.id]
    sales = ScriptedSales(c.sales, {second.lead_id: refusal()})
    report = consumer(c, sales).run_once()
    assert (report.created, report.refused, report.poisoned, report.retried) == (2, 1, 1, 0)

    details = c.operator.prospect(second.number)
    assert details.prospect.needs_attention and details.prospect.lead_created_at is None
    assert details.prospect.attention_reason == "lead refused by Sales: 400 0x80040203"
    [refused] = [h for h in details.history if h.action == "lead refused by Sales"]
    assert refused.detail == f"status 400, code 0x80040203: {BODY}"  # Sales' answer, for the operator
    [poisoned] = c.operator.poison_messages(c.settings.lead_queue)
    assert poisoned.body == original  # byte for byte: replay sends what failed
    assert c.queue.count(c.settings.lead_queue) == 0

    del sales.errors[second.lead_id]  # the cause fixed in Sales: the operator replays
    c.operator.replay_poison(c.settings.lead_queue, poisoned.id, "ops")
    assert consumer(c, sales).run_once().created == 1
    assert c.operator.prospect(second.number).prospect.lead_created_at is not None
    assert c.queue.count(poison_queue_name(c.settings.lead_queue)) == 0


def test_the_same_refusal_matches_what_the_per_message_path_records(tmp_path, clock):
    """Both paths, same refusal, separate state: the same attention reason and history line."""
    recorded = []  # (attention reason, lead-creation history, the message poisoned as it was sent)
    for path in ("message", "batch"):
        c = Container.build(Settings.from_env({}, data_dir=tmp_path / path), clock=clock)
        try:
            [prospect] = prospects_with_messages(c, 1)
            if path == "message":
                c.sales.create_lead = lambda draft: (_ for _ in ()).throw(refusal())
                work(c)
            else:
                consumer(c, ScriptedSales(c.sales, {prospect.lead_id: refusal()})).run_once()
            details = c.operator.prospect(prospect.number)
            recorded.append((details.prospect.attention_reason,
                             [(h.action, h.detail) for h in details.history if h.actor == "lead-creation"],
                             [m.body for m in c.operator.poison_messages(c.settings.lead_queue)]
                             == [CreateLead(prospect_id=prospect.id).to_json()]))
        finally:
            for adapter in (c.store, c.queue, c.sales):
                adapter.close()
    assert recorded[0] == recorded[1] and recorded[0][2] is True


@pytest.mark.parametrize("body", ["{not json", json.dumps({"schema": "create-lead", "version": 7}),
                                  CreateLead(prospect_id="no-such-prospect").to_json()])
def test_a_malformed_message_is_poisoned_at_once_and_the_others_go_on(container, body):
    c = container
    prospects_with_messages(c, 2)
    c.queue.send(c.settings.lead_queue, body)
    sales = ScriptedSales(c.sales)
    report = consumer(c, sales).run_once()
    assert (report.taken, report.created, report.poisoned) == (3, 2, 1)
    assert [m.body for m in c.operator.poison_messages(c.settings.lead_queue)] == [body]
    assert c.queue.count(c.settings.lead_queue) == 0


def test_a_message_whose_lead_exists_is_deleted_without_asking_sales(container):
    c = container
    [prospect] = prospects_with_messages(c, 1)
    work(c)  # the per-message path created it
    c.queue.send(c.settings.lead_queue, CreateLead(prospect_id=prospect.id).to_json())  # a redelivery
    sales = ScriptedSales(c.sales)
    report = consumer(c, sales).run_once()
    assert (report.taken, report.done_already) == (1, 1) and sales.calls == []
    assert lead_history(c, prospect.number) == ["lead created"] and c.queue.count(c.settings.lead_queue) == 0


def test_a_failed_call_releases_every_message(container):
    c = container
    prospects_with_messages(c, 3)
    sales = ScriptedSales(c.sales, raise_whole=DataverseUnavailable("connection refused"))
    report = consumer(c, sales).run_once()
    assert (report.taken, report.retried, report.created, report.poisoned) == (3, 3, 0, 0)
    assert c.queue.count(c.settings.lead_queue) == 3 and sales_count(c, "leads") == 0


def test_the_container_uses_batches_only_with_dataverse(tmp_path, clock):
    embedded = Container.build(Settings.from_env({}, data_dir=tmp_path / "e"), clock=clock)
    try:
        assert embedded.lead_batches is None
    finally:
        for adapter in (embedded.store, embedded.queue, embedded.sales):
            adapter.close()
    with running_simulator() as sim:
        token = sim.issue_token()
        sales = DataverseSales(sim.url, lambda: token)
        settings = Settings.from_env({"SALES_MODE": "dataverse", "DATAVERSE_URL": "https://org.crm4.dynamics.com",
                                      "LEAD_BATCH_SIZE": "25"}, data_dir=tmp_path / "d")
        c = Container.build(settings, clock=clock, sales=sales)
        try:
            assert isinstance(c.lead_batches, LeadBatchCreation) and c.lead_batches._batch_size == 25
        finally:
            c.store.close()
            c.queue.close()


# --- through the Dataverse simulator ---------------------------------------------------------------
@pytest.fixture
def on_simulator(tmp_path, clock):
    with running_simulator() as sim:
        token = sim.issue_token()
        sales = DataverseSales(sim.url, lambda: token, batch_size=10, sleep=lambda seconds: None,
                               retry=RetryPolicy(max_attempts=2))
        c = Container.build(Settings.from_env({"SALES_MODE": "dataverse", "DATAVERSE_URL": "https://org.example", **DECISIONS_ONLY},
                                              data_dir=tmp_path), clock=clock, sales=sales)
        try:
            yield sim, c
        finally:
            c.store.close()
            c.queue.close()
            sales.close()


def test_through_the_simulator_one_batch_request_per_ten_leads_and_each_message_settled(on_simulator, clock):
    sim, c = on_simulator
    prospects = prospects_with_messages(c, 12)
    refused, flaky = prospects[3], prospects[8]
    sim.refuse_lead(refused.lead_id)  # a sync plug-in throws: 400 in its changeset
    sim.refuse_lead(flaky.lead_id, status=503, code="0x80040216", message="Plug-in timed out.")
    before = len(sim.requests)

    report = c.lead_batches.run_once()
    assert (report.taken, report.created, report.refused, report.retried) == (12, 10, 1, 1)
    posts = [r for r in sim.requests[before:] if r["method"] == "POST"]
    assert [r["path"].split("?")[0].rsplit("/", 1)[-1] for r in posts].count("$batch") == 2  # 12 leads: 10 + 2
    assert sim.lead_count() == 10 and sim.lead(refused.lead_id) is None and sim.lead(flaky.lead_id) is None

    details = c.operator.prospect(refused.number)
    assert details.prospect.attention_reason == "lead refused by Sales: 400 0x80040265"
    assert "InvalidPluginExecutionException" in [h for h in details.history if h.action == "lead refused by Sales"][0].detail
    assert [json.loads(m.body)["prospect_id"] for m in c.operator.poison_messages(c.settings.lead_queue)] == [refused.id]

    del sim.store.lead_create_errors[flaky.lead_id]  # the plug-in recovers; the released message comes back
    clock.advance(300)
    report = c.lead_batches.run_once()
    assert (report.taken, report.created) == (1, 1) and sim.lead(flaky.lead_id) is not None
    assert sim.lead_count() == 11 and len(sim.notes(flaky.lead_id)) == 1
    assert all(c.operator.prospect(p.number).prospect.lead_created_at for p in prospects if p is not refused)


def test_the_cli_work_command_sends_leads_in_batches_with_dataverse(on_simulator, capsys):
    sim, c = on_simulator
    prospects_with_messages(c, 12)
    before = len(sim.requests)

    Cli(c).work(argparse.Namespace())

    batches = [r for r in sim.requests[before:] if r["method"] == "POST" and r["path"].endswith("$batch")]
    assert len(batches) == 2 and sim.lead_count() == 12 and c.queue.count(c.settings.lead_queue) == 0
    out = capsys.readouterr().out
    assert "leads: 12 created in batches, 0 there already, 0 to retry, 0 to poison" in out
    assert "messages processed: 0" in out  # nothing else was queued
