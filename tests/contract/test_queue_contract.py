"""The Queue port's contract (Azure Storage Queue semantics): every Queue adapter must pass it unchanged.

To add an adapter, add a builder to ``QUEUE_BUILDERS``: a context manager yielding a ``QueueHarness`` on
fresh, empty queues. ``elapse(seconds)`` lets visibility time pass (a manual clock, or a real sleep for an
adapter that runs on server time); ``stale_receipt_errors`` are what ``delete``/``release`` raise when the
pop receipt is no longer the current one. A builder gets ``tmp_path``, and the other fixtures named in its
``fixtures`` attribute as keyword arguments (the Azure one runs on the session's Azurite).
"""
from __future__ import annotations

import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta
from typing import Callable, ContextManager

import pytest

from shared.adapters.clock import ManualClock
from shared.adapters.sqlite_queue import SqliteQueue
from shared.ports import MessageNotFound, Queue
from tests.contract.factories import build_harness

Q = "contract-queue"


@dataclass
class QueueHarness:
    queue: Queue
    elapse: Callable[[float], None]
    stale_receipt_errors: tuple[type[BaseException], ...]


@contextmanager
def _sqlite(tmp_path):
    clock = ManualClock()
    queue = SqliteQueue(tmp_path / "queue.db", clock)
    try:
        yield QueueHarness(queue, clock.advance, (MessageNotFound,))
    finally:
        queue.close()


@contextmanager
def _memory(tmp_path):
    # The in-memory fake the host tests use: it must keep the same promises as the real adapters.
    from tests.devhost.memory_queue import MemoryQueue

    clock = ManualClock()
    yield QueueHarness(MemoryQueue(clock), clock.advance, (LookupError,))


@contextmanager
def _azure(tmp_path, azurite):
    # Azure Storage Queues on Azurite, which keeps its own time: elapse really waits (the tests wait seconds).
    from shared.adapters.azure_queue import AzureStorageQueue

    service = azurite.queue_service()
    for existing in service.list_queues():  # fresh, empty queues: Azurite lives for the whole session
        service.delete_queue(existing.name)
    queue = AzureStorageQueue(service)
    try:
        yield QueueHarness(queue, time.sleep, (MessageNotFound,))
    finally:
        queue.close()


_azure.fixtures = ("azurite",)

QUEUE_BUILDERS: dict[str, Callable[..., ContextManager[QueueHarness]]] = {
    "sqlite": _sqlite, "memory": _memory, "azure": _azure,
}


@pytest.fixture(params=sorted(QUEUE_BUILDERS))
def harness(request, tmp_path) -> QueueHarness:
    with build_harness(QUEUE_BUILDERS, request, tmp_path) as built:
        yield built


@pytest.fixture
def queue(harness) -> Queue:
    return harness.queue


def receive_one(queue: Queue, name: str = Q, timeout: float = 30):
    (message,) = queue.receive(name, max_messages=1, visibility_timeout=timeout)
    return message


BODIES = [
    pytest.param("plain", id="ascii"),
    pytest.param('{"schema":"create-lead","version":1,"prospect_id":"p"}', id="json"),
    pytest.param("Åsa Öberg – 商店 😀 <b>&amp;</b> 'quotes' \"double\"\n\ttab\r\nline", id="unicode"),
    pytest.param("  leading and trailing spaces  ", id="spaces"),
    # The largest body Azure Storage Queues take as the Functions host reads them: 64 KiB once base64-encoded.
    pytest.param(("0123456789abcdef" * 4096)[:48 * 1024], id="48KB"),
]


@pytest.mark.parametrize("body", BODIES)
def test_send_receive_returns_body_unchanged(queue, body):
    message_id = queue.send(Q, body)
    message = receive_one(queue)
    assert message.body == body
    assert message.id == message_id
    assert message.queue == Q
    assert message.dequeue_count == 1
    assert message.pop_receipt
    assert message.inserted_at.utcoffset() == timedelta(0)


def test_send_returns_distinct_ids(queue):
    ids = {queue.send(Q, "same body") for _ in range(20)}
    assert len(ids) == 20


