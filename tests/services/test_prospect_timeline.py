"""One prospect's whole timeline (history, Sales decisions, queue messages, emails), its repairs (retry a failed
email, replay its poisoned messages) and drift with "reconcile now"."""
from __future__ import annotations

import json

import pytest

from shared.bootstrap import Container
from shared.config import Settings
from shared.domain.errors import DomainError, InvalidInput, NotFound
from shared.domain.messages import CreateLead
from shared.domain.model import EmailStatus, ProspectStatus
from shared.queue_worker import poison_queue_name
from shared.services.prospect_timeline import ProspectTimeline, dynamics_record_url
from tests.services.flow import signup_body, take_all, work


class Refused(Exception):
    permanent = True  # an SMTP 5xx: no retry changes it


class RefusingTransport:
    def send(self, email):
        raise Refused("550 mailbox unavailable")


def prospects(c: Container, n: int) -> list[str]:
    """``n`` prospects with their leads in the embedded Sales; their numbers."""
    for i in range(1, n + 1):
        c.intake.submit(signup_body(i))
        c.clock.advance(1)  # numbered in the order received: signup i is PRO-00000i
    c.channel_sync.run()
    work(c)
    return [p.number for p in c.operator.prospects()]


def flagged_with_a_failed_email_and_a_poisoned_message(c: Container) -> tuple[Container, str, str]:
    """PRO-000001 approved here, then disqualified in Sales (flagged: the outcome conflicts), whose approval
    email the transport refused, and a create-lead message of it on the poison queue; PRO-000002 beside it."""
    first, second = prospects(c, 2)
    c.back_office.approve(first, "alice")
    refusing = Container.build(c.settings, clock=c.clock, transport=RefusingTransport())
    work(refusing)
    c.sales.disqualify(c.operator.prospect(first).prospect.lead_id, 5)
    work(c)
    p = c.operator.prospect(first).prospect
    c.queue.send(poison_queue_name(c.settings.lead_queue), CreateLead(prospect_id=p.id).to_json())
    other = c.operator.prospect(second).prospect
    c.queue.send(poison_queue_name(c.settings.lead_queue), CreateLead(prospect_id=other.id).to_json())
    return refusing, first, second


@pytest.fixture(params=["sqlite", "azure"])
def on_either_backend(request, tmp_path, clock):
    """The container on SQLite, or with its state and queues on Azurite (the embedded Sales stays local)."""
    import uuid

    settings = {}
    if request.param == "azure":
        unique = uuid.uuid4().hex[:12]
        settings = {"STATE_BACKEND": "azure", "AzureWebJobsStorage": request.getfixturevalue("azurite").connection_string,
                    "STATE_TABLE": f"state{unique}", "LEAD_QUEUE": f"leads-{unique}",
                    "OUTCOME_QUEUE": f"outcomes-{unique}", "EMAIL_QUEUE": f"emails-{unique}"}
    c = Container.build(Settings.from_env(settings, data_dir=tmp_path), clock=clock)
    yield c
    for adapter in (c.store, c.queue, c.sales):
        adapter.close()


