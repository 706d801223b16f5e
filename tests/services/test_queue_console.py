"""The back office's queue and email actions (one service each for the console, the CLI and the JSON routes),
on both backends: SQLite, and Azure Storage (tables and queues) on Azurite."""
from __future__ import annotations

import json
import uuid

import pytest

from shared.adapters.clock import ManualClock
from shared.bootstrap import Container
from shared.config import Settings
from shared.domain.audit import AuditAction
from shared.domain.errors import DomainError, InvalidInput, NotFound
from shared.domain.masking import MASK, fingerprint
from shared.domain.messages import DeliverEmail
from shared.domain.model import EmailStatus
from shared.queue_worker import poison_queue_name
from tests.contract.factories import T0, at, email_record

LEAD = {"schema": "create-lead", "version": 1, "prospect_id": "p-1",
        "contact": {"first_name": "Åsa", "email": "asa@example.com", "phone": "+46 70 123 45 67"}}


@pytest.fixture(params=["sqlite", "azure"])
def c(request, tmp_path):
    environ = {}
    if request.param == "azure":
        azurite = request.getfixturevalue("azurite")
        suffix = uuid.uuid4().hex[:10]
        environ = {"STATE_BACKEND": "azure", "AzureWebJobsStorage": azurite.connection_string,
                   "STATE_TABLE": f"console{suffix}", "LEAD_QUEUE": f"leads-{suffix}",
                   "OUTCOME_QUEUE": f"outcomes-{suffix}", "EMAIL_QUEUE": f"emails-{suffix}"}
    built = Container.build(Settings.from_env(environ, data_dir=tmp_path), clock=ManualClock(T0))
    yield built
    for adapter in (built.store, built.queue, built.sales):
        adapter.close()


def poisoned(c, body: str = json.dumps(LEAD)) -> str:
    return c.queue.send(poison_queue_name(c.settings.lead_queue), body)


def test_queue_depths_name_every_queue_and_its_poison_queue(c):
    poisoned(c)
    c.queue.send(c.settings.email_queue, "{}")
    depths = {d.queue: d for d in c.operator.queue_depths()}
    assert set(depths) == set(c.settings.queue_names)
    lead, email = depths[c.settings.lead_queue], depths[c.settings.email_queue]
    assert (lead.depth, lead.poison_queue, lead.poison_depth) == (0, poison_queue_name(c.settings.lead_queue), 1)
    assert (email.depth, email.poison_depth) == (1, 0)


def test_a_poison_message_is_masked_until_revealed_and_the_reveal_is_audited(c):
    message_id = poisoned(c)
    shown = c.operator.masked_poison_message(c.settings.lead_queue, message_id)
    assert shown.masked and "asa@example.com" not in shown.body and "Åsa" not in shown.body and MASK in shown.body
    assert json.loads(shown.body)["prospect_id"] == "p-1" and shown.about == "create-lead v1 prospect_id=p-1"
    [listed] = c.operator.poison_summaries(c.settings.lead_queue)
    assert listed.id == message_id and listed.masked
    assert c.operator.audit() == []  # reading masked is not audited

    revealed = c.operator.reveal_poison(c.settings.lead_queue, message_id, "alice")
    assert not revealed.masked and json.loads(revealed.body) == LEAD
    [entry] = c.operator.audit()
    assert (entry.operator, entry.action, entry.queue, entry.message_id) == (
        "alice", AuditAction.REVEAL, poison_queue_name(c.settings.lead_queue), message_id)
    assert entry.at == T0 and entry.fingerprint == fingerprint(json.dumps(LEAD))
    assert "asa" not in entry.model_dump_json().lower()


def test_discard_needs_a_reason_and_keeps_who_when_why_and_what_without_personal_data(c):
    message_id = poisoned(c)
    for reason in (None, "", "   "):
        with pytest.raises(InvalidInput) as refused:
            c.operator.discard_poison(c.settings.lead_queue, message_id, reason, "alice")
        assert refused.value.problems[0][0] == "reason"
    with pytest.raises(InvalidInput):
        c.operator.discard_poison(c.settings.lead_queue, message_id, "sent by hand", "")
    assert c.queue.count(poison_queue_name(c.settings.lead_queue)) == 1 and c.operator.audit() == []

    entry = c.operator.discard_poison(c.settings.lead_queue, message_id, "a test message sent by hand", "alice")
    assert c.queue.count(poison_queue_name(c.settings.lead_queue)) == 0
    assert c.operator.audit() == [entry]
    assert (entry.action, entry.operator, entry.reason, entry.about) == (
        AuditAction.DISCARD, "alice", "a test message sent by hand", "create-lead v1 prospect_id=p-1")
    assert entry.fingerprint == fingerprint(json.dumps(LEAD)) and "asa" not in entry.model_dump_json().lower()
    with pytest.raises(NotFound):  # gone: a second discard finds nothing, and records nothing
        c.operator.discard_poison(c.settings.lead_queue, message_id, "again", "alice")
    assert len(c.operator.audit()) == 1


