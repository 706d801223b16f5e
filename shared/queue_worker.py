"""The queue-trigger loop of the Functions host, for any ``Queue`` adapter.

The local host runs queue-triggered functions with it, and the CLI drains queues with it, so both
follow the same rules as Azure: a batch at a time, a failed message becomes visible again after the
visibility timeout, and after ``max_dequeue_count`` failures it moves to ``<queue>-poison``.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Callable

from shared.observability import correlation
from shared.ports import Queue, ReceivedMessage

log = logging.getLogger("b2b.queue")

POISON_SUFFIX = "-poison"


def poison_queue_name(queue: str) -> str:
    return queue + POISON_SUFFIX


@dataclass(frozen=True)
class QueueRules:
    """The host.json ``extensions.queues`` settings that matter here."""

    batch_size: int = 16
    max_dequeue_count: int = 5
    visibility_timeout: float = 0.0
    # How long a received message stays hidden while its function runs (the host renews it; we give it ample time).
    processing_lease: float = 600.0


class QueueWorker:
    def __init__(self, queue: Queue, queue_name: str, handler: Callable[[ReceivedMessage], None], rules: QueueRules):
        self._queue = queue
        self._name = queue_name
        self._handler = handler
        self._rules = rules

    def run_once(self) -> int:
        """Take one batch and run the handler on each message; return how many were taken."""
        messages = self._queue.receive(
            self._name, max_messages=self._rules.batch_size, visibility_timeout=self._rules.processing_lease
        )
        for message in messages:
            self.process(message)
        return len(messages)

    def drain(self, max_batches: int = 10_000, on_handled: Callable[[int], object] | None = None) -> int:
        """Run batches until the queue has nothing visible (messages waiting on a retry delay stay).
        ``on_handled`` is told how many messages each batch took (the CLI's progress)."""
        total = 0
        for _ in range(max_batches):
            taken = self.run_once()
            if not taken:
                break
            total += taken
            if on_handled is not None:
                on_handled(taken)
        return total

    def process(self, message: ReceivedMessage) -> bool:
        # The message id is the correlation id, as it is in the function that handles the message.
        with correlation(message.id):
            try:
                self._handler(message)
            except Exception as error:  # noqa: BLE001 - any failure of a function is a retry, as in Azure
                self._failed(message, error)
                return False
            self._queue.delete(message)
            return True

    def _failed(self, message: ReceivedMessage, error: Exception) -> None:
        if message.dequeue_count >= self._rules.max_dequeue_count:
            move_to_poison(self._queue, message, error)
            return
        log.warning(
            "message failed; it will be retried",
            extra={"queue": self._name, "message_id": message.id, "dequeue_count": message.dequeue_count,
                   "error": type(error).__name__},
        )
        self._queue.release(message, visibility_timeout=self._rules.visibility_timeout)


def move_to_poison(queue: Queue, message: ReceivedMessage, error: Exception | str) -> None:
    """Move a received message to ``<its queue>-poison``, as the host does after ``maxDequeueCount``."""
    # The original body, byte for byte, so that replay sends exactly what failed.
    queue.send(poison_queue_name(message.queue), message.body)
    queue.delete(message)
    log.error(
        "message moved to poison queue",
        extra={"queue": message.queue, "message_id": message.id, "dequeue_count": message.dequeue_count,
               "error": error if isinstance(error, str) else type(error).__name__},
    )


def drain_queues(queue: Queue, handlers: dict[str, Callable[[str], object]], rules: QueueRules | None = None,
                 rounds: int = 50, on_handled: Callable[[int], object] | None = None) -> int:
    """Process every visible message of several queues, as the host would, until all are quiet.

    Handlers take the message body. Rounds repeat because one queue's handler feeds another queue.
    ``on_handled`` is told how many messages each batch took (the CLI's progress)."""
    rules = rules or QueueRules()
    total = 0
    for _ in range(rounds):
        done = sum(
            QueueWorker(queue, name, lambda message, handle=handle: handle(message.body), rules).drain(
                on_handled=on_handled)
            for name, handle in handlers.items()
        )
        total += done
        if not done:
            break
    return total