def test_the_timeline_has_every_system_in_one_ordered_list(on_either_backend):
    c = on_either_backend
    _, first, _ = flagged_with_a_failed_email_and_a_poisoned_message(c)
    c.clock.advance(5)
    view = c.prospect_timeline.show(first.lower())  # the key as a person types it
    assert view.prospect.needs_attention and view.prospect.status is ProspectStatus.APPROVED
    sources = [e.source for e in view.timeline]
    assert set(sources) == {"history", "sales", "email", "queue"}
    assert [e.at for e in view.timeline] == sorted(e.at for e in view.timeline)

    history = [(e.who, e.what) for e in view.timeline if e.source == "history"]
    assert history[0] == ("channel-sync", "prospect created")
    assert ("back-office:alice", "approved") in history
    sales = [e for e in view.timeline if e.source == "sales"]
    assert [(e.who, e.what) for e in sales] == [("Sales", "conflicting outcome ignored")]
    assert sales[0].detail.startswith("lead disqualified · lead_disqualified arrived after")

    received, email = [e for e in view.timeline if e.source == "email"]  # "we received it", then the decision's
    assert received.what.startswith("email “signup received”")
    assert (email.what, email.email_status) == ("email “prospect approved” failed", "failed")
    assert "gave up after 1 attempt: Refused: 550 mailbox unavailable" in email.detail
    assert email.email_id == view.failed_emails[0].id

    [poisoned] = view.poisoned  # its own message only, not PRO-000002's
    assert poisoned.source == "queue" and poisoned.queue == poison_queue_name(c.settings.lead_queue)
    assert poisoned.what == "create-lead poisoned" and poisoned.message_id
    assert view.queues_peeked == [name for q in c.settings.queue_names for name in (q, poison_queue_name(q))]

    # the Sales records, without DATAVERSE_URL no link
    assert [(r.entity, r.url) for r in view.sales_records] == [("lead", None)]
    assert view.sales_records[0].record_id == view.prospect.lead_id
    data = view.to_json()
    assert data["number"] == first and data["request"]["company"]["name"] == signup_body(1)["company"]["name"]
    assert {e["source"] for e in data["timeline"]} == {"history", "sales", "email", "queue"}


def test_a_message_waiting_on_its_queue_shows_and_another_prospects_does_not(container):
    c = container
    first, second = prospects(c, 2)
    p = c.operator.prospect(first).prospect
    c.queue.send(c.settings.lead_queue, CreateLead(prospect_id=p.id).to_json())
    [waiting] = [e for e in c.prospect_timeline.show(first).timeline if e.source == "queue"]
    assert (waiting.what, waiting.queue, waiting.poisoned) == ("create-lead waiting", c.settings.lead_queue, False)
    assert [e for e in c.prospect_timeline.show(second).timeline if e.source == "queue"] == []


def test_sales_records_link_to_dynamics_when_dataverse_url_is_set(container):
    c = container
    [number] = prospects(c, 1)
    lead = c.operator.prospect(number).prospect.lead_id
    qualified = c.sales.qualify(lead)
    work(c)
    timeline = ProspectTimeline(c.store, c.queue, c.clock, c.settings.queue_names, c.operator,
                                dataverse_url="https://contoso.crm4.dynamics.com/")
    records = {r.entity: r for r in timeline.show(number).sales_records}
    assert {e: r.record_id for e, r in records.items()} == {
        "lead": lead, "opportunity": qualified.opportunity_id, "contact": qualified.contact.contact_id,
        "account": qualified.account.account_id}
    assert records["account"].url == ("https://contoso.crm4.dynamics.com/main.aspx?etn=account&pagetype=entityrecord"
                                      f"&id=%7B{qualified.account.account_id}%7D")
    [sales] = [e for e in timeline.show(number).timeline if e.source == "sales"]
    assert (sales.what, sales.who) == ("qualified in Sales", "Sales")


def test_dynamics_record_url():
    assert dynamics_record_url("", "lead", "x") is None
    assert dynamics_record_url("https://org.crm.dynamics.com", "lead", "1f0c") == \
        "https://org.crm.dynamics.com/main.aspx?etn=lead&pagetype=entityrecord&id=%7B1f0c%7D"


def test_an_unknown_prospect_is_not_found(container):
    with pytest.raises(NotFound, match="no prospect PRO-009999"):
        container.prospect_timeline.show("PRO-009999")


def test_retrying_a_failed_email_sends_it_and_the_history_says_who(container):
    c = container
    _, first, _ = flagged_with_a_failed_email_and_a_poisoned_message(c)
    [failed] = c.prospect_timeline.show(first).failed_emails
    queued = c.email_outbox.retry_email(failed.id, "bob")
    assert (queued.status, queued.attempts) == (EmailStatus.PENDING, 0)
    work(c)  # the working transport now
    view = c.prospect_timeline.show(first)
    assert view.emails[-1].status is EmailStatus.DELIVERED
    [retried] = [e for e in view.timeline if e.what == "email retried"]
    assert retried.who == "back-office:bob"
    assert retried.detail == "prospect_approved (was failed after 1 attempt: Refused: 550 mailbox unavailable)"
    with pytest.raises(DomainError):  # delivered: never sent twice
        c.email_outbox.retry_email(failed.id, "bob")
    assert c.queue.count(c.settings.email_queue) == 0
    with pytest.raises(InvalidInput):
        c.email_outbox.retry_email(failed.id, "   ")
    with pytest.raises(NotFound):
        c.email_outbox.retry_email("no-such-email", "bob")


