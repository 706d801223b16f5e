"""Lead creation: each prospect becomes one lead in Sales, whatever number of times the message comes."""
from __future__ import annotations

import logging
import random
import time
from dataclasses import dataclass
from typing import Callable

from shared.domain.errors import MalformedMessage
from shared.domain.messages import CreateLead, parse_message
from shared.domain.model import HistoryEntry, Prospect
from shared.domain.sales import B2B_LEADS_VIEW, LeadDraft
from shared.observability import correlation
from shared.ports import Clock, LeadResult, Queue, ReceivedMessage, SalesGateway, Store
from shared.queue_worker import move_to_poison

log = logging.getLogger("b2b.leads")

REFUSAL_BODY_CHARS = 500  # of Sales' error answer, kept on the prospect's history (never logged)

TIMELINE_NOTE = (
    "This lead was created by the Commerce B2B onboarding integration from prospect {number}. "
    f"It is listed in the view '{B2B_LEADS_VIEW}'."
)


def timeline_note(prospect: Prospect) -> str:
    """The lead's note: where it came from, and what intake found about it (the salesperson reads it first)."""
    note = TIMELINE_NOTE.format(number=prospect.number)
    if prospect.possible_duplicate_of:
        note += (" Possible duplicate of " + " / ".join(prospect.possible_duplicate_of)
                 + ": the same registration number, VAT number or company name in the same country.")
    if prospect.requester_user_of:
        note += " The requester already signs in as a user of " + " / ".join(prospect.requester_user_of) + "."
    return note


def lead_draft(prospect: Prospect) -> LeadDraft:
    request = prospect.request
    company, contact = request.company, request.contact
    return LeadDraft(
        lead_id=prospect.lead_id,
        subject=f"B2B partner request {prospect.number}: {company.name}",
        first_name=contact.first_name,
        last_name=contact.last_name,
        company_name=company.name,
        email=contact.email,
        phone=contact.phone,
        street=company.address.street,
        city=company.address.city,
        zip_code=company.address.zip_code,
        country=company.address.country,
        description=request.comments,
        prospect_number=prospect.number,
        timeline_note=timeline_note(prospect),
    )


class LeadCreation:
    """One create-lead message at a time (the queue trigger); ``LeadBatchCreation`` uses its steps for many."""

    def __init__(self, store: Store, sales: SalesGateway, clock: Clock):
        self._store = store
        self._sales = sales
        self._clock = clock

    def handle(self, body: str | bytes) -> None:
        prospect = self.pending_prospect(body)
        if prospect is None:
            return
        # Outside any transaction: Sales is slow. The lead id is the prospect's, so a retry after a crash
        # here finds the lead it made instead of making another.
        try:
            self._sales.create_lead(lead_draft(prospect))
        except Exception as error:
            if getattr(error, "permanent", False):
                self.record_refusal(prospect, error)
            raise  # the host retries, then poisons the message: nothing lost, replay after a fix works
        self.record_created(prospect)

    def pending_prospect(self, body: str | bytes) -> Prospect | None:
        """The prospect a create-lead message names; None when its lead was created already.
        ``MalformedMessage`` for a body that is no create-lead message or names no prospect."""
        message = parse_message(body, CreateLead)
        with self._store.unit_of_work(read_only=True) as uow:
            prospect = uow.get_prospect(message.prospect_id)
        if prospect is None:
            raise MalformedMessage(f"create-lead names an unknown prospect {message.prospect_id}")
        return None if prospect.lead_created_at is not None else prospect

    def record_created(self, prospect: Prospect) -> None:
        """The lead is in Sales: on the prospect, with its history line, once."""
        now = self._clock.now()
        with self._store.unit_of_work() as uow:
            current = uow.get_prospect(prospect.id)
            if current is None or current.lead_created_at is not None:
                return
            uow.save_prospect(current.with_lead(now))
            uow.append_history(
                HistoryEntry(prospect_id=prospect.id, at=now, actor="lead-creation", action="lead created",
                             detail=f"lead {prospect.lead_id} in Sales")
            )
        log.info("lead created", extra={"prospect": prospect.number, "lead_id": prospect.lead_id})

    def record_refusal(self, prospect: Prospect, error: Exception) -> None:
        """A refusal retrying cannot fix: on the prospect's history (with the start of Sales' answer, for the
        operator) and flagged, once however often the message is retried. The body stays out of the logs:
        it may repeat the prospect's personal data."""
        status, code = getattr(error, "status", None), getattr(error, "code", None)
        reason = f"lead refused by Sales: {status or '?'} {code or ''}".strip()
        body = str(getattr(error, "body", "") or "")[:REFUSAL_BODY_CHARS]
        now = self._clock.now()
        with self._store.unit_of_work() as uow:
            current = uow.get_prospect(prospect.id)
            if current is None or (current.needs_attention and current.attention_reason == reason):
                return
            uow.save_prospect(current.flagged(reason, now))
            uow.append_history(
                HistoryEntry(prospect_id=prospect.id, at=now, actor="lead-creation", action="lead refused by Sales",
                             detail=f"status {status}, code {code}: {body}")
            )
        log.error("lead refused by Sales", extra={"prospect": prospect.number, "status": status, "code": code})


