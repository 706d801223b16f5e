"""One prospect across every system, in one ordered list: what its history says, the Sales decisions it
received, the queue messages about it still waiting (or poisoned), and its emails.

The history is the prospect's own record; Sales decisions are history entries too (propagation writes each
with its event id and the reporter, ``<source>:<kind>``), told apart here so an operator sees at once what
Sales said and through which path (webhook or reconciliation). Queue messages are found by peeking: a queue
cannot be searched, so each queue and its poison queue is peeked once, at most ``PEEK_LIMIT`` messages (Azure
answers at most 32 per peek), and a message belongs to the prospect when its body names the prospect, its
lead, its opportunity or one of its emails. A message being processed right now is invisible to a peek and
does not show: the timeline is what waits, not what runs.
"""
from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from datetime import datetime
from typing import get_args
from urllib.parse import quote

from shared.domain.errors import NotFound
from shared.domain.model import (
    CustomerHierarchy,
    EmailRecord,
    EmailStatus,
    HierarchyMember,
    HistoryEntry,
    Prospect,
)
from shared.domain.sales import OutcomeKind
from shared.ports import Clock, Queue, ReceivedMessage, Store
from shared.queue_worker import poison_queue_name
from shared.services.back_office import checked_operator
from shared.services.operator import OperatorService, find_prospect

log = logging.getLogger("b2b.prospect_timeline")

PEEK_LIMIT = 32  # messages peeked per queue (Azure Storage answers at most 32 per peek)
_OUTCOME_KINDS = frozenset(get_args(OutcomeKind))
# Who reported a Sales decision: the ``source`` of the outcome message, as propagation writes it in the actor.
_REPORTERS = {"dataverse-webhook": "Sales webhook", "reconciliation": "reconciliation with Sales",
              "sales": "Sales"}


@dataclass(frozen=True)
class TimelineEntry:
    """One thing that happened to the prospect (or waits for it): when, from which system, what, and who.

    ``email_id`` names the email an email entry is about; ``queue`` and ``message_id`` the message a queue
    entry is about (``poisoned`` when it waits on a poison queue): what the page's actions act on."""

    at: datetime
    source: str  # history | sales | queue | email
    what: str
    who: str
    detail: str = ""
    email_id: str | None = None
    email_status: str | None = None
    queue: str | None = None
    message_id: str | None = None
    poisoned: bool = False

    def to_json(self) -> dict:
        data = {"at": self.at.isoformat(), "source": self.source, "what": self.what, "who": self.who,
                "detail": self.detail}
        if self.email_id:
            data.update(emailId=self.email_id, emailStatus=self.email_status)
        if self.message_id:
            data.update(queue=self.queue, messageId=self.message_id, poisoned=self.poisoned)
        return data


@dataclass(frozen=True)
class SalesRecord:
    """A record of the prospect in Sales, with the address that opens it in Dynamics 365 (when known)."""

    entity: str  # the Dataverse table: lead, opportunity, contact, account
    record_id: str
    url: str | None

    def to_json(self) -> dict:
        return {"entity": self.entity, "id": self.record_id, "url": self.url}


def dynamics_record_url(organization_url: str, entity: str, record_id: str) -> str | None:
    """The address that opens a record's form in Dynamics 365, in the form Microsoft documents for
    model-driven apps ("Open apps, forms, views, dialogs, and reports with a URL"):
    ``<org>/main.aspx?etn=<table>&pagetype=entityrecord&id=%7B<guid>%7D``. None without an organization."""
    if not organization_url:
        return None
    return (f"{organization_url.rstrip('/')}/main.aspx?etn={quote(entity)}&pagetype=entityrecord"
            f"&id=%7B{quote(record_id)}%7D")


@dataclass(frozen=True)
class ProspectView:
    prospect: Prospect
    hierarchy: CustomerHierarchy | None
    members: list[HierarchyMember]
    sales_records: list[SalesRecord]
    emails: list[EmailRecord]
    timeline: list[TimelineEntry]  # oldest first
    queues_peeked: list[str] = field(default_factory=list)
    # The queues that hold more than PEEK_LIMIT messages, with how many: a message of this prospect further
    # back than the first PEEK_LIMIT does not show (Azure Storage queues show no more without taking them).
    queues_crowded: dict[str, int] = field(default_factory=dict)

    @property
    def poisoned(self) -> list[TimelineEntry]:
        return [entry for entry in self.timeline if entry.poisoned]

    @property
    def failed_emails(self) -> list[EmailRecord]:
        return [email for email in self.emails if email.status is EmailStatus.FAILED]

    def to_json(self) -> dict:
        p = self.prospect
        return {
            "id": p.id, "number": p.number, "type": p.type, "status": p.status.value,
            "createdAt": p.created_at.isoformat(), "updatedAt": p.updated_at.isoformat(),
            "decidedAt": p.decided_at.isoformat() if p.decided_at else None, "decidedBy": p.decided_by,
            "rejectionReason": p.rejection_reason, "needsAttention": p.needs_attention,
            "attentionReason": p.attention_reason, "hierarchyId": p.hierarchy_id,
            "request": p.request.model_dump(mode="json"),
            "sales": [record.to_json() for record in self.sales_records],
            "timeline": [entry.to_json() for entry in self.timeline],
            "queuesPeeked": self.queues_peeked, "peekLimit": PEEK_LIMIT, "queuesCrowded": self.queues_crowded,
        }


@dataclass(frozen=True)
class Replayed:
    queue: str  # the poison queue it left
    message_id: str
    new_message_id: str  # on the queue it went back to