def test_replay_one_and_all_send_bodies_back_unchanged_and_are_audited(c):
    first, second, third = (poisoned(c, json.dumps({**LEAD, "prospect_id": f"p-{n}"})) for n in (1, 2, 3))
    done = c.operator.replay_poison(c.settings.lead_queue, first, "alice")
    assert done.message_id == first and c.queue.count(c.settings.lead_queue) == 1
    replayed = c.operator.replay_all_poison(poison_queue_name(c.settings.lead_queue), "bob")
    assert sorted(r.message_id for r in replayed) == sorted([second, third])
    assert c.queue.count(poison_queue_name(c.settings.lead_queue)) == 0
    bodies = [m.body for m in c.queue.peek(c.settings.lead_queue, max_messages=10)]
    assert sorted(json.loads(b)["prospect_id"] for b in bodies) == ["p-1", "p-2", "p-3"]
    audit = c.operator.audit()
    assert [(e.action, e.operator) for e in audit] == [(AuditAction.REPLAY, "bob")] * 2 + [(AuditAction.REPLAY,
                                                                                             "alice")]
    assert c.operator.replay_all_poison(c.settings.lead_queue, "bob") == []
    with pytest.raises(NotFound):
        c.operator.replay_poison("no-such-queue", first, "alice")


def _store_emails(c, *emails) -> None:
    with c.store.unit_of_work() as uow:
        for email in emails:
            uow.add_email(email)


def test_the_outbox_pages_newest_first_with_filters_and_cursors(c):
    _store_emails(c, *(email_record(f"e-{n}", at(n)) for n in range(5)),
                  email_record("e-f", at(10), EmailStatus.FAILED))
    first = c.email_outbox.page({"limit": 2})
    assert [e.id for e in first.emails] == ["e-f", "e-4"] and first.next_cursor
    second = c.email_outbox.page({"limit": 2, "cursor": first.next_cursor})
    assert [e.id for e in second.emails] == ["e-3", "e-2"]
    last = c.email_outbox.page({"limit": 2, "cursor": second.next_cursor})
    assert [e.id for e in last.emails] == ["e-1", "e-0"] and last.next_cursor is None
    assert [e.id for e in c.email_outbox.page({"status": "failed"}).emails] == ["e-f"]
    assert len(c.email_outbox.page({"status": "queued", "to_domain": "EXAMPLE.com"}).emails) == 5
    assert c.email_outbox.page({"status": "sending"}).emails == []
    for bad in ({"cursor": "nope"}, {"status": "lost"}, {"limit": 0}, {"to_domain": "a@b"}):
        with pytest.raises(InvalidInput):
            c.email_outbox.page(bad)


def test_an_email_reads_as_rendered_with_its_attempts_and_error(c):
    failed = email_record("e-1", at(0), EmailStatus.FAILED).model_copy(
        update={"attempts": 8, "last_error": "SMTPRecipientsRefused: 550"})
    _store_emails(c, failed)
    view = c.email_outbox.email("e-1")
    assert view.state.value == "failed" and view.record.attempts == 8 and "550" in view.record.last_error
    assert view.rendered.to == "asa@example.com" and "&lt;Company&gt; &amp; Co" in view.rendered.html_body
    assert "<Company> & Co" in view.rendered.text_body and view.render_error is None
    with pytest.raises(NotFound):
        c.email_outbox.email("e-9")


def test_only_a_failed_email_is_retried_through_the_outbox_and_the_retry_is_audited(c):
    failed = email_record("e-1", at(0), EmailStatus.FAILED).model_copy(update={"attempts": 8, "last_error": "boom"})
    _store_emails(c, failed, email_record("e-2", at(1)), email_record("e-3", at(2), EmailStatus.DELIVERED))
    for email_id, state in (("e-2", "queued"), ("e-3", "sent")):
        with pytest.raises(DomainError, match=f"is {state}, not failed"):
            c.email_outbox.retry_email(email_id, "alice")
    with pytest.raises(NotFound):
        c.email_outbox.retry_email("e-9", "alice")
    assert c.operator.audit() == [] and c.queue.count(c.settings.email_queue) == 0

    queued = c.email_outbox.retry_email("e-1", "alice")
    assert (queued.status, queued.attempts) == (EmailStatus.PENDING, 0)
    [message] = c.queue.peek(c.settings.email_queue, max_messages=10)
    assert DeliverEmail.model_validate_json(message.body).email_id == "e-1"
    with c.store.unit_of_work(read_only=True) as uow:
        assert uow.pending_outbox_messages(None, limit=10) == []  # relayed and marked sent
    [entry] = c.operator.audit()
    assert (entry.action, entry.operator, entry.email_id) == (AuditAction.RETRY_EMAIL, "alice", "e-1")
    with pytest.raises(DomainError, match="is queued, not failed"):  # a second click: one delivery at a time
        c.email_outbox.retry_email("e-1", "alice")


def test_replay_all_replays_what_was_there_when_asked_not_what_fails_again_meanwhile(c, monkeypatch):
    """A replayed message that fails again returns to the poison queue under a new id (a fast host, retries
    without delay): replay all must not go round after it."""
    for n in (1, 2):
        poisoned(c, json.dumps({**LEAD, "prospect_id": f"p-{n}"}))
    send = c.queue.send

    def failing_again_at_once(queue: str, body: str, **options) -> str:
        new_id = send(queue, body, **options)
        if queue == c.settings.lead_queue:  # the host took it, failed it every try, and poisoned it again
            send(poison_queue_name(queue), body)
        return new_id

    monkeypatch.setattr(c.queue, "send", failing_again_at_once)
    replayed = c.operator.replay_all_poison(c.settings.lead_queue, "bob")
    assert len(replayed) == 2 and c.queue.count(poison_queue_name(c.settings.lead_queue)) == 2