@dataclass
class BatchReport:
    """What one batch (or a drain, summed) did with the messages it took."""

    taken: int = 0
    created: int = 0  # lead in Sales (new, or found from an earlier try), recorded, message deleted
    done_already: int = 0  # the prospect had its lead already: message deleted
    retried: int = 0  # released to be taken again after a backoff
    refused: int = 0  # Sales refused the lead for good: recorded on the prospect, message poisoned
    poisoned: int = 0  # every message moved to the poison queue (refused, malformed, out of retries)

    def add(self, other: BatchReport) -> None:
        for name in self.__dataclass_fields__:
            setattr(self, name, getattr(self, name) + getattr(other, name))


MAX_RECEIVE = 32  # Azure Storage queues hand out at most 32 messages per receive


class LeadBatchCreation:
    """Drains the lead queue in batches: up to ``batch_size`` create-lead messages, all their leads in one
    ``SalesGateway.create_leads`` call (Dataverse: ``$batch``, one changeset per lead), then each message
    settled on its own lead's result, with ``LeadCreation``'s steps:

    - created (or there already) → recorded on the prospect, message deleted;
    - a permanent refusal (a 4xx) → the prospect's history keeps Sales' answer and the prospect is flagged,
      the message moves to ``<queue>-poison`` (replayable once the cause is fixed);
    - anything else (429, 5xx, timeout) → released, visible again after an exponential backoff; a message
      taken ``max_dequeue_count`` times goes to poison, as the queue trigger's would;
    - a malformed message, or one naming no prospect → poison at once (no retry can fix it).

    Messages are taken with a ``lease`` (visibility timeout) longer than a batch can take; one whose batch
    dies midway is taken again after it, and finds its lead instead of making another."""

    def __init__(self, leads: LeadCreation, sales: SalesGateway, queue: Queue, lead_queue: str, *,
                 batch_size: int = 100, lease: float = 300.0, max_dequeue_count: int = 5,
                 backoff_base: float = 10.0, backoff_max: float = 300.0, budget: float = 240.0,
                 jitter: Callable[[], float] = random.random, monotonic: Callable[[], float] = time.monotonic):
        self._leads = leads
        self._sales = sales
        self._queue = queue
        self._lead_queue = lead_queue
        self._batch_size = max(1, batch_size)
        self._lease = lease
        self._max_dequeue_count = max_dequeue_count
        self._backoff_base = backoff_base
        self._backoff_max = backoff_max
        self._budget = budget
        self._jitter = jitter
        self._monotonic = monotonic

    def drain(self, max_batches: int = 1000, on_batch: Callable[[int], object] | None = None) -> BatchReport:
        """Batches until the queue has nothing visible, ``max_batches`` ran, or the time ``budget`` (seconds,
        kept under the host's function timeout) is spent; a batch is never cut short. ``on_batch`` is told
        how many messages each batch took (the CLI's progress)."""
        total = BatchReport()
        deadline = self._monotonic() + self._budget
        for _ in range(max_batches):
            report = self.run_once()
            total.add(report)
            if on_batch is not None and report.taken:
                on_batch(report.taken)
            if report.taken == 0 or self._monotonic() >= deadline:
                break
        return total

    def run_once(self) -> BatchReport:
        messages = self._take()
        report = BatchReport(taken=len(messages))
        pending: list[tuple[ReceivedMessage, Prospect]] = []
        for message in messages:
            with correlation(message.id):
                try:
                    prospect = self._leads.pending_prospect(message.body)
                except MalformedMessage as error:
                    self._poison(message, error, report)
                    continue
                except Exception as error:  # noqa: BLE001 - the store failed: this message is retried
                    self._retry(message, error, report)
                    continue
                if prospect is None:
                    self._queue.delete(message)
                    report.done_already += 1
                else:
                    pending.append((message, prospect))
        if not pending:
            return report
        try:
            results = self._sales.create_leads([lead_draft(prospect) for _, prospect in pending])
        except Exception as error:  # noqa: BLE001 - no lead was tried (Sales unreachable): all are retried
            log.warning("lead batch failed as a whole", extra={"leads": len(pending), "error": type(error).__name__})
            for message, _ in pending:
                self._retry(message, error, report)
            return report
        for (message, prospect), result in zip(pending, results, strict=True):
            with correlation(message.id):
                self._settle(message, prospect, result, report)
        # "leads_created", not "created": that is a LogRecord attribute, and makeRecord raises KeyError for it.
        log.info("lead batch done", extra={"taken": report.taken, "leads_created": report.created,
                                           "retried": report.retried, "poisoned": report.poisoned})
        return report

    def _take(self) -> list[ReceivedMessage]:
        messages: list[ReceivedMessage] = []
        while len(messages) < self._batch_size:
            wanted = min(MAX_RECEIVE, self._batch_size - len(messages))
            got = self._queue.receive(self._lead_queue, max_messages=wanted, visibility_timeout=self._lease)
            messages.extend(got)
            if len(got) < wanted:
                break
        return messages

    def _settle(self, message: ReceivedMessage, prospect: Prospect, result: LeadResult, report: BatchReport) -> None:
        try:
            if result.ok:
                self._leads.record_created(prospect)
            elif getattr(result.error, "permanent", False):
                self._leads.record_refusal(prospect, result.error)
        except Exception as error:  # noqa: BLE001 - the store failed: retried, and the lead is found then
            self._retry(message, error, report)
            return
        if result.ok:
            self._queue.delete(message)
            report.created += 1
        elif getattr(result.error, "permanent", False):
            report.refused += 1
            self._poison(message, result.error, report)
        else:
            self._retry(message, result.error, report)

    def _retry(self, message: ReceivedMessage, error: Exception | None, report: BatchReport) -> None:
        if message.dequeue_count >= self._max_dequeue_count:
            self._poison(message, error, report)
            return
        ceiling = min(self._backoff_max, self._backoff_base * 2 ** (message.dequeue_count - 1))
        wait = ceiling / 2 + ceiling / 2 * self._jitter()
        log.warning("lead not created; the message will be retried",
                    extra={"message_id": message.id, "dequeue_count": message.dequeue_count,
                           "error": type(error).__name__, "wait": wait})
        self._queue.release(message, visibility_timeout=wait)
        report.retried += 1

    def _poison(self, message: ReceivedMessage, error: Exception | None, report: BatchReport) -> None:
        move_to_poison(self._queue, message, error or "unknown")
        report.poisoned += 1
