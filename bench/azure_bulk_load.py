"""Loading many prospects into an Azure Tables store fast, writing exactly the rows the app's own writes leave.

The app writes a prospect in units of work: the signup at intake, then the prospect, its number, its history,
its create-lead message and its directory rows at the channel sync (a transaction per prospect, plus the
directory's own). Through the service, 2,000 prospects took 707 s on Azurite: 100,000 would take hours. Here
each prospect's records go through the adapter's own unit of work (``TableUnitOfWork``: the same row keys,
columns and pointers), but on an empty store that records instead of committing (``_Recorder``); the rows are
then written in entity-group transactions of one partition each (up to 100 operations, the service's limit),
from several threads. The directory's rows are ``fresh_directory``'s: what applying each prospect once writes.

What a commit leaves behind is what is loaded: a pointer the app drops after its commit (the signup's
"pending" mark once synced, a sent message's pending-outbox pointer, the directory's pending marks) is not
written at all. tests/integration/test_azure_bulk_load.py loads prospects taken in through the service and
the loaded copy, and compares the two tables row by row and the console's answers on both.
"""
from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Iterable, Iterator

from shared.adapters.azure_email_order import built_marker
from shared.adapters.azure_partner_summary import built_marker as partners_built_marker
from shared.adapters.azure_prospect_directory import DIRECTORY, PENDING, UPGRADED_MARKER, fresh_directory
from shared.adapters.azure_table_store import MAX_TRANSACTION, TableUnitOfWork, _key
from shared.domain.model import EmailRecord, HistoryEntry, OutboxMessage, Prospect, SignupRecord
from shared.domain.prospect_directory import ProspectSummary
from shared.services.sync import PROSPECT_SEQUENCE

_ATTEMPTS = 5  # of one transaction whose connection broke
_SHARED = ("index-", DIRECTORY, "sequence-")  # partitions of many prospects' rows (a prospect's own is its id)


@dataclass(frozen=True)
class ProspectRecords:
    """Everything the store holds of one prospect taken in and synced: its signup (as it stands now), the
    prospect, its history in the order written, its outbox messages (with ``sent_at`` once sent) and emails."""

    signup: SignupRecord
    prospect: Prospect
    history: list[HistoryEntry] = field(default_factory=list)
    outbox: list[OutboxMessage] = field(default_factory=list)
    emails: list[EmailRecord] = field(default_factory=list)


class _Recorder(TableUnitOfWork):
    """The adapter's unit of work over an empty table: reads find nothing but what it wrote itself, and its
    commit hands over the rows it would write (drops of its own pointers applied) instead of writing."""

    def __init__(self):
        super().__init__(table=None, read_only=False)

    def _get(self, partition: str, row: str) -> dict | None:
        written = self._writes.get(partition, {}).get(row)
        if written is None or written[0] == "delete":
            self._absent.add((partition, row))
            return None
        return written[1]

    def _query(self, filter_text: str, parameters: dict) -> list[dict]:
        return []

    def _claim(self, kind, key, target, held, refuse, **properties) -> None:
        # The store is empty: every claim is the first, and stands as a pointer.
        self._pointer(kind, key, target, **properties)

    def rows(self) -> Iterator[dict]:
        dropped = set(self._dropped_pointers)
        for writes in (self._first_writes, self._writes):
            for partition_writes in writes.values():
                yield from (entity for operation, entity in partition_writes.values() if operation != "delete")
        for where, pointer in self._new_pointers.items():
            if where not in dropped and where[0] != PENDING:  # the directory is written whole, below
                yield pointer


def prospect_rows(records: ProspectRecords) -> Iterator[dict]:
    """The rows the app's writes leave for this prospect, but its directory rows and its number's."""
    uow = _Recorder()
    uow.add_signup(records.signup)
    uow.save_signup(records.signup)  # synced: its pending-signup pointer goes, as the sync's save drops it
    uow.add_prospect(records.prospect)
    for entry in records.history:
        uow.append_history(entry)
    for message in records.outbox:
        # Written unsent, then marked as the relay marks it once sent: the mark is what drops its pointer.
        uow.add_outbox_message(message.model_copy(update={"sent_at": None}))
        if message.sent_at is not None:
            uow.mark_outbox_sent(message, message.sent_at)
    for email in records.emails:
        uow.add_email(email)
    return uow.rows()


