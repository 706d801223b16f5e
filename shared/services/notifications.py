"""Email notifications through the transactional outbox, and their delivery with retry."""
from __future__ import annotations

import logging
import random
from dataclasses import dataclass
from datetime import datetime, timedelta

from shared.domain.email_templates import load_template
from shared.domain.errors import MalformedMessage
from shared.domain.ids import derived_id
from shared.domain.messages import DeliverEmail, parse_message
from shared.domain.model import EmailRecord, EmailStatus, OutboxMessage
from shared.ports import Clock, EmailTransport, OutgoingEmail, Queue, Store, UnitOfWork

log = logging.getLogger("b2b.email")


@dataclass(frozen=True)
class Sender:
    name: str
    address: str


def queue_email(
    uow: UnitOfWork, *, template: str, to: str, language: str, values: dict[str, str], email_id: str,
    aggregate_id: str, email_queue: str, now: datetime, prospect_id: str | None = None,
) -> OutboxMessage:
    """Write an email and the message that delivers it in the caller's unit of work.

    ``email_id`` is deterministic (the prospect and the template, or a user's change and the template),
    so a state change that is applied twice still writes one email. ``aggregate_id`` names the records
    the email is written with, so a store keeps them in one transaction."""
    uow.add_email(
        EmailRecord(id=email_id, template=template, to=to, language=language, values=values,
                    prospect_id=prospect_id, aggregate_id=aggregate_id, created_at=now)
    )
    message = OutboxMessage(
        id=derived_id("outbox", "deliver-email", email_id),
        aggregate_id=aggregate_id,
        queue=email_queue,
        body=DeliverEmail(email_id=email_id).to_json(),
        created_at=now,
    )
    uow.add_outbox_message(message)
    return message


def retry_delay(attempts: int) -> float:
    """Exponential backoff with jitter: about 5 s, 10 s, 20 s … capped at an hour."""
    base = min(5.0 * 2 ** (attempts - 1), 3600.0)
    return base * random.uniform(0.8, 1.2)


class EmailDelivery:
    def __init__(self, store: Store, transport: EmailTransport, queue: Queue, clock: Clock, sender: Sender,
                 email_queue: str, max_attempts: int = 8, templates_dir: str = ""):
        self._store = store
        self._transport = transport
        self._queue = queue
        self._clock = clock
        self._sender = sender
        self._email_queue = email_queue
        self._max_attempts = max_attempts
        self._templates_dir = templates_dir

    def handle(self, body: str | bytes) -> None:
        self.deliver(parse_message(body, DeliverEmail).email_id)

    def deliver(self, email_id: str) -> EmailStatus:
        email = self._take(email_id)
        if email.status is not EmailStatus.PENDING:
            return email.status  # delivered (or given up) already: never send twice
        try:
            self._transport.send(self.render(email))
        except Exception as error:  # noqa: BLE001 - any transport failure is retried with backoff
            return self._failed(email, error)
        now = self._clock.now()
        with self._store.unit_of_work() as uow:
            current = uow.get_email(email_id)
            if current is not None and current.status is EmailStatus.PENDING:
                uow.save_email(current.model_copy(update={
                    "status": EmailStatus.DELIVERED, "delivered_at": now, "attempts": current.attempts + 1,
                    "last_error": None, "delivery_started_at": None,
                }))
        log.info("email delivered", extra={"email_id": email_id, "template": email.template})
        return EmailStatus.DELIVERED

    def render(self, email: EmailRecord) -> OutgoingEmail:
        """The email as it is (or was, or would be) sent: its template in its language, with its values."""
        rendered = load_template(email.template, email.language, self._templates_dir).render(email.values)
        return OutgoingEmail(
            message_id=email.id, sender_name=rendered.sender_name or self._sender.name,
            sender_address=rendered.sender_address or self._sender.address, to=email.to,
            subject=rendered.subject, html_body=rendered.html_body, text_body=rendered.text_body,
            language=rendered.language,
        )

    def _take(self, email_id: str) -> EmailRecord:
        """The email; a pending one is marked as taken by this attempt first (``delivery_started_at``).

        Why a write per attempt: Azure Storage queues cannot list the messages an instance holds, so when one
        dies mid-delivery the store is the only place that can say "in flight since" to an operator while the
        message waits out its lease. One small write beside the send is cheap against an email's cost."""
        with self._store.unit_of_work() as uow:
            email = uow.get_email(email_id)
            if email is None:
                raise MalformedMessage(f"deliver-email names an unknown email {email_id}")
            if email.status is not EmailStatus.PENDING:
                return email
            taken = email.model_copy(update={"delivery_started_at": self._clock.now()})
            uow.save_email(taken)
        return taken

    def _failed(self, email: EmailRecord, error: Exception) -> EmailStatus:
        attempts = email.attempts + 1
        now = self._clock.now()
        # A refusal that no retry can change (a 5xx reply, an address the transport cannot carry)
        # goes to the operator at once instead of after every backoff.
        give_up = attempts >= self._max_attempts or getattr(error, "permanent", False)
        delay = retry_delay(attempts)
        status = EmailStatus.FAILED if give_up else EmailStatus.PENDING
        with self._store.unit_of_work() as uow:
            uow.save_email(email.model_copy(update={
                "status": status, "attempts": attempts, "last_error": f"{type(error).__name__}: {error}"[:500],
                "next_attempt_at": None if give_up else now + timedelta(seconds=delay), "delivery_started_at": None,
            }))
        if give_up:
            log.error("email delivery given up", extra={"email_id": email.id, "attempts": attempts})
        else:
            log.warning("email delivery failed; retrying later",
                        extra={"email_id": email.id, "attempts": attempts, "retry_in_s": round(delay, 1)})
            self._queue.send(self._email_queue, DeliverEmail(email_id=email.id).to_json(), delay_seconds=delay)
        return status
