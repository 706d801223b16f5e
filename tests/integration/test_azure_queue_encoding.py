"""The app and the Functions host agree on queue messages in Azure Storage (on Azurite).

host.json says ``messageEncoding: base64``: what the app sends must be base64 of the UTF-8 body on the
wire, and what other producers put base64-encoded must reach the app unchanged. The Functions host itself
does not run here: the wire is checked by decoding it the way that setting tells the host to (a model of
the host, independent of the app's adapter), and the delivery by the project's local host (devhost), whose
queue trigger reads through the same adapter the app sends with."""
from __future__ import annotations

import base64
import json
import threading
import uuid
from pathlib import Path

import azure.functions as func
import pytest

from devhost.functions import FunctionSpec
from devhost.invoke import Invoker, plan_call
from devhost.queues import QueuePoller
from devhost.settings import load_host_config, queue_options
from shared.adapters.azure_queue import AzureStorageQueue, MessageTooLarge
from shared.config import Settings
from shared.domain.messages import CreateLead, parse_message
from shared.queue_worker import QueueRules, QueueWorker, poison_queue_name

ROOT = Path(__file__).resolve().parents[2]
BODY = json.dumps({"schema": "create-lead", "version": 1, "prospect_id": "p-1",
                   "note": "Åsa Öberg – 商店 😀 \"quoted\"\n"}, ensure_ascii=False)


@pytest.fixture
def name() -> str:
    return f"it-{uuid.uuid4().hex[:16]}"


@pytest.fixture
def service(azurite):
    client = azurite.queue_service()
    yield client
    client.close()


@pytest.fixture
def queue(azurite):
    # Built from settings as the app is, with AzureWebJobsStorage as the Functions host reads it.
    settings = Settings.from_env({"STATE_BACKEND": "azure", "AzureWebJobsStorage": azurite.connection_string})
    adapter = AzureStorageQueue.from_settings(settings)
    yield adapter
    adapter.close()


def delivered_by_the_local_host(queue: AzureStorageQueue, name: str) -> func.QueueMessage:
    """The one message on ``name`` as devhost's queue trigger hands it to a function, with the project's
    host.json queue options (the poller, its QueueWorker and the Azure adapter, as `make run-azurite` runs)."""
    received: list[func.QueueMessage] = []
    arrived = threading.Event()

    def read_it(msg: func.QueueMessage) -> None:
        received.append(msg)
        arrived.set()

    trigger = {"type": "queueTrigger", "direction": "in", "name": "msg", "queueName": name,
               "connection": "AzureWebJobsStorage"}
    plan = plan_call(FunctionSpec("read_it", read_it, trigger, (trigger,), str(ROOT)), environ={})
    invoker = Invoker(queue.send)
    poller = QueuePoller(plan, name, queue, queue_options(load_host_config(ROOT, environ={})), invoker)
    poller.start()
    try:
        assert arrived.wait(30), "the local host's queue trigger did not run"
    finally:
        poller.stop(timeout=30)
        invoker.stop()
    (message,) = received
    return message


def test_what_the_app_sends_is_base64_on_the_wire_and_reaches_a_function_unchanged(queue, service, name):
    message_id = queue.send(name, BODY)

    # On the wire: base64 of the UTF-8 bytes, which is what messageEncoding=base64 makes the host decode.
    assert load_host_config(ROOT, environ={})["extensions"]["queues"]["messageEncoding"] == "base64"
    (raw,) = service.get_queue_client(name).peek_messages(max_messages=1)
    assert raw.id == message_id
    assert raw.content != BODY
    assert base64.b64decode(raw.content, validate=True).decode("utf-8") == BODY

    # Delivered: the local host's queue trigger hands the function the same bytes, then settles the message.
    delivered = delivered_by_the_local_host(queue, name)
    assert delivered.id == message_id and delivered.dequeue_count == 1
    assert delivered.get_body().decode("utf-8") == BODY
    assert delivered.get_json() == json.loads(BODY)
    assert parse_message(delivered.get_body(), CreateLead).prospect_id == "p-1"
    assert queue.count(name) == 0 and queue.count(poison_queue_name(name)) == 0


def test_what_another_producer_puts_base64_encoded_reaches_the_app_intact(queue, service, name):
    service.create_queue(name)
    producer = service.get_queue_client(name)
    producer.send_message(base64.b64encode(BODY.encode("utf-8")).decode("ascii"))

    assert [m.body for m in queue.peek(name, max_messages=32)] == [BODY]
    (message,) = queue.receive(name, max_messages=32, visibility_timeout=30)
    assert message.body == BODY
    assert message.dequeue_count == 1
    queue.delete(message)
    assert queue.count(name) == 0


def test_a_plain_text_message_goes_to_the_poison_queue_at_once_as_the_host_does(queue, service, name):
    service.create_queue(name)
    service.get_queue_client(name).send_message("plain text, not base64 {}")
    queue.send(name, BODY)

    assert [m.body for m in queue.receive(name, max_messages=32, visibility_timeout=30)] == [BODY]
    assert queue.count(name) == 1
    (poisoned,) = service.get_queue_client(poison_queue_name(name)).peek_messages(max_messages=32)
    assert poisoned.content == "plain text, not base64 {}"  # raw, as it came
    assert [m.body for m in queue.peek(poison_queue_name(name), max_messages=32)] == ["plain text, not base64 {}"]


def test_a_body_too_large_for_azure_is_refused_before_sending(queue, name):
    with pytest.raises(MessageTooLarge):
        queue.send(name, "x" * (48 * 1024 + 1))
    assert queue.count(name) == 0


def test_a_message_that_always_fails_ends_on_the_poison_queue_unchanged(queue, service, name):
    queue.send(name, BODY)
    seen: list[int] = []

    def handler(message):
        seen.append(message.dequeue_count)
        raise RuntimeError("always fails")

    rules = QueueRules(max_dequeue_count=5, visibility_timeout=0)
    worker = QueueWorker(queue, name, handler, rules)
    for _ in range(10):
        if not worker.run_once():
            break

    assert seen == [1, 2, 3, 4, 5]
    assert queue.count(name) == 0
    poison = poison_queue_name(name)
    assert queue.count(poison) == 1
    (moved,) = queue.peek(poison, max_messages=32)
    assert moved.body == BODY
    # and as the host (or an operator's tool) would read it there: base64 of the same bytes
    (raw,) = service.get_queue_client(poison).peek_messages(max_messages=1)
    assert base64.b64decode(raw.content, validate=True).decode("utf-8") == BODY