def test_receive_on_an_empty_queue_is_empty(queue):
    assert queue.receive("never-used", max_messages=32, visibility_timeout=30) == []
    assert queue.count("never-used") == 0


def test_received_message_is_hidden_for_the_visibility_timeout(harness):
    queue = harness.queue
    queue.send(Q, "hello")
    first = receive_one(queue, timeout=2)
    assert first.dequeue_count == 1
    assert queue.receive(Q, max_messages=32, visibility_timeout=2) == []
    harness.elapse(1)
    assert queue.receive(Q, max_messages=32, visibility_timeout=2) == []
    harness.elapse(1.5)
    again = receive_one(queue, timeout=2)
    assert again.id == first.id
    assert again.body == "hello"
    assert again.dequeue_count == 2
    assert again.pop_receipt != first.pop_receipt


def test_stale_pop_receipt_can_no_longer_delete_or_release(harness):
    queue = harness.queue
    queue.send(Q, "hello")
    first = receive_one(queue, timeout=1)
    harness.elapse(1.5)
    second = receive_one(queue, timeout=1)
    with pytest.raises(harness.stale_receipt_errors):
        queue.delete(first)
    with pytest.raises(harness.stale_receipt_errors):
        queue.release(first, visibility_timeout=0)
    assert queue.count(Q) == 1
    queue.delete(second)
    assert queue.count(Q) == 0


def test_delete_removes_the_message(harness):
    queue = harness.queue
    message_id = queue.send(Q, "bye")
    message = receive_one(queue, timeout=1)
    queue.delete(message)
    assert queue.count(Q) == 0
    assert queue.get(Q, message_id) is None
    harness.elapse(2)
    assert queue.receive(Q, max_messages=32, visibility_timeout=1) == []
    with pytest.raises(harness.stale_receipt_errors):
        queue.delete(message)  # a second delete finds nothing


def test_release_makes_the_message_visible_again(harness):
    queue = harness.queue
    queue.send(Q, "retry me")
    message = receive_one(queue, timeout=300)
    queue.release(message, visibility_timeout=0)
    again = receive_one(queue, timeout=300)
    assert again.id == message.id
    assert again.dequeue_count == 2
    queue.release(again, visibility_timeout=2)
    assert queue.receive(Q, max_messages=32, visibility_timeout=300) == []
    harness.elapse(1)
    assert queue.receive(Q, max_messages=32, visibility_timeout=300) == []
    harness.elapse(1.5)
    third = receive_one(queue, timeout=300)
    assert third.dequeue_count == 3
    assert third.body == "retry me"


def test_delay_seconds_on_send(harness):
    queue = harness.queue
    queue.send(Q, "later", delay_seconds=2)
    queue.send(Q, "now")
    assert [m.body for m in queue.receive(Q, max_messages=32, visibility_timeout=300)] == ["now"]
    assert queue.count(Q) == 2
    harness.elapse(2.5)
    later = receive_one(queue, timeout=300)
    assert later.body == "later"
    assert later.dequeue_count == 1


def test_max_messages(queue):
    sent = [queue.send(Q, f"m{i}") for i in range(5)]
    first = queue.receive(Q, max_messages=3, visibility_timeout=300)
    assert len(first) == 3
    rest = queue.receive(Q, max_messages=32, visibility_timeout=300)
    assert len(rest) == 2
    assert {m.id for m in first} | {m.id for m in rest} == set(sent)
    assert {m.body for m in first} | {m.body for m in rest} == {f"m{i}" for i in range(5)}


def test_peek_changes_neither_visibility_nor_dequeue_count(queue):
    ids = [queue.send(Q, f"m{i}") for i in range(3)]
    peeked = queue.peek(Q, max_messages=32)
    assert {m.id for m in peeked} == set(ids)
    assert {m.body for m in peeked} == {"m0", "m1", "m2"}
    assert all(m.dequeue_count == 0 for m in peeked)
    assert len(queue.peek(Q, max_messages=2)) == 2
    assert len(queue.peek(Q, max_messages=32)) == 3  # peeking twice takes nothing
    received = queue.receive(Q, max_messages=32, visibility_timeout=300)
    assert {m.id for m in received} == set(ids)
    assert all(m.dequeue_count == 1 for m in received)


