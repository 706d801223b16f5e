"""The outboxes: queue messages relayed from the transactional outbox to the queue after their transaction
commits (``OutboxRelay``), and the email outbox as an operator reads and repairs it (``EmailOutbox``)."""
from __future__ import annotations

import base64
import binascii
import json
import logging
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from enum import Enum
from typing import Annotated, Callable, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from shared.domain.audit import AuditAction
from shared.domain.errors import DomainError, InvalidInput, NotFound
from shared.domain.ids import derived_id
from shared.domain.messages import DeliverEmail
from shared.domain.model import EmailRecord, EmailStatus, HistoryEntry, OutboxMessage
from shared.domain.validation import OperatorName, validated
from shared.observability import redact
from shared.ports import Clock, EmailQuery, OutgoingEmail, Queue, Store
from shared.queue_worker import QueueRules
from shared.services.operator import record_audit
from shared.services.retry import on_conflict

log = logging.getLogger("b2b.outbox")

# Messages younger than this are left to the unit of work that wrote them (it sends them right after
# its commit); the sweep takes only those whose writer apparently died before sending.
SWEEP_GRACE = timedelta(seconds=30)


class OutboxRelay:
    def __init__(self, store: Store, queue: Queue, clock: Clock):
        self._store = store
        self._queue = queue
        self._clock = clock

    def send_now(self, messages: list[OutboxMessage]) -> int:
        """Send what a unit of work just committed. A failure here loses nothing: the sweep resends."""
        sent = []
        for message in messages:
            try:
                self._queue.send(message.queue, message.body)
            except Exception:  # noqa: BLE001 - the sweep retries; the caller's work is already committed
                log.warning("outbox send failed; the next sweep retries", extra={"outbox_id": message.id})
                break
            sent.append(message)
        self._mark_sent(sent)
        return len(sent)

    def sweep(self, limit: int = 1000, grace: timedelta = SWEEP_GRACE) -> int:
        """Send every message whose writer did not (crashed between commit and send)."""
        total = 0
        while True:
            with self._store.unit_of_work(read_only=True) as uow:
                stale = uow.pending_outbox_messages(older_than=self._clock.now() - grace, limit=limit)
            if not stale:
                return total
            sent = self.send_now(stale)
            total += sent
            if sent < limit:
                return total

    def _mark_sent(self, messages: list[OutboxMessage]) -> None:
        if not messages:
            return
        now = self._clock.now()
        with self._store.unit_of_work() as uow:
            for message in messages:
                uow.mark_outbox_sent(message, now)


class EmailState(str, Enum):
    """An email's delivery as an operator reads it (the record's status, and whether an attempt holds it)."""

    QUEUED = "queued"  # waiting for its delivery message (first time, or a retry after a failure)
    SENDING = "sending"  # a delivery attempt took it and has not ended
    SENT = "sent"
    FAILED = "failed"  # given up: an operator retries it


PENDING = "pending"  # a filter, not a state: queued or sending (not sent, not given up)

_STATE_QUERY: dict[str, tuple[EmailStatus, bool | None]] = {
    PENDING: (EmailStatus.PENDING, None),
    EmailState.QUEUED: (EmailStatus.PENDING, False),
    EmailState.SENDING: (EmailStatus.PENDING, True),
    EmailState.SENT: (EmailStatus.DELIVERED, None),
    EmailState.FAILED: (EmailStatus.FAILED, None),
}


def email_state(email: EmailRecord) -> EmailState:
    if email.status is EmailStatus.DELIVERED:
        return EmailState.SENT
    if email.status is EmailStatus.FAILED:
        return EmailState.FAILED
    return EmailState.SENDING if email.delivery_started_at is not None else EmailState.QUEUED


def utc_text(at: datetime) -> str:
    return at.astimezone(timezone.utc).strftime("%Y-%m-%d %H:%M:%SZ")