def _sequence_rows(records: list[ProspectRecords]) -> Iterator[dict]:
    """What ``number_for`` claims: each prospect's number (its owner row) and the counter at the highest."""
    partition = f"sequence-{_key(PROSPECT_SEQUENCE)}"
    numbers = {r.prospect.id: int(r.prospect.number.removeprefix("PRO-")) for r in records}
    for owner, value in numbers.items():
        yield {"PartitionKey": partition, "RowKey": f"owner-{_key(owner)}", "value": value}
    if numbers:
        yield {"PartitionKey": partition, "RowKey": "counter", "value": max(numbers.values())}


def _batches(entities: Iterable[dict], size: int) -> Iterator[list[dict]]:
    """Rows grouped by partition into batches of ``size``; a partition's batch leaves as soon as it is full,
    so that memory holds only the partly filled ones (the shared partitions: pointers, the directory)."""
    filling: dict[str, list[dict]] = {}
    for entity in entities:
        batch = filling.setdefault(entity["PartitionKey"], [])
        batch.append(entity)
        if len(batch) == size:
            yield filling.pop(entity["PartitionKey"])
    yield from filling.values()


def bulk_load(table, records: list[ProspectRecords], *, batch: int = MAX_TRANSACTION, threads: int = 4) -> int:
    """Write these prospects (none of them in the store yet) into ``table`` (a TableClient); returns the
    number of rows written. Each transaction upserts one partition's rows: a load that failed half way can
    be run again."""
    from azure.core.exceptions import ServiceRequestError, ServiceResponseError
    from azure.data.tables import UpdateMode

    if not 1 <= batch <= MAX_TRANSACTION:
        raise ValueError(f"a transaction takes 1 to {MAX_TRANSACTION} operations")

    def shared_rows() -> Iterator[dict]:
        """The rows of the partitions many prospects share (pointers, the directory, the sequence)."""
        for one in records:
            yield from (row for row in prospect_rows(one) if row["PartitionKey"].startswith(_SHARED))
        yield from fresh_directory(ProspectSummary.of(one.prospect) for one in records)
        # The sync's settle marks a store whose prospects all have their directory rows: this one does.
        yield {"PartitionKey": DIRECTORY, "RowKey": UPGRADED_MARKER, "kind": "directory-marker"}
        yield built_marker()  # and one whose emails all have their order rows
        yield partners_built_marker()  # and partners their summaries (the load adds no partner)
        yield from _sequence_rows(records)

    def everything() -> Iterator[list[dict]]:
        # A prospect's own partition is whole once its rows are made: it leaves at once (memory holds no
        # prospect's rows for long), and the shared partitions leave in full batches.
        for one in records:
            yield from _batches((row for row in prospect_rows(one) if not row["PartitionKey"].startswith(_SHARED)),
                                batch)
        yield from _batches(shared_rows(), batch)

    written = 0
    lock = threading.Lock()
    in_flight = threading.BoundedSemaphore(threads * 4)  # the generator stays a little ahead of the writers

    def submit(rows: list[dict]) -> None:
        nonlocal written
        try:
            for attempt in range(_ATTEMPTS):
                try:
                    table.submit_transaction([("upsert", row, {"mode": UpdateMode.REPLACE}) for row in rows])
                    break
                except (ServiceRequestError, ServiceResponseError):
                    # Azurite resets connections when it falls behind: upserts can simply be sent again.
                    if attempt == _ATTEMPTS - 1:
                        raise
                    time.sleep(0.5 * (attempt + 1))
            with lock:
                written += len(rows)
        finally:
            in_flight.release()

    with ThreadPoolExecutor(threads) as pool:
        futures = []
        for rows in everything():
            in_flight.acquire()
            futures.append(pool.submit(submit, rows))
        for future in futures:
            future.result()  # a failed transaction fails the load
    return written


__all__ = ["ProspectRecords", "bulk_load", "prospect_rows"]