def test_get_by_id(queue):
    message_id = queue.send(Q, "find me")
    queue.send(Q, "someone else")
    got = queue.get(Q, message_id)
    assert got is not None
    assert (got.id, got.body, got.queue) == (message_id, "find me", Q)
    assert queue.get(Q, "no-such-id") is None
    assert queue.get("other-queue", message_id) is None


def test_get_sees_the_dequeue_count_of_a_received_message(queue):
    message_id = queue.send(Q, "x")
    receive_one(queue, timeout=300)
    got = queue.get(Q, message_id)
    assert got is not None and got.dequeue_count == 1


def test_remove_by_id_regardless_of_visibility(queue):
    visible = queue.send(Q, "visible")
    hidden = queue.send(Q, "hidden")
    queue.send(Q, "stays")
    for message in queue.receive(Q, max_messages=32, visibility_timeout=300):
        if message.id != hidden:
            queue.release(message, visibility_timeout=0)
    assert queue.remove(Q, hidden) is True
    assert queue.remove(Q, visible) is True
    assert queue.remove(Q, visible) is False
    assert queue.remove(Q, "no-such-id") is False
    assert queue.count(Q) == 1
    assert [m.body for m in queue.receive(Q, max_messages=32, visibility_timeout=300)] == ["stays"]


def test_remove_only_in_the_named_queue(queue):
    message_id = queue.send("queue-a", "x")
    assert queue.remove("queue-b", message_id) is False
    assert queue.count("queue-a") == 1


def test_count_includes_invisible_messages(harness):
    queue = harness.queue
    for i in range(3):
        queue.send(Q, f"m{i}")
    queue.send(Q, "delayed", delay_seconds=60)
    receive_one(queue, timeout=300)
    assert queue.count(Q) == 4


def test_queues_are_independent(queue):
    a = queue.send("queue-a", "for a")
    queue.send("queue-b", "for b")
    queue.send("queue-b", "for b too")
    assert queue.count("queue-a") == 1
    assert queue.count("queue-b") == 2
    got = queue.receive("queue-a", max_messages=32, visibility_timeout=300)
    assert [(m.id, m.body, m.queue) for m in got] == [(a, "for a", "queue-a")]
    assert {m.body for m in queue.peek("queue-b", max_messages=32)} == {"for b", "for b too"}
    assert queue.receive("queue-a-poison", max_messages=32, visibility_timeout=300) == []


def test_concurrent_receivers_never_get_the_same_visible_message(queue):
    total, threads = 200, 8
    for i in range(total):
        queue.send(Q, f"m{i}")
    taken: list[list[str]] = [[] for _ in range(threads)]
    errors: list[BaseException] = []
    start = threading.Barrier(threads)

    def worker(index: int) -> None:
        try:
            start.wait()
            while True:
                batch = queue.receive(Q, max_messages=5, visibility_timeout=300)
                if not batch:
                    return
                taken[index].extend(m.id for m in batch)
        except BaseException as error:  # noqa: BLE001 - reported below
            errors.append(error)

    pool = [threading.Thread(target=worker, args=(i,)) for i in range(threads)]
    for t in pool:
        t.start()
    for t in pool:
        t.join(timeout=60)
    assert not errors, errors
    every = [message_id for chunk in taken for message_id in chunk]
    assert len(every) == len(set(every)) == total


def test_concurrent_receive_and_delete_process_each_message_once(queue):
    total, threads = 100, 6
    for i in range(total):
        queue.send(Q, f"m{i}")
    bodies: list[str] = []
    lock = threading.Lock()
    errors: list[BaseException] = []

    def worker() -> None:
        try:
            while True:
                batch = queue.receive(Q, max_messages=3, visibility_timeout=300)
                if not batch:
                    return
                for message in batch:
                    with lock:
                        bodies.append(message.body)
                    queue.delete(message)
        except BaseException as error:  # noqa: BLE001 - reported below
            errors.append(error)

    pool = [threading.Thread(target=worker) for _ in range(threads)]
    for t in pool:
        t.start()
    for t in pool:
        t.join(timeout=60)
    assert not errors, errors
    assert sorted(bodies) == sorted(f"m{i}" for i in range(total))
    assert queue.count(Q) == 0