def delivery_note(email: EmailRecord, now: datetime) -> str:
    """Why a pending email waits: an attempt holds it (its message is invisible until the queue lease ends, the
    whole lease if the instance that took it died), or a retry is due later."""
    if email.status is not EmailStatus.PENDING:
        return ""
    if email.delivery_started_at is not None:
        visible_again = email.delivery_started_at + timedelta(seconds=QueueRules.processing_lease)
        since = utc_text(email.delivery_started_at)
        if now < visible_again:
            return f"in flight since {since}, visible again at {utc_text(visible_again)}"
        return f"taken at {since} and not finished; visible again since {utc_text(visible_again)}"
    if email.next_attempt_at is not None:
        return f"retry at {utc_text(email.next_attempt_at)}"
    return "queued"


def recipient_domain(email: EmailRecord) -> str:
    return email.to.rpartition("@")[2].lower()


class EmailFilter(BaseModel):
    """What the email listing takes: every filter optional; ``cursor`` is the one a previous page gave."""

    model_config = ConfigDict(extra="forbid")
    status: EmailState | Literal["pending"] | None = None
    template: Annotated[str, StringConstraints(pattern=r"^[a-z0-9_-]{1,64}$")] | None = None
    to_domain: Annotated[str, StringConstraints(strip_whitespace=True, to_lower=True, max_length=253,
                                                pattern=r"^[^@\s]+$")] | None = None
    cursor: Annotated[str, StringConstraints(max_length=400)] | None = None
    limit: int = Field(50, ge=1, le=200)


@dataclass(frozen=True)
class EmailPage:
    emails: list[EmailRecord]
    next_cursor: str | None  # None: this is the last page


@dataclass(frozen=True)
class EmailView:
    """One email as an operator reads it: the record (status, attempts, last error) and as rendered."""

    record: EmailRecord
    rendered: OutgoingEmail | None
    render_error: str | None  # why it cannot be rendered (a template removed since), instead of a 500

    @property
    def state(self) -> EmailState:
        return email_state(self.record)


def email_summary_json(email: EmailRecord) -> dict:
    """An email in a listing: the recipient's domain only (the address is on the email's own page)."""
    return {"id": email.id, "template": email.template, "status": email_state(email).value,
            "toDomain": recipient_domain(email), "language": email.language, "attempts": email.attempts,
            "lastError": email.last_error, "prospectId": email.prospect_id,
            "createdAt": email.created_at.isoformat(), "deliveredAt": _iso(email.delivered_at),
            "nextAttemptAt": _iso(email.next_attempt_at), "deliveryStartedAt": _iso(email.delivery_started_at)}


def email_view_json(view: EmailView) -> dict:
    rendered = view.rendered
    return {**email_summary_json(view.record), "to": view.record.to, "renderError": view.render_error,
            "subject": rendered.subject if rendered else None, "html": rendered.html_body if rendered else None,
            "text": rendered.text_body if rendered else None}


def _iso(at: datetime | None) -> str | None:
    return None if at is None else at.isoformat()


def _cursor(email: EmailRecord) -> str:
    raw = json.dumps([email.created_at.isoformat(), email.id]).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _after(cursor: str) -> tuple[datetime, str]:
    """The position a cursor names; a cursor this listing did not give is a 422 on ``cursor``."""
    try:
        at, email_id = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
        position = (datetime.fromisoformat(at), email_id)
    except (ValueError, TypeError, binascii.Error):
        raise InvalidInput([("cursor", "is not a cursor this listing gave")]) from None
    if position[0].tzinfo is None or not isinstance(email_id, str):
        raise InvalidInput([("cursor", "is not a cursor this listing gave")])
    return position


class RetryEmail(BaseModel):
    operator: OperatorName


def _retrying(email: EmailRecord, email_queue: str, now: datetime) -> OutboxMessage:
    """The delivery message of a retry, written with the email's change (the transactional outbox): a crash
    after the commit cannot leave the email queued with nothing to deliver it. Kept with the email's records
    (its aggregate), so a store commits both together; its id is new per retry (the first delivery's is
    taken)."""
    return OutboxMessage(id=derived_id("outbox", "retry-email", email.id, uuid.uuid4().hex),
                         aggregate_id=email.aggregate_id or email.prospect_id or f"email-{email.id}",
                         queue=email_queue, body=DeliverEmail(email_id=email.id).to_json(), created_at=now)


