"""Relays queue messages from the transactional outbox to the queue, after their transaction commits."""
from __future__ import annotations

import logging
from datetime import timedelta

from shared.domain.model import OutboxMessage
from shared.ports import Clock, Queue, Store

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