def test_replaying_a_prospects_poisoned_messages(on_either_backend):
    c = on_either_backend
    _, first, second = flagged_with_a_failed_email_and_a_poisoned_message(c)
    poison = poison_queue_name(c.settings.lead_queue)
    [poisoned] = c.prospect_timeline.show(first).poisoned
    [replayed] = c.prospect_timeline.replay(first, "carol")
    assert (replayed.queue, replayed.message_id) == (poison, poisoned.message_id)
    assert c.queue.get(c.settings.lead_queue, replayed.new_message_id).body == \
        CreateLead(prospect_id=c.operator.prospect(first).prospect.id).to_json()
    assert c.queue.count(poison) == 1  # PRO-000002's stays
    view = c.prospect_timeline.show(first)
    assert view.poisoned == []
    [noted] = [e for e in view.timeline if e.what == "poisoned message replayed"]
    assert noted.who == "back-office:carol" and replayed.new_message_id in noted.detail
    assert c.prospect_timeline.replay(first, "carol") == []  # nothing left: nothing changed
    work(c)  # the lead exists: the replayed create-lead is a no-op
    assert c.queue.count(c.settings.lead_queue) == 0
    assert len(c.prospect_timeline.show(second).poisoned) == 1


def test_a_message_replayed_by_someone_else_meanwhile_is_skipped(container):
    c = container
    [number] = prospects(c, 1)
    prospect_id = c.operator.prospect(number).prospect.id
    poison = poison_queue_name(c.settings.lead_queue)
    first = c.queue.send(poison, CreateLead(prospect_id=prospect_id).to_json())
    c.queue.send(poison, CreateLead(prospect_id=prospect_id).to_json())
    replay = c.operator.replay_poison

    def another_operator_first(queue, message_id, operator):
        if message_id == first:
            replay(queue, message_id, "someone else")  # between this one's peek and its replay
        return replay(queue, message_id, operator)

    c.operator.replay_poison = another_operator_first
    [mine] = c.prospect_timeline.replay(number, "carol")
    assert mine.message_id != first and c.queue.count(poison) == 0
    replays = [e.who for e in c.prospect_timeline.show(number).timeline if e.what == "poisoned message replayed"]
    assert sorted(replays) == ["back-office:carol", "back-office:someone else"]  # each replay told once


def test_a_prospects_poisoned_messages_revealed_discarded_or_replayed_from_the_queues_are_in_its_timeline(
        on_either_backend):
    """The queues page acts on a message, not a prospect: the prospect the message is about gets it in its
    history all the same (a create-lead names it; a delivery names its email), beside the audit's record."""
    c = on_either_backend
    [number] = prospects(c, 1)
    prospect = c.operator.prospect(number).prospect
    poison = poison_queue_name(c.settings.lead_queue)
    revealed = c.queue.send(poison, CreateLead(prospect_id=prospect.id).to_json())
    discarded = c.queue.send(poison, CreateLead(prospect_id=prospect.id).to_json())
    c.queue.send(poison, "not a message of anyone's")
    c.operator.reveal_poison(c.settings.lead_queue, revealed, "dana")
    c.operator.discard_poison(c.settings.lead_queue, discarded, "a duplicate", "dana")
    c.operator.replay_all_poison(c.settings.lead_queue, "erik")

    told = [(e.what, e.who, e.detail) for e in c.prospect_timeline.show(number).timeline if "poisoned" in e.what]
    assert told[:2] == [("poisoned message revealed", "back-office:dana", f"on {poison}, message {revealed}"),
                        ("poisoned message discarded", "back-office:dana",
                         f"from {poison}, message {discarded}: a duplicate")]
    assert [(what, who) for what, who, _ in told[2:]] == [("poisoned message replayed", "back-office:erik")]
    assert [e.action.value for e in c.operator.audit()] == ["replay", "replay", "discard", "reveal"]


