"""The channel sync under concurrency, and messages that cannot be processed."""
from __future__ import annotations

from shared.bootstrap import Container
from shared.config import Settings
from shared.domain.model import ProspectStatus
from shared.queue_worker import QueueRules, QueueWorker, poison_queue_name
from tests.services.flow import DECISIONS_ONLY, count, sales_count, signup_body, work
from tests.threads import run_in_threads


def test_two_syncs_at_once_make_each_signup_one_prospect(container):
    c = container
    for n in range(120):
        c.intake.submit(signup_body(n))
    # A second process with its own connections, as two timer instances would be.
    other = Container.build(c.settings, clock=c.clock)
    syncs = [c.channel_sync, other.channel_sync]
    reports = run_in_threads([sync.run for sync in syncs for _ in range(2)])
    assert sum(r.prospects_created for r in reports) == 120  # each signup made a prospect in one run only
    prospects = c.operator.prospects()
    assert len(prospects) == 120
    assert sorted(p.number for p in prospects) == [f"PRO-{n:06d}" for n in range(1, 121)]
    assert len({p.signup_id for p in prospects}) == 120
    assert c.queue.count(c.settings.lead_queue) == 120
    work(c)
    assert sales_count(c, "leads") == 120


def test_sync_batches_cover_everything(tmp_path, clock):
    c = Container.build(Settings.from_env({"SYNC_BATCH_SIZE": "7", **DECISIONS_ONLY}, data_dir=tmp_path), clock=clock)
    for n in range(30):
        c.intake.submit(signup_body(n))
    assert c.channel_sync.run().prospects_created == 30
    assert c.channel_sync.run().prospects_created == 0


def test_idempotency_key_returns_the_first_request(container, body):
    first = container.intake.submit(body, idempotency_key="abc")
    again = container.intake.submit(body, idempotency_key="abc")
    assert first.signup_id == again.signup_id and first.created and not again.created
    assert count(container, "signups") == 1


def test_malformed_messages_go_to_poison_listed_and_replayable(container, body):
    c = container
    rules = QueueRules(max_dequeue_count=5, visibility_timeout=0)
    garbage = ["not json", '{"schema": "create-lead", "version": 9}', "[]", '{"schema":"sales-outcome"}']
    for text in garbage:
        c.queue.send(c.settings.lead_queue, text)
    attempts = 0
    worker = QueueWorker(c.queue, c.settings.lead_queue, lambda m: c.lead_creation.handle(m.body), rules)
    while worker.run_once():
        attempts += 1
    assert c.queue.count(c.settings.lead_queue) == 0
    poisoned = c.operator.poison_messages(c.settings.lead_queue)
    assert sorted(m.body for m in poisoned) == sorted(garbage)  # nothing lost, byte for byte
    assert c.operator.poison_counts()[poison_queue_name(c.settings.lead_queue)] == 4
    shown = c.operator.poison_message(c.settings.lead_queue, poisoned[0].id)
    assert shown.body == poisoned[0].body
    new_id = c.operator.replay_poison(c.settings.lead_queue, poisoned[0].id, "ops").new_id
    assert c.queue.get(c.settings.lead_queue, new_id).body == poisoned[0].body
    assert len(c.operator.poison_messages(c.settings.lead_queue)) == 3


def test_a_message_poisoned_by_an_outage_succeeds_on_replay(container, body, monkeypatch):
    c = container
    c.intake.submit(body)
    c.channel_sync.run()

    class SalesDown(Exception):
        pass

    def sales_down(draft):
        raise SalesDown("503")

    with monkeypatch.context() as patch:
        patch.setattr(c.sales, "create_lead", sales_down)
        work(c, QueueRules(max_dequeue_count=3, visibility_timeout=0))
    assert c.queue.count(poison_queue_name(c.settings.lead_queue)) == 1
    message = c.operator.poison_messages(c.settings.lead_queue)[0]
    c.operator.replay_poison(c.settings.lead_queue, message.id, "ops")
    work(c)
    assert sales_count(c, "leads") == 1
    prospect = c.operator.prospects(ProspectStatus.PENDING)[0]
    assert prospect.lead_created_at is not None


def test_email_failures_retry_with_backoff_and_never_send_twice(container, body):
    c = container
    c.intake.submit(body)
    c.channel_sync.run()
    work(c)
    lead = c.sales.b2b_leads()[0]
    c.sales.disqualify(lead["leadid"])
    sent = []
    failures = iter([True, True, False])

    class FlakyTransport:
        def send(self, email):
            if next(failures, False):
                raise ConnectionError("smtp down")
            sent.append(email.message_id)

    c = Container.build(c.settings, clock=c.clock, transport=FlakyTransport())
    work(c)
    email = c.operator.emails()[0]
    assert email.attempts == 1 and email.status.value == "pending" and "smtp down" in email.last_error
    for _ in range(3):
        c.clock.advance(3600)
        work(c)
    email = c.operator.emails()[0]
    assert email.status.value == "delivered" and email.attempts == 3
    assert sent == [email.id]
    c.email_delivery.deliver(email.id)  # a stray repeat
    assert sent == [email.id]


def test_a_permanent_refusal_is_not_retried(container, body):
    c = container
    c.intake.submit(body)
    c.channel_sync.run()
    work(c)
    c.sales.disqualify(c.sales.b2b_leads()[0]["leadid"])

    class Refused(Exception):
        permanent = True

    calls = []

    class RefusingTransport:
        def send(self, email):
            calls.append(email.message_id)
            raise Refused("550 mailbox unavailable")

    c = Container.build(c.settings, clock=c.clock, transport=RefusingTransport())
    work(c)
    c.clock.advance(3600)
    work(c)
    email = c.operator.emails()[0]
    assert email.status.value == "failed" and email.attempts == 1 and len(calls) == 1
