"""What an operator looks at and repairs: prospects and their history, emails, poison messages."""
from __future__ import annotations

from dataclasses import dataclass

from shared.domain.errors import NotFound
from shared.domain.model import (
    CustomerHierarchy,
    EmailRecord,
    HierarchyMember,
    HistoryEntry,
    Prospect,
    ProspectStatus,
)
from shared.ports import Queue, ReceivedMessage, Store
from shared.queue_worker import POISON_SUFFIX, poison_queue_name


@dataclass(frozen=True)
class ProspectDetails:
    prospect: Prospect
    history: list[HistoryEntry]
    hierarchy: CustomerHierarchy | None
    members: list[HierarchyMember]


class OperatorService:
    def __init__(self, store: Store, queue: Queue, queue_names: tuple[str, ...]):
        self._store = store
        self._queue = queue
        self._queue_names = queue_names

    def prospects(self, status: ProspectStatus | None = None, limit: int = 1000,
                  needs_attention: bool = False) -> list[Prospect]:
        with self._store.unit_of_work(read_only=True) as uow:
            found = uow.list_prospects(status, limit)
        return [p for p in found if p.needs_attention] if needs_attention else found

    def prospect(self, key: str) -> ProspectDetails:
        """A prospect by number (PRO-000001) or id, with its full history."""
        with self._store.unit_of_work(read_only=True) as uow:
            prospect = uow.find_prospect_by_number(key.upper()) or uow.get_prospect(key)
            if prospect is None:
                raise NotFound(f"no prospect {key}")
            hierarchy = uow.find_hierarchy_by_prospect(prospect.id)
            return ProspectDetails(
                prospect=prospect,
                history=uow.history(prospect.id),
                hierarchy=hierarchy,
                members=uow.members(hierarchy.id) if hierarchy else [],
            )

    def emails(self, limit: int = 1000, pending_only: bool = False) -> list[EmailRecord]:
        with self._store.unit_of_work(read_only=True) as uow:
            return uow.list_emails(limit, pending_only)

    # poison messages
    def poison_counts(self) -> dict[str, int]:
        return {poison_queue_name(name): self._queue.count(poison_queue_name(name)) for name in self._queue_names}

    def poison_messages(self, queue: str, limit: int = 100) -> list[ReceivedMessage]:
        return self._queue.peek(self._poison(queue), max_messages=limit)

    def poison_message(self, queue: str, message_id: str) -> ReceivedMessage:
        message = self._queue.get(self._poison(queue), message_id)
        if message is None:
            raise NotFound(f"no message {message_id} on {self._poison(queue)}")
        return message

    def replay(self, queue: str, message_id: str) -> str:
        """Send a poison message back to its queue, body unchanged; returns the new message id.

        Sent before it is removed: a crash in between leaves a copy on both queues, never on none."""
        message = self.poison_message(queue, message_id)
        original = message.queue.removesuffix(POISON_SUFFIX)
        new_id = self._queue.send(original, message.body)
        self._queue.remove(message.queue, message.id)
        return new_id

    def _poison(self, queue: str) -> str:
        base = queue.removesuffix(POISON_SUFFIX)
        if base not in self._queue_names:
            raise NotFound(f"no queue {queue}; the queues are {', '.join(self._queue_names)}")
        return poison_queue_name(base)
