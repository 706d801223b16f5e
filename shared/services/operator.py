"""What an operator looks at and repairs: prospects and their history, emails, poison messages, and what
makes a prospect's state disagree with Sales (drift: listed and repaired in ``shared.services.drift``)."""
from __future__ import annotations

import json
import logging
import sys
import uuid
from dataclasses import dataclass
from datetime import datetime
from functools import partial

from pydantic import BaseModel, PlainValidator
from typing import Annotated

from shared.domain.audit import AuditAction, AuditEntry
from shared.domain.errors import NotFound
from shared.domain.masking import body_about, fingerprint, pretty_body
from shared.domain.model import (
    CustomerHierarchy,
    EmailRecord,
    HierarchyMember,
    HistoryEntry,
    Prospect,
    ProspectStatus,
)
from shared.domain.partners import CreditLine, PartnerUser
from shared.domain.sales import (
    LEAD_DISQUALIFY_REASONS,
    OPPORTUNITY_LOSS_REASONS,
    LeadSnapshot,
    LeadState,
    OpportunityState,
)
from shared.domain.validation import OperatorName, plain_text, validated
from shared.ports import Clock, Queue, ReceivedMessage, Store, UnitOfWork
from shared.queue_worker import POISON_SUFFIX, poison_queue_name

log = logging.getLogger("b2b.operator")

MAX_DISCARD_REASON = 500
REPLAY_ALL_LIMIT = 10_000  # messages one "replay all" sends back, at most (the CLI's and the console's)


def prospect_named_in(uow: UnitOfWork, body: str) -> str | None:
    """The id of the prospect a queue message is about: named by it (create-lead), through its lead (a Sales
    outcome) or its email (a delivery); None for a message that names none or does not parse."""
    try:
        fields = json.loads(body)
    except ValueError:
        return None
    if not isinstance(fields, dict):
        return None
    named = fields.get("prospect_id")
    if isinstance(named, str):
        return named if uow.get_prospect(named) is not None else None
    if isinstance(fields.get("lead_id"), str):
        prospect = uow.find_prospect_by_lead(fields["lead_id"])
        return prospect.id if prospect is not None else None
    if isinstance(fields.get("email_id"), str):
        email = uow.get_email(fields["email_id"])
        return email.prospect_id if email is not None else None
    return None


def find_prospect(uow: UnitOfWork, key: str) -> Prospect:
    """A prospect by the key a person types: its number (pro-000001 works too) or its id."""
    key = key.strip()
    prospect = uow.find_prospect_by_number(key.upper()) or uow.get_prospect(key)
    if prospect is None:
        raise NotFound(f"no prospect {key}")
    return prospect


@dataclass(frozen=True)
class ProspectDetails:
    prospect: Prospect
    history: list[HistoryEntry]
    hierarchy: CustomerHierarchy | None
    members: list[HierarchyMember]


@dataclass(frozen=True)
class Drift:
    """A prospect whose state disagrees with its lead in Sales: ``ours`` and ``sales`` say what each
    holds, ``problem`` what disagrees. An outcome still on its way shows here until it is applied."""

    number: str
    ours: str
    sales: str
    problem: str
    reconcilable: bool = False  # Sales holds a decision on the lead that reconciling can apply here


def _sales_state(lead: LeadSnapshot | None) -> str:
    if lead is None:
        return "no lead"
    if lead.statecode is LeadState.DISQUALIFIED:
        return f"lead Disqualified ({LEAD_DISQUALIFY_REASONS.get(lead.statuscode, lead.statuscode)})"
    if lead.statecode is LeadState.OPEN:
        return "lead Open"
    opportunity = lead.opportunity_state
    if opportunity is None:
        return "lead Qualified, no opportunity"
    text = f"lead Qualified, opportunity {opportunity.name.capitalize()}"
    if opportunity is OpportunityState.LOST:
        text += f" ({OPPORTUNITY_LOSS_REASONS.get(lead.opportunity_statuscode, lead.opportunity_statuscode)})"
    return text


