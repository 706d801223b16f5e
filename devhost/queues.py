"""Queue triggers: poll each function's queue and run it on a small pool, as the queue extension does.

A batch is taken when the messages in progress drop to ``newBatchThreshold``; an empty queue is polled
with exponential backoff up to ``maxPollingInterval``. Retries and the poison queue are
``shared.queue_worker.QueueWorker``'s, the same code the CLI drains queues with.

Stopping hands back what the poller took and will not finish: a taken message stays invisible for the
whole processing lease (600 s) unless it is released. Messages taken but not started are released at
once; those running are finished, and released too if they are still running when the stop's wait
ends (the host is going away; handlers are idempotent, so a second run is harmless). Releasing cannot
avoid the dequeue count: Azure Storage counts every receive and has no way to take one back, so the
next delivery of a handed-back message counts one try more (it goes to the poison queue only if it then
fails at ``maxDequeueCount``). A crash hands back nothing: its messages return when their lease ends.
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
        # Taken and not yet settled (queued or running), by id and receipt: a lease that ran out can bring
        # the same message back while its first run is still going.
        self._taken: dict[tuple[str, str], ReceivedMessage] = {}
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
        """Stop taking messages, finish those running and hand back the rest (see the module's doc)."""
        self.stop_taking(timeout)
        self.finish(timeout)

    def stop_taking(self, timeout: float | None = None) -> None:
        """Take no more messages; messages taken and not yet started will be handed back, not run."""
        with self._capacity:
            self._stopping = True
            self._capacity.notify_all()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout)

    def finish(self, timeout: float | None = None) -> None:
        """Wait up to ``timeout`` for the messages in progress; then hand back all still taken (running, or
        queued behind those running)."""
        self._pool.shutdown(wait=False)  # what is queued still runs _process, which hands it back
        with self._capacity:
            if self._capacity.wait_for(lambda: not self._taken, timeout):
                return
            abandoned = list(self._taken.values())
        log.warning("stopping with messages still running; handing them back",
                    extra={"queue": self.queue_name, "messages": len(abandoned)})
        self._hand_back(abandoned)

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
                    lambda: self._stopping or len(self._taken) <= self._options.new_batch_threshold)
                if self._stopping:
                    return
            try:
                messages = self._queue.receive(self.queue_name, max_messages=self._options.rules.batch_size,
                                               visibility_timeout=self._options.rules.processing_lease)
            except Exception:  # noqa: BLE001 - a storage hiccup must not end polling
                log.exception("could not receive from queue %s", self.queue_name)
                messages = []
            if messages:
                with self._capacity:  # stopping is set under this lock, before the pool shuts down
                    if self._stopping:
                        taken_too_late = messages
                    else:
                        taken_too_late = []
                        for message in messages:
                            self._taken[message.id, message.pop_receipt] = message
                            self._pool.submit(self._process, message)
                if taken_too_late:  # received while the stop began
                    self._hand_back(taken_too_late)
                    return
                interval = fastest
                continue
            if self._wake.wait(interval):
                interval = fastest
            else:
                interval = min(interval * 2, slowest)
            self._wake.clear()

    def _process(self, message: ReceivedMessage) -> None:
        try:
            with self._capacity:
                start = not self._stopping
            if start:
                self._worker.process(message)
            else:
                self._hand_back([message])
        except Exception:  # noqa: BLE001 - settling failed (e.g. the lease expired); it will be redelivered
            log.exception("could not settle message %s on queue %s", message.id, self.queue_name)
        finally:
            with self._capacity:
                self._taken.pop((message.id, message.pop_receipt), None)
                self._capacity.notify_all()

    def _hand_back(self, messages: list[ReceivedMessage]) -> None:
        """Make taken messages visible again at once, for this host's next start or another host."""
        for message in messages:
            try:
                self._queue.release(message, visibility_timeout=0)
            except Exception:  # noqa: BLE001 - settled meanwhile (or gone); either way nothing is held
                log.debug("message %s not handed back: no longer held", message.id, exc_info=True)
        if messages:
            log.info("messages handed back", extra={"queue": self.queue_name, "messages": len(messages)})
