"""The app and the Functions host agree on queue messages in Azure Storage (on Azurite).

host.json says ``messageEncoding: base64``: what the app sends must be base64 of the UTF-8 body on the
wire, and what other producers put base64-encoded must reach the app unchanged."""
from __future__ import annotations

import base64
import json
import uuid

import azure.functions as func
import pytest

from shared.adapters.azure_queue import AzureStorageQueue, MessageTooLarge
from shared.config import Settings
from shared.domain.messages import CreateLead, parse_message
from shared.queue_worker import QueueRules, QueueWorker, poison_queue_name

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


def test_what_the_app_sends_is_what_the_functions_host_reads(queue, service, name):
    message_id = queue.send(name, BODY)

    # The host takes the message text as stored, base64-decodes it and hands the function the bytes.
    (raw,) = service.get_queue_client(name).peek_messages(max_messages=1)
    assert raw.id == message_id
    assert raw.content != BODY
    delivered = func.QueueMessage(id=raw.id, body=base64.b64decode(raw.content, validate=True))
    assert delivered.get_body().decode("utf-8") == BODY
    assert delivered.get_json() == json.loads(BODY)
    assert parse_message(delivered.get_body(), CreateLead).prospect_id == "p-1"


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