def drift_of(prospect: Prospect, lead: LeadSnapshot | None) -> Drift | None:
    """What Sales' lead implies for the prospect — Approved once its opportunity is won, Rejected once
    the lead is disqualified or the opportunity lost, customers once the lead is qualified — against
    what the prospect is. None when they agree (a lead not created yet agrees with a Pending prospect)."""
    ours = f"{prospect.status.value}, {'customers' if prospect.is_qualified else 'no customers'}"
    problems: list[str] = []
    if lead is None:
        if prospect.lead_created_at is not None:
            problems.append("the lead is missing in Sales")
        elif prospect.status is not ProspectStatus.PENDING:
            problems.append(f"{prospect.status.value} here, but Sales has no lead")
    else:
        implied = ProspectStatus.PENDING
        if lead.statecode is LeadState.DISQUALIFIED or lead.opportunity_state is OpportunityState.LOST:
            implied = ProspectStatus.REJECTED
        elif lead.opportunity_state is OpportunityState.WON:
            implied = ProspectStatus.APPROVED
        if implied is not prospect.status:
            problems.append(f"Sales says {implied.value}, we say {prospect.status.value}")
        if lead.statecode is LeadState.QUALIFIED and not prospect.is_qualified:
            problems.append("qualified in Sales, but no customers here")
    if not problems:
        return None
    decided_in_sales = lead is not None and lead.statecode is not LeadState.OPEN
    return Drift(prospect.number, ours, _sales_state(lead), "; ".join(problems), reconcilable=decided_in_sales)


@dataclass(frozen=True)
class PartnerDetails:
    hierarchy: CustomerHierarchy
    members: list[HierarchyMember]
    users: list[PartnerUser]
    credit: CreditLine | None


def hierarchy_json(hierarchy: CustomerHierarchy) -> dict:
    return {"hierarchyId": hierarchy.id, "name": hierarchy.name, "purpose": hierarchy.purpose,
            "organizationCustomerId": hierarchy.organization_customer_id, "prospectId": hierarchy.prospect_id,
            "createdAt": hierarchy.created_at.isoformat()}


@dataclass(frozen=True)
class QueueDepth:
    queue: str
    depth: int
    poison_queue: str
    poison_depth: int

    def to_json(self) -> dict:
        return {"queue": self.queue, "depth": self.depth, "poisonQueue": self.poison_queue,
                "poisonDepth": self.poison_depth}


@dataclass(frozen=True)
class PoisonMessage:
    """A poison message as an operator reads it: ``body`` pretty-printed, without personal data unless
    ``masked`` is False (a reveal, which the audit records)."""

    queue: str  # the poison queue
    id: str
    inserted_at: datetime
    dequeue_count: int
    body: str
    masked: bool
    about: str
    fingerprint: str

    @classmethod
    def of(cls, message: ReceivedMessage, *, masked: bool = True) -> PoisonMessage:
        return cls(message.queue, message.id, message.inserted_at, message.dequeue_count,
                   pretty_body(message.body, masked=masked), masked, body_about(message.body),
                   fingerprint(message.body))

    def to_json(self) -> dict:
        return {"queue": self.queue, "id": self.id, "insertedAt": self.inserted_at.isoformat(),
                "dequeueCount": self.dequeue_count, "about": self.about, "fingerprint": self.fingerprint,
                "masked": self.masked, "body": self.body}


class OperatorAct(BaseModel):
    """Who acts: every audited action names the operator (the console's signed-in principal)."""

    operator: OperatorName


class DiscardPoison(OperatorAct):
    reason: Annotated[str, PlainValidator(partial(plain_text, limit=MAX_DISCARD_REASON, multiline=True))]


@dataclass(frozen=True)
class Replayed:
    message_id: str
    new_id: str

    def to_json(self) -> dict:
        return {"messageId": self.message_id, "replayedAs": self.new_id}


def record_audit(store: Store, clock: Clock, operator: str, action: AuditAction, **fields) -> AuditEntry:
    """Write one audit record in a unit of work of its own, before the action it records: an action that
    then fails leaves a record too many, never an action without a record."""
    entry = AuditEntry(id=uuid.uuid4().hex, at=clock.now(), operator=operator, action=action, **fields)
    with store.unit_of_work() as uow:
        uow.add_audit_entry(entry)
    log.info("operator action", extra={"action": action.value, "audit_id": entry.id,
                                       "queue": entry.queue, "message_id": entry.message_id,
                                       "email_id": entry.email_id})
    return entry


