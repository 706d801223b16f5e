"""Queue triggers: poll each function's queue and run it on a small pool, as the queue extension does.

A batch is taken when the messages in progress drop to ``newBatchThreshold``; an empty queue is polled
with exponential backoff up to ``maxPollingInterval``. Retries and the poison queue are
``shared.queue_worker.QueueWorker``'s, the same code the CLI drains queues with.
"""
from __future__ import annotations

import logging
import threading
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta
from typing import Callable

from azure.functions.queue import QueueMessage

from devhost.invoke import CallPlan, Invoker
from devhost.settings import QueueOptions
from devhost.timers import utc_now
from shared.ports import Queue, ReceivedMessage
from shared.queue_worker import QueueWorker

log = logging.getLogger("devhost.queues")

# Azure Storage's default message time-to-live; reported as QueueMessage.expiration_time.
MESSAGE_TTL = timedelta(days=7)


def queue_message(message: ReceivedMessage, next_visible: datetime) -> QueueMessage:
    """The ``func.QueueMessage`` the worker would build from the host's trigger metadata."""
    return QueueMessage(
        id=message.id,
        body=message.body,
        pop_receipt=message.pop_receipt,
        dequeue_count=message.dequeue_count,
        insertion_time=message.inserted_at,
        expiration_time=message.inserted_at + MESSAGE_TTL,
        time_next_visible=next_visible,
    )


def direct_message(queue_name: str, body: str, now: datetime) -> ReceivedMessage:
    """A message that was never on the queue, for the admin API's "run this function with this input"."""
    return ReceivedMessage(queue=queue_name, id=str(uuid.uuid4()), pop_receipt="", body=body,
                           dequeue_count=1, inserted_at=now)


class QueuePoller:
    def __init__(self, plan: CallPlan, queue_name: str, queue: Queue, options: QueueOptions, invoker: Invoker,
                 clock: Callable[[], datetime] = utc_now):
        self.plan = plan
        self.queue_name = queue_name
        self._queue = queue
        self._options = options
        self._invoker = invoker
        self._clock = clock
        self._worker = QueueWorker(queue, queue_name, self.handle, options.rules)
        self._pool = ThreadPoolExecutor(max_workers=options.rules.batch_size,
                                        thread_name_prefix=f"devhost-queue-{plan.spec.name}")
        self._active = 0
        self._capacity = threading.Condition()
        self._wake = threading.Event()
        self._stopping = False
        self._thread: threading.Thread | None = None

    @property
    def name(self) -> str:
        return self.plan.spec.name

    def start(self) -> None:
        self._thread = threading.Thread(target=self._loop, name=f"devhost-poll-{self.name}", daemon=True)
        self._thread.start()

    def notify(self) -> None:
        """A message was just sent to this queue: poll now instead of at the end of the backoff."""
        self._wake.set()

    def stop(self, timeout: float | None = None) -> None:
        """Stop taking messages; messages already taken are finished."""
        with self._capacity:
            self._stopping = True
            self._capacity.notify_all()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout)
        self._pool.shutdown(wait=True)

    def handle(self, message: ReceivedMessage) -> None:
        next_visible = self._clock() + timedelta(seconds=self._options.rules.processing_lease)
        self._invoker.invoke(self.plan, queue_message(message, next_visible),
                             reason=f"New queue message detected on '{self.queue_name}'.")

    def _loop(self) -> None:
        fastest, slowest = self._options.min_polling_interval, self._options.max_polling_interval
        interval = fastest
        while True:
            with self._capacity:
                self._capacity.wait_for(
                    lambda: self._stopping or self._active <= self._options.new_batch_threshold)
                if self._stopping:
                    return
            try:
                messages = self._queue.receive(self.queue_name, max_messages=self._options.rules.batch_size,
                                               visibility_timeout=self._options.rules.processing_lease)
            except Exception:  # noqa: BLE001 - a storage hiccup must not end polling
                log.exception("could not receive from queue %s", self.queue_name)
                messages = []
            if messages:
                for message in messages:
                    with self._capacity:
                        self._active += 1
                    self._pool.submit(self._process, message)
                interval = fastest
                continue
            if self._wake.wait(interval):
                interval = fastest
            else:
                interval = min(interval * 2, slowest)
            self._wake.clear()

    def _process(self, message: ReceivedMessage) -> None:
        try:
            self._worker.process(message)
        except Exception:  # noqa: BLE001 - settling failed (e.g. the lease expired); it will be redelivered
            log.exception("could not settle message %s on queue %s", message.id, self.queue_name)
        finally:
            with self._capacity:
                self._active -= 1
                self._capacity.notify_all()