class ProspectTimeline:
    def __init__(self, store: Store, queue: Queue, clock: Clock, queue_names: tuple[str, ...],
                 operator: OperatorService, dataverse_url: str = ""):
        self._store = store
        self._clock = clock
        self._queue = queue
        self._queue_names = queue_names
        self._operator = operator
        self._dataverse_url = dataverse_url

    def show(self, key: str) -> ProspectView:
        """The prospect by number (PRO-000001) or id, with its whole timeline (oldest first)."""
        with self._store.unit_of_work(read_only=True) as uow:
            prospect = find_prospect(uow, key)
            history = uow.history(prospect.id)
            emails = uow.prospect_emails(prospect.id)
            hierarchy = uow.find_hierarchy_by_prospect(prospect.id)
            members = uow.members(hierarchy.id) if hierarchy else []
            contact = uow.get_customer(prospect.person_customer_id) if prospect.person_customer_id else None
            account = uow.get_customer(prospect.organization_customer_id) if prospect.organization_customer_id \
                else None
        records = [("lead", prospect.lead_id), ("opportunity", prospect.opportunity_id),
                   ("contact", contact.sales_record_id if contact else None),
                   ("account", account.sales_record_id if account else None)]
        sales = [SalesRecord(entity, record_id, dynamics_record_url(self._dataverse_url, entity, record_id))
                 for entity, record_id in records if record_id]
        queue_entries, peeked, crowded = self._queue_entries(prospect, emails)
        timeline = [_history_entry(h) for h in history] + [_email_entry(e) for e in emails] + queue_entries
        # Stable: entries at the same moment keep their order (history in the order it was written).
        timeline.sort(key=lambda entry: entry.at)
        return ProspectView(prospect, hierarchy, members, sales, emails, timeline, peeked, crowded)

    def replay(self, key: str, operator: str) -> list[Replayed]:
        """Send the prospect's poisoned messages back to their queues (bodies unchanged), each noted in its
        history with the operator (by OperatorService.replay_poison, as every replay of a prospect's message is). An empty list: none was poisoned, nothing changed."""
        operator = checked_operator(operator)
        view = self.show(key)
        done = []
        for entry in view.poisoned:
            try:
                new_id = self._operator.replay_poison(entry.queue, entry.message_id, operator).new_id
            except NotFound:  # replayed (or discarded) by someone else since it was peeked: not this one's doing
                continue
            done.append(Replayed(entry.queue, entry.message_id, new_id))
        return done

    def _queue_entries(self, prospect: Prospect,
                       emails: list[EmailRecord]) -> tuple[list[TimelineEntry], list[str], dict[str, int]]:
        """The prospect's messages among the first PEEK_LIMIT of each queue and poison queue. Azure Storage
        queues can be read further only by taking messages (hiding them from their triggers), and not by id;
        an index of the ids the app sent would say what was sent (the outbox does), not what is still there.
        So a queue holding more says so (``crowded``), and the page tells the limit."""
        names = {prospect.id, prospect.lead_id, prospect.opportunity_id, *(e.id for e in emails)}
        needles = [name.lower() for name in names if name]
        entries, peeked, crowded = [], [], {}
        for base in self._queue_names:
            for name, poisoned in ((base, False), (poison_queue_name(base), True)):
                peeked.append(name)
                messages = self._queue.peek(name, max_messages=PEEK_LIMIT)
                if len(messages) == PEEK_LIMIT and (held := self._queue.count(name)) > PEEK_LIMIT:
                    crowded[name] = held
                for message in messages:
                    body = message.body.lower()
                    if any(needle in body for needle in needles):
                        entries.append(_queue_entry(message, poisoned))
        return entries, peeked, crowded


def _history_entry(entry: HistoryEntry) -> TimelineEntry:
    source, _, kind = entry.actor.partition(":")
    if kind in _OUTCOME_KINDS:  # written by propagation for a Sales decision
        return TimelineEntry(entry.at, "sales", entry.action, _REPORTERS.get(source, source),
                             detail=" · ".join(x for x in (kind.replace("_", " "), entry.detail) if x))
    return TimelineEntry(entry.at, "history", entry.action, entry.actor, detail=entry.detail)


def _email_entry(email: EmailRecord) -> TimelineEntry:
    template = email.template.replace("_", " ")
    if email.status is EmailStatus.DELIVERED:
        what, at = f"email “{template}” sent", email.delivered_at or email.created_at
        detail = f"after {_attempts(email.attempts)}"
    elif email.status is EmailStatus.FAILED:
        what, at = f"email “{template}” failed", email.created_at
        detail = f"gave up after {_attempts(email.attempts)}: {email.last_error or 'no error recorded'}"
    else:
        what, at = f"email “{template}” queued", email.created_at
        detail = f"{_attempts(email.attempts)} failed so far: {email.last_error}" if email.attempts else "not sent yet"
    return TimelineEntry(at, "email", what, "email delivery", detail=f"{detail} ({email.language})",
                         email_id=email.id, email_status=email.status.value)


def _attempts(count: int) -> str:
    return f"{count} attempt{'s' if count != 1 else ''}"


def _queue_entry(message: ReceivedMessage, poisoned: bool) -> TimelineEntry:
    try:
        kind = json.loads(message.body).get("schema") or "message"
    except (ValueError, AttributeError):
        kind = "unreadable message"
    what = f"{kind} poisoned" if poisoned else f"{kind} waiting"
    detail = (f"on {message.queue}: it failed every try; replay it once the cause is fixed" if poisoned
              else f"on {message.queue}, received {message.dequeue_count} times so far")
    return TimelineEntry(message.inserted_at, "queue", what, message.queue, detail=detail, queue=message.queue,
                         message_id=message.id, poisoned=poisoned)
