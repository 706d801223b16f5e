"""The Queue port on Azure Storage Queues (Azurite locally), readable by the Functions queue trigger.

Bodies are sent base64-encoded (UTF-8), because host.json's ``messageEncoding`` is base64, the trigger's
default: ``QueueClient`` alone would send plain text, which the host cannot decode. They are decoded
here, one message at a time, rather than by ``TextBase64DecodePolicy``: that policy fails a whole batch
on one bad message, after the service has already dequeued all of them. A message that is not base64
UTF-8 (a producer that sent plain text) is moved by ``receive`` to ``<queue>-poison`` at once, its raw
text unchanged, as the Functions host does; ``peek`` and ``get`` show such a message's raw text.

Where Azure differs from the port's other adapters:

- A message is at most 64 KiB once encoded, so a body is at most 48 KiB of UTF-8; more raises
  ``MessageTooLarge`` before anything is sent.
- Visibility timeouts and delays are whole seconds (rounded up), at most 7 days (``ValueError`` beyond);
  a receive hides its messages for at least 1 second, while a release may make one visible at once (0).
- ``receive`` takes up to 32 messages per request (more are taken in several requests); ``peek`` shows at
  most the first 32 visible messages, however many are asked for.
- Azure cannot read a message by id. ``get`` looks among the first 32 visible messages (a peek) and among
  the messages this adapter has received and not yet deleted or released (it knows their pop receipts).
  A message hidden because another process holds it cannot be read. ``remove`` deletes a message this
  adapter holds, or else scans the queue: it receives batches with a short visibility until it finds the
  message (at most ``SCAN_LIMIT`` messages), deletes it and makes the others visible again at once. The
  scan adds one to the dequeue count of every message it passes over: it is for poison queues, whose
  messages nobody else receives. Both are operator actions, O(n) and bounded.
- ``count`` is the service's approximate message count (invisible messages included).
- Messages never expire (``time_to_live=-1``), as in the other adapters: Azure's default would drop any
  message, poison ones included, after 7 days.
- ``delete`` and ``release`` with a pop receipt that is no longer current (or of a message that is gone)
  raise ``MessageNotFound``.

The SDK is imported when an adapter is built, so modules that do not use Azure never load it.
"""
from __future__ import annotations

import base64
import logging
import math
import threading
import time
from contextlib import contextmanager
from dataclasses import replace
from typing import Any, Callable, Iterator

from shared.ports import MessageNotFound, ReceivedMessage

log = logging.getLogger("b2b.queue")

MAX_MESSAGES_PER_REQUEST = 32  # Azure's limit for one receive or peek
MAX_ENCODED_SIZE = 64 * 1024  # Azure's limit for one message, as sent (base64 text)
MAX_BODY_BYTES = MAX_ENCODED_SIZE // 4 * 3  # 48 KiB of UTF-8 encodes to 64 KiB
MAX_VISIBILITY_SECONDS = 7 * 24 * 3600
NEVER_EXPIRES = -1
SCAN_LIMIT = 5000  # messages a remove by id looks at, at most
SCAN_VISIBILITY = 30  # seconds a remove scan hides what it passes over, should it die before making them visible


class MessageTooLarge(ValueError):
    """The body is more than Azure Storage Queues take once base64-encoded (64 KiB)."""


def decode_body(text: str | None) -> str | None:
    """A body as the Functions host reads it; ``None`` if the text is not base64 of UTF-8."""
    try:
        return base64.b64decode(text or "", validate=True).decode("utf-8")
    except ValueError:  # binascii.Error, UnicodeDecodeError and non-ASCII text are all ValueErrors
        return None


def _whole_seconds(seconds: float, minimum: int) -> int:
    whole = max(minimum, math.ceil(seconds))
    if whole > MAX_VISIBILITY_SECONDS:
        raise ValueError(f"{seconds} s is more than Azure Storage Queues allow (7 days)")
    return whole