class EmailOutbox:
    """The email outbox for the back office: list it with filters, read one as rendered, retry a failed one."""

    def __init__(self, store: Store, relay: OutboxRelay, clock: Clock, email_queue: str,
                 render: Callable[[EmailRecord], OutgoingEmail]):
        self._store = store
        self._relay = relay
        self._clock = clock
        self._email_queue = email_queue
        self._render = render  # EmailDelivery.render: the email exactly as it is sent

    def page(self, filters: object) -> EmailPage:
        """Newest first, ``limit`` at a time; ``filters`` is an ``EmailFilter`` or its fields as a dict."""
        wanted = filters if isinstance(filters, EmailFilter) else validated(EmailFilter, filters)
        status, in_flight = _STATE_QUERY[wanted.status] if wanted.status else (None, None)
        query = EmailQuery(status=status, in_flight=in_flight, template=wanted.template, to_domain=wanted.to_domain,
                           before=_after(wanted.cursor) if wanted.cursor else None)
        with self._store.unit_of_work(read_only=True) as uow:
            found = uow.email_page(query, wanted.limit + 1)
        emails = found[:wanted.limit]
        return EmailPage(emails, _cursor(emails[-1]) if len(found) > wanted.limit else None)

    def email(self, email_id: str) -> EmailView:
        email = self._read(email_id)
        try:
            return EmailView(email, self._render(email), None)
        except Exception as error:  # noqa: BLE001 - a template gone or changed since: the record still shows
            return EmailView(email, None, redact(f"{type(error).__name__}: {error}")[:300])

    def retry_email(self, email_id: str, operator: object) -> EmailRecord:
        """Put a failed email back in line, its attempts starting over (audited). Only a failed one: a queued
        or sending email has a delivery under way (a second one could send it twice), a sent one is done."""
        act = validated(RetryEmail, {"operator": operator})
        email = _failed_only(self._read(email_id))  # refused before the audit: nothing was done
        record_audit(self._store, self._clock, act.operator, AuditAction.RETRY_EMAIL, email_id=email_id,
                     about=f"{email.template} ({email.language})",
                     detail=f"last error: {redact(email.last_error or 'none')[:200]}")

        def back_in_line() -> tuple[EmailRecord, OutboxMessage]:
            now = self._clock.now()
            with self._store.unit_of_work() as uow:
                current = uow.get_email(email_id)
                if current is None:
                    raise NotFound(f"no email {email_id}")
                queued = _failed_only(current).model_copy(update={"status": EmailStatus.PENDING, "attempts": 0,
                                                                  "next_attempt_at": None})
                message = _retrying(queued, self._email_queue, now)
                uow.save_email(queued)
                uow.add_outbox_message(message)
                if current.prospect_id:  # the prospect's page tells its story: who sent its email again
                    uow.append_history(_retried_entry(current, act.operator, now))
            return queued, message

        queued, message = on_conflict(back_in_line)
        self._relay.send_now([message])
        return queued

    def _read(self, email_id: str) -> EmailRecord:
        with self._store.unit_of_work(read_only=True) as uow:
            email = uow.get_email(email_id)
        if email is None:
            raise NotFound(f"no email {email_id}")
        return email


def _failed_only(email: EmailRecord) -> EmailRecord:
    state = email_state(email)
    if state is not EmailState.FAILED:
        raise DomainError(f"email {email.id} is {state.value}, not failed: nothing to retry")
    return email


def _retried_entry(email: EmailRecord, operator: str, now: datetime) -> HistoryEntry:
    from shared.services.back_office import ACTOR_PREFIX

    attempts = f"{email.attempts} attempt{'s' if email.attempts != 1 else ''}"
    error = f": {redact(email.last_error)[:200]}" if email.last_error else ""
    return HistoryEntry(prospect_id=email.prospect_id, at=now, actor=f"{ACTOR_PREFIX}:{operator}",
                        action="email retried", detail=f"{email.template} (was {email.status.value} after {attempts}{error})")
