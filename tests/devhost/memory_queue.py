"""An in-memory Queue (shared.ports.Queue) with Azure Storage Queue semantics, for tests."""
from __future__ import annotations

import threading
import uuid
from dataclasses import dataclass
from datetime import datetime

from shared.adapters.clock import SystemClock
from shared.ports import Clock, ReceivedMessage


@dataclass
class _Stored:
    id: str
    body: str
    inserted_at: datetime
    visible_at: float  # seconds on the queue's clock
    dequeue_count: int = 0
    pop_receipt: str | None = None


class MemoryQueue:
    def __init__(self, clock: Clock | None = None) -> None:
        self._queues: dict[str, list[_Stored]] = {}
        self._lock = threading.Lock()
        self._clock = clock or SystemClock()

    def _now(self) -> float:
        return self._clock.now().timestamp()

    def send(self, queue: str, body: str, *, delay_seconds: float = 0) -> str:
        message = _Stored(str(uuid.uuid4()), body, self._clock.now(), self._now() + max(delay_seconds, 0))
        with self._lock:
            self._queues.setdefault(queue, []).append(message)
        return message.id

    def receive(self, queue: str, *, max_messages: int, visibility_timeout: float) -> list[ReceivedMessage]:
        now = self._now()
        with self._lock:
            visible = [m for m in self._queues.get(queue, []) if m.visible_at <= now][:max_messages]
            for message in visible:
                message.dequeue_count += 1
                message.pop_receipt = uuid.uuid4().hex
                message.visible_at = now + visibility_timeout
            return [self._received(queue, m) for m in visible]

    def delete(self, message: ReceivedMessage) -> None:
        with self._lock:
            self._queues[message.queue].remove(self._leased(message))

    def release(self, message: ReceivedMessage, *, visibility_timeout: float) -> None:
        with self._lock:
            stored = self._leased(message)
            stored.visible_at = self._now() + visibility_timeout
            stored.pop_receipt = None

    def peek(self, queue: str, *, max_messages: int) -> list[ReceivedMessage]:
        now = self._now()
        with self._lock:
            visible = [m for m in self._queues.get(queue, []) if m.visible_at <= now][:max_messages]
            return [self._received(queue, m) for m in visible]

    def get(self, queue: str, message_id: str) -> ReceivedMessage | None:
        with self._lock:
            stored = next((m for m in self._queues.get(queue, []) if m.id == message_id), None)
            return None if stored is None else self._received(queue, stored)

    def remove(self, queue: str, message_id: str) -> bool:
        with self._lock:
            messages = self._queues.get(queue, [])
            stored = next((m for m in messages if m.id == message_id), None)
            if stored is not None:
                messages.remove(stored)
            return stored is not None

    def count(self, queue: str) -> int:
        with self._lock:
            return len(self._queues.get(queue, []))

    def bodies(self, queue: str) -> list[str]:
        with self._lock:
            return [m.body for m in self._queues.get(queue, [])]

    def _leased(self, message: ReceivedMessage) -> _Stored:
        stored = next((m for m in self._queues.get(message.queue, []) if m.id == message.id), None)
        if stored is None or stored.pop_receipt != message.pop_receipt:
            raise LookupError(f"message {message.id} is gone or was received again")
        return stored

    @staticmethod
    def _received(queue: str, stored: _Stored) -> ReceivedMessage:
        return ReceivedMessage(queue=queue, id=stored.id, pop_receipt=stored.pop_receipt or "", body=stored.body,
                               dequeue_count=stored.dequeue_count, inserted_at=stored.inserted_at)