class AzureStorageQueue:
    """``service`` is an ``azure.storage.queue.QueueServiceClient``, or a function that builds one on first
    use (``shared.adapters.azure_storage.queue_service_client``). Queues are created when first sent to."""

    def __init__(self, service: Any | Callable[[], Any]):
        from azure.core import exceptions
        from azure.storage.queue import TextBase64EncodePolicy

        self._errors = exceptions
        self._encode_policy = TextBase64EncodePolicy
        self._service_or_factory = service
        self._service: Any = None
        self._clients: dict[str, Any] = {}
        self._created: set[str] = set()
        # (queue, id) → the message as received and when its visibility ends (time.monotonic()).
        self._held: dict[tuple[str, str], tuple[ReceivedMessage, float]] = {}
        self._lock = threading.Lock()

    @classmethod
    def from_settings(cls, settings) -> AzureStorageQueue:
        """On the storage account of ``AzureWebJobsStorage``, connected as the Functions host connects."""
        from shared.adapters.azure_storage import queue_service_client

        return cls(lambda: queue_service_client(settings))

    # the port

    def send(self, queue: str, body: str, *, delay_seconds: float = 0) -> str:
        size = 4 * math.ceil(len(body.encode("utf-8")) / 3)
        if size > MAX_ENCODED_SIZE:
            raise MessageTooLarge(
                f"a message for {queue} is {size} bytes once base64-encoded; Azure Storage Queues take "
                f"{MAX_ENCODED_SIZE} (a body of at most {MAX_BODY_BYTES} bytes of UTF-8)"
            )
        delay = _whole_seconds(delay_seconds, minimum=0) or None
        client = self._client(queue)
        self._create(queue)
        try:
            sent = client.send_message(body, visibility_timeout=delay, time_to_live=NEVER_EXPIRES)
        except self._errors.ResourceNotFoundError:  # the queue was deleted since this adapter created it
            self._create(queue, again=True)
            sent = client.send_message(body, visibility_timeout=delay, time_to_live=NEVER_EXPIRES)
        return sent.id

    def receive(self, queue: str, *, max_messages: int, visibility_timeout: float) -> list[ReceivedMessage]:
        if max_messages < 1:
            return []
        seconds = _whole_seconds(visibility_timeout, minimum=1)
        try:
            items = list(self._client(queue).receive_messages(
                messages_per_page=min(max_messages, MAX_MESSAGES_PER_REQUEST),
                max_messages=max_messages,
                visibility_timeout=seconds,
            ))
        except self._errors.ResourceNotFoundError:  # no such queue yet: nothing was ever sent to it
            return []
        hidden_until = time.monotonic() + seconds
        received = []
        for item in items:
            body = decode_body(item.content)
            if body is None:
                self._poison_undecodable(queue, item)
                continue
            received.append(ReceivedMessage(queue=queue, id=item.id, pop_receipt=item.pop_receipt, body=body,
                                            dequeue_count=item.dequeue_count, inserted_at=item.inserted_on))
        with self._lock:
            now = time.monotonic()
            for key in [key for key, (_, until) in self._held.items() if until <= now]:
                del self._held[key]
            for message in received:
                self._held[(queue, message.id)] = (message, hidden_until)
        return received

    def delete(self, message: ReceivedMessage) -> None:
        self._forget(message)
        with self._stale_as_not_found(message):
            self._client(message.queue).delete_message(message.id, message.pop_receipt)

    def release(self, message: ReceivedMessage, *, visibility_timeout: float) -> None:
        seconds = _whole_seconds(visibility_timeout, minimum=0)
        self._forget(message)
        with self._stale_as_not_found(message):
            self._client(message.queue).update_message(message.id, message.pop_receipt, visibility_timeout=seconds)

    def peek(self, queue: str, *, max_messages: int) -> list[ReceivedMessage]:
        """The first visible messages, at most 32 (Azure's limit), without taking them."""
        count = min(max_messages, MAX_MESSAGES_PER_REQUEST)
        if count < 1:
            return []
        try:
            items = self._client(queue).peek_messages(max_messages=count)
        except self._errors.ResourceNotFoundError:
            return []
        return [self._peeked(queue, item) for item in items]

    def get(self, queue: str, message_id: str) -> ReceivedMessage | None:
        found = next((m for m in self.peek(queue, max_messages=MAX_MESSAGES_PER_REQUEST) if m.id == message_id), None)
        if found is not None:
            return found
        with self._lock:
            message, hidden_until = self._held.get((queue, message_id), (None, 0.0))
        if message is None or hidden_until <= time.monotonic():
            return None
        return replace(message, pop_receipt="")

    def remove(self, queue: str, message_id: str) -> bool:
        with self._lock:
            message, _ = self._held.get((queue, message_id), (None, 0.0))
        if message is not None:
            try:
                self.delete(message)
                return True
            except MessageNotFound:
                pass  # received again by someone else since: look for it below
        return self._scan_and_delete(queue, message_id)

    def count(self, queue: str) -> int:
        try:
            return self._client(queue).get_queue_properties().approximate_message_count
        except self._errors.ResourceNotFoundError:
            return 0

    def close(self) -> None:
        if self._service is not None:
            self._service.close()

    # the rest

    def _service_client(self) -> Any:
        with self._lock:
            if self._service is None:
                candidate = self._service_or_factory
                self._service = candidate() if callable(candidate) else candidate
            return self._service

    def _client(self, queue: str, *, encoded: bool = True) -> Any:
        key = queue if encoded else "\0raw\0" + queue
        client = self._clients.get(key)
        if client is None:
            service = self._service_client()
            options = {"message_encode_policy": self._encode_policy()} if encoded else {}
            client = service.get_queue_client(queue, **options)
            with self._lock:
                client = self._clients.setdefault(key, client)
        return client

    def _create(self, queue: str, again: bool = False) -> None:
        if queue in self._created and not again:
            return
        try:
            self._client(queue).create_queue()
        except self._errors.ResourceExistsError:
            pass
        with self._lock:
            self._created.add(queue)

    def _forget(self, message: ReceivedMessage) -> None:
        with self._lock:
            held, _ = self._held.get((message.queue, message.id), (None, 0.0))
            if held is not None and held.pop_receipt == message.pop_receipt:
                del self._held[(message.queue, message.id)]

    @contextmanager
    def _stale_as_not_found(self, message: ReceivedMessage) -> Iterator[None]:
        """The service's answers for a gone message or a stale pop receipt become ``MessageNotFound``."""
        try:
            yield
        except self._errors.HttpResponseError as error:
            # A tuple: the SDK's error codes are str enums, equal to these strings but hashed differently.
            gone = ("MessageNotFound", "QueueNotFound", "PopReceiptMismatch")
            if isinstance(error, self._errors.ResourceNotFoundError) or getattr(error, "error_code", None) in gone:
                raise MessageNotFound(f"message {message.id} on {message.queue} is gone or was received again") \
                    from error
            raise

    def _peeked(self, queue: str, item: Any) -> ReceivedMessage:
        body = decode_body(item.content)
        return ReceivedMessage(queue=queue, id=item.id, pop_receipt="",
                               body=(item.content or "") if body is None else body,
                               dequeue_count=item.dequeue_count or 0, inserted_at=item.inserted_on)

    def _poison_undecodable(self, queue: str, item: Any) -> None:
        """What the Functions host does with a message it cannot decode: straight to the poison queue."""
        from shared.queue_worker import poison_queue_name

        poison = poison_queue_name(queue)
        self._create(poison)
        self._client(poison, encoded=False).send_message(item.content or "", time_to_live=NEVER_EXPIRES)
        try:
            self._client(queue).delete_message(item.id, item.pop_receipt)
        except self._errors.HttpResponseError:
            pass  # gone already; the copy on the poison queue is what counts
        log.error("message is not base64 UTF-8; moved to poison queue",
                  extra={"queue": queue, "message_id": item.id, "poison_queue": poison})

    def _scan_and_delete(self, queue: str, message_id: str) -> bool:
        client = self._client(queue)
        passed: list[Any] = []
        try:
            while len(passed) < SCAN_LIMIT:
                try:
                    batch = list(client.receive_messages(messages_per_page=MAX_MESSAGES_PER_REQUEST,
                                                         max_messages=MAX_MESSAGES_PER_REQUEST,
                                                         visibility_timeout=SCAN_VISIBILITY))
                except self._errors.ResourceNotFoundError:
                    return False
                if not batch:
                    return False
                found = next((item for item in batch if item.id == message_id), None)
                passed.extend(item for item in batch if item is not found)
                if found is not None:
                    client.delete_message(found.id, found.pop_receipt)
                    return True
            return False
        finally:
            for item in passed:
                try:
                    client.update_message(item.id, item.pop_receipt, visibility_timeout=0)
                except self._errors.HttpResponseError:
                    log.warning("a message passed over while looking for another stays hidden for a while",
                                extra={"queue": queue, "message_id": item.id, "seconds": SCAN_VISIBILITY})