class OperatorService:
    def __init__(self, store: Store, queue: Queue, queue_names: tuple[str, ...], clock: Clock):
        self._store = store
        self._queue = queue
        self._queue_names = queue_names
        self._clock = clock

    def prospects(self, status: ProspectStatus | None = None, limit: int = 1000,
                  needs_attention: bool = False) -> list[Prospect]:
        """Oldest first, at most ``limit``. With ``needs_attention`` the flagged ones among all of them:
        the filter comes before the limit, or a flag past the first ``limit`` prospects would never show."""
        with self._store.unit_of_work(read_only=True) as uow:
            found = uow.list_prospects(status, sys.maxsize if needs_attention else limit)
        return [p for p in found if p.needs_attention][:limit] if needs_attention else found

    def prospect(self, key: str) -> ProspectDetails:
        """A prospect by number (PRO-000001) or id, with its full history."""
        with self._store.unit_of_work(read_only=True) as uow:
            prospect = find_prospect(uow, key)
            hierarchy = uow.find_hierarchy_by_prospect(prospect.id)
            return ProspectDetails(
                prospect=prospect,
                history=uow.history(prospect.id),
                hierarchy=hierarchy,
                members=uow.members(hierarchy.id) if hierarchy else [],
            )

    def partners(self, limit: int = 1000) -> list[CustomerHierarchy]:
        with self._store.unit_of_work(read_only=True) as uow:
            return uow.list_hierarchies(limit)

    def partner(self, hierarchy_id: str) -> PartnerDetails:
        """A partner as the back office sees it: hierarchy, members, sign-in users, credit line."""
        with self._store.unit_of_work(read_only=True) as uow:
            hierarchy = uow.get_hierarchy(hierarchy_id)
            if hierarchy is None:
                raise NotFound(f"no partner {hierarchy_id}")
            return PartnerDetails(hierarchy, uow.members(hierarchy_id), uow.partner_users(hierarchy_id),
                                  uow.get_credit_line(hierarchy_id))

    def partner_users(self, hierarchy_id: str) -> list[PartnerUser]:
        """A partner's sign-in users, removed ones too (without the members and credit line of ``partner``)."""
        with self._store.unit_of_work(read_only=True) as uow:
            if uow.get_hierarchy(hierarchy_id) is None:
                raise NotFound(f"no partner {hierarchy_id}")
            return uow.partner_users(hierarchy_id)

    def emails(self, limit: int = 1000, pending_only: bool = False) -> list[EmailRecord]:
        with self._store.unit_of_work(read_only=True) as uow:
            return uow.list_emails(limit, pending_only)

    # queues and poison messages
    def queue_depths(self) -> list[QueueDepth]:
        """Every queue the app has, with its poison queue: how many messages wait on each (Azure's count is
        approximate and includes messages a consumer holds)."""
        return [QueueDepth(name, self._queue.count(name), poison_queue_name(name),
                           self._queue.count(poison_queue_name(name))) for name in self._queue_names]

    def poison_counts(self) -> dict[str, int]:
        return {d.poison_queue: d.poison_depth for d in self.queue_depths()}

    def poison_summaries(self, queue: str, limit: int = 100) -> list[PoisonMessage]:
        """The first poison messages of ``queue``, masked (Azure shows at most 32 at a time)."""
        return [PoisonMessage.of(m) for m in self.poison_messages(queue, limit)]

    def masked_poison_message(self, queue: str, message_id: str) -> PoisonMessage:
        return PoisonMessage.of(self.poison_message(queue, message_id))

    def reveal_poison(self, queue: str, message_id: str, operator: object) -> PoisonMessage:
        """The message with its personal data, once the audit has recorded who asked, when and for which."""
        act = validated(OperatorAct, {"operator": operator})
        message = self.poison_message(queue, message_id)
        self._audit(act.operator, AuditAction.REVEAL, message)
        self._tell_prospect(message, act.operator, "poisoned message revealed", f"on {message.queue}, message {message.id}")
        return PoisonMessage.of(message, masked=False)

    def discard_poison(self, queue: str, message_id: str, reason: object, operator: object) -> AuditEntry:
        """Delete a poison message for good; the audit keeps who, when, why and the body's fingerprint and
        what it was about (no personal data). NotFound when it is gone (replayed or discarded meanwhile)."""
        act = validated(DiscardPoison, {"operator": operator, "reason": reason})
        message = self.poison_message(queue, message_id)
        entry = self._audit(act.operator, AuditAction.DISCARD, message, reason=act.reason)
        if not self._queue.remove(message.queue, message.id):
            raise NotFound(f"message {message_id} left {message.queue} before it was discarded")
        self._tell_prospect(message, act.operator, "poisoned message discarded",
                            f"from {message.queue}, message {message.id}: {act.reason}")
        return entry

    def replay_poison(self, queue: str, message_id: str, operator: object) -> Replayed:
        """Send a poison message back to its queue, body unchanged (audited); returns the new message id.

        Sent before it is removed: a crash in between leaves a copy on both queues, never on none."""
        act = validated(OperatorAct, {"operator": operator})
        message = self.poison_message(queue, message_id)
        return self._replay(message, act.operator)

    def replay_all_poison(self, queue: str, operator: object) -> list[Replayed]:
        """Every message of the poison queue back to its queue (each one audited), oldest first."""
        act = validated(OperatorAct, {"operator": operator})
        # As many as were there when asked: a replayed message that fails again comes back under a new id,
        # and must wait for the next "replay all" rather than go round while the host retries it.
        wanted = min(REPLAY_ALL_LIMIT, self._queue.count(self._poison(queue)))
        replayed: list[Replayed] = []
        seen: set[str] = set()
        while len(replayed) < wanted:
            # Azure shows 32 messages at a time: look again until none is left that was not replayed.
            batch = [m for m in self.poison_messages(queue, limit=wanted) if m.id not in seen]
            if not batch:
                break
            for message in batch[:wanted - len(replayed)]:
                seen.add(message.id)
                replayed.append(self._replay(message, act.operator))
        return replayed

    def audit(self, limit: int = 50) -> list[AuditEntry]:
        """The newest operator audit records: reveals, replays, discards, email retries."""
        with self._store.unit_of_work(read_only=True) as uow:
            return uow.audit_entries(limit)

    def _replay(self, message: ReceivedMessage, operator: str) -> Replayed:
        original = message.queue.removesuffix(POISON_SUFFIX)
        self._audit(operator, AuditAction.REPLAY, message, detail=f"sent back to {original}")
        new_id = self._queue.send(original, message.body)
        self._queue.remove(message.queue, message.id)
        self._tell_prospect(message, operator, "poisoned message replayed", f"from {message.queue} as message {new_id}")
        return Replayed(message.id, new_id)

    def _tell_prospect(self, message: ReceivedMessage, operator: str, action: str, detail: str) -> None:
        """The prospect the message is about (if it names one the store knows) gets the action in its history,
        so that its timeline tells it beside the audit's record; a message about no prospect has the audit only."""
        from shared.services.back_office import ACTOR_PREFIX  # it imports this module

        with self._store.unit_of_work() as uow:
            prospect_id = prospect_named_in(uow, message.body)
            if prospect_id is not None:
                uow.append_history(HistoryEntry(prospect_id=prospect_id, at=self._clock.now(),
                                                actor=f"{ACTOR_PREFIX}:{operator}", action=action, detail=detail))

    def _audit(self, operator: str, action: AuditAction, message: ReceivedMessage, **fields) -> AuditEntry:
        return record_audit(self._store, self._clock, operator, action, queue=message.queue,
                            message_id=message.id, fingerprint=fingerprint(message.body),
                            about=body_about(message.body), **fields)

    def poison_messages(self, queue: str, limit: int = 100) -> list[ReceivedMessage]:
        return self._queue.peek(self._poison(queue), max_messages=limit)

    def poison_message(self, queue: str, message_id: str) -> ReceivedMessage:
        message = self._queue.get(self._poison(queue), message_id)
        if message is None:
            raise NotFound(f"no message {message_id} on {self._poison(queue)}")
        return message

    def _poison(self, queue: str) -> str:
        base = queue.removesuffix(POISON_SUFFIX)
        if base not in self._queue_names:
            raise NotFound(f"no queue {queue}; the queues are {', '.join(self._queue_names)}")
        return poison_queue_name(base)
