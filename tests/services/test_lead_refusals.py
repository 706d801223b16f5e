"""A 4xx that retry cannot fix: the prospect's history keeps Sales' answer for the operator (never a log
line), the prospect is flagged once however often the message is retried, the message ends on the poison
queue, and a replay once the cause is fixed creates the lead."""
from __future__ import annotations

import json
import logging

from shared.adapters.dataverse_sales import DataverseRequestError
from shared.queue_worker import QueueRules, poison_queue_name
from tests.services.flow import sales_count, work

SECRET = "person1@example.com"  # personal data the error answer repeats
BODY = json.dumps({"error": {"code": "0x80040203",
                             "message": f"Invalid value for emailaddress1: '{SECRET}' " + "x" * 800}})


def refusing(draft):
    raise DataverseRequestError("Dataverse refused to create a lead: 400 0x80040203", status=400,
                                code="0x80040203", body=BODY, method="POST", url="https://org/api/data/v9.2/leads")


def test_a_permanent_refusal_is_recorded_once_poisoned_and_replayable(container, body, monkeypatch, caplog):
    c = container
    c.intake.submit(body)
    c.channel_sync.run()
    caplog.set_level(logging.DEBUG)
    with monkeypatch.context() as patch:
        patch.setattr(c.sales, "create_lead", refusing)
        work(c, QueueRules(max_dequeue_count=5, visibility_timeout=0))

    assert c.queue.count(c.settings.lead_queue) == 0
    assert c.queue.count(poison_queue_name(c.settings.lead_queue)) == 1
    [prospect] = c.operator.prospects()
    details = c.operator.prospect(prospect.number)
    assert details.prospect.needs_attention and details.prospect.lead_created_at is None
    assert details.prospect.attention_reason == "lead refused by Sales: 400 0x80040203"
    refusals = [h for h in details.history if h.action == "lead refused by Sales"]
    assert len(refusals) == 1  # five attempts, one line
    assert "400" in refusals[0].detail and "0x80040203" in refusals[0].detail
    assert BODY[:500] in refusals[0].detail and BODY[:501] not in refusals[0].detail
    logged = "\n".join(f"{r.getMessage()} {r.__dict__}" for r in caplog.records)
    assert "lead refused by Sales" in logged and SECRET not in logged and "Invalid value" not in logged

    [message] = c.operator.poison_messages(c.settings.lead_queue)
    c.operator.replay_poison(c.settings.lead_queue, message.id, "ops")
    work(c)
    assert sales_count(c, "leads") == 1
    assert c.operator.prospect(prospect.number).prospect.lead_created_at is not None
    assert c.queue.count(poison_queue_name(c.settings.lead_queue)) == 0


def test_a_passing_outage_is_not_recorded_as_a_refusal(container, body, monkeypatch):
    c = container
    c.intake.submit(body)
    c.channel_sync.run()

    def down(draft):
        raise ConnectionError("503")

    with monkeypatch.context() as patch:
        patch.setattr(c.sales, "create_lead", down)
        work(c, QueueRules(max_dequeue_count=2, visibility_timeout=0))
    [prospect] = c.operator.prospects()
    details = c.operator.prospect(prospect.number)
    assert not details.prospect.needs_attention
    assert not [h for h in details.history if h.action == "lead refused by Sales"]