# --- drift -----------------------------------------------------------------------------------------------

def test_drift_is_bounded_pending_first_and_reconciles_one_or_all(container):
    c = container
    numbers = prospects(c, 4)
    leads = {n: c.operator.prospect(n).prospect.lead_id for n in numbers}
    c.back_office.approve(numbers[0], "alice")  # decided here; its lead stays open in Sales
    q = c.sales.qualify(leads[numbers[1]])
    c.sales.win(q.opportunity_id)
    c.sales.disqualify(leads[numbers[2]], 6)
    take_all(c, c.settings.outcome_queue)  # the webhook's messages are lost
    report = c.drift.report()
    assert [d.number for d in report.drifts] == [numbers[1], numbers[2], numbers[0]]  # Pending first
    assert (report.checked, report.more) == (4, False)
    bounded = c.drift.report(limit=2)
    assert ([d.number for d in bounded.drifts], bounded.checked, bounded.more) == (numbers[1:3], 2, True)

    [one] = c.drift.reconcile(numbers[2].lower())
    assert one.changed and one.outcomes == [("lead_disqualified", "applied")] and one.after is None
    assert one.describe() == f"{numbers[2]}: applied lead disqualified; it agrees with Sales now"
    assert c.operator.prospect(numbers[2]).prospect.status is ProspectStatus.REJECTED

    assert [d.reconcilable for d in c.drift.report().drifts] == [True, False]
    [won] = c.drift.reconcile()  # every drifting prospect whose lead Sales decided
    assert won.number == numbers[1] and won.after is None
    assert won.outcomes == [("lead_qualified", "applied"), ("opportunity_won", "applied")]
    assert c.operator.prospect(numbers[1]).prospect.status is ProspectStatus.APPROVED
    [decided_here] = c.drift.reconcile(numbers[0])
    assert decided_here.describe() == (f"{numbers[0]}: Sales has no decision on its lead to apply; "
                                       "still: Sales says Pending, we say Approved")
    assert [d.number for d in c.drift.report().drifts] == [numbers[0]]
    [agrees] = c.drift.reconcile(numbers[3])
    assert agrees.describe() == f"{numbers[3]} agrees with Sales; nothing to do" and not agrees.changed

    work(c)  # the emails the decisions queued; a late webhook copy would be a duplicate
    c.queue.send(c.settings.outcome_queue, _outcome_copy(c, leads[numbers[2]]))
    work(c)
    assert [h.action for h in c.operator.prospect(numbers[2]).history].count("rejected") == 1


def _outcome_copy(c: Container, lead_id: str) -> str:
    from shared.services.reconciliation import outcome_for, sales_decisions_of

    [decision] = sales_decisions_of(c.sales.get_lead(lead_id))
    return outcome_for(decision).model_copy(update={"source": "sales"}).to_json()


def test_a_queue_holding_more_than_a_peek_shows_says_so(container):
    """Only the first PEEK_LIMIT messages of a queue can be looked at without taking them (Azure's limit): the
    view names the queue that holds more, and how many, so the page can say a message may be further back."""
    from shared.services.prospect_timeline import PEEK_LIMIT

    c = container
    [number] = prospects(c, 1)
    assert c.prospect_timeline.show(number).queues_crowded == {}
    for n in range(PEEK_LIMIT + 3):
        c.queue.send(c.settings.email_queue, json.dumps({"schema": "deliver-email", "email_id": f"someone-{n}"}))
    view = c.prospect_timeline.show(number)
    assert view.queues_crowded == {c.settings.email_queue: PEEK_LIMIT + 3}
    assert view.to_json()["queuesCrowded"] == {c.settings.email_queue: PEEK_LIMIT + 3}
