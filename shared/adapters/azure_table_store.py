"""The Store port on Azure Table Storage.

One table. Everything one prospect's state change writes lives in the prospect's partition (its
signup, the prospect, history, customers, hierarchy, members, applied events, outbox messages and
emails), so a unit of work commits it as one entity-group transaction: the approval is atomic.
Updates carry the ETag read in the same unit of work (optimistic concurrency: no lost update).

Lookups by another key go through pointer entities in index partitions. Pointers are written before
the transaction they point into and are only hints: a reader follows them and finds nothing if that
transaction never committed, and cleans such leftovers up.

A partner's records (its users, credit line and order reservations) live in its hierarchy's partition
(``CustomerHierarchy.aggregate_id``), with the members, the emails and the outbox messages of the same
change. Every change to a user also rewrites the partition's roster row, whose ETag ``partner_users``
records: a rule over all of a partner's users cannot pass twice on stale reads. A user who moves to
another partner is written in three steps, none of which loses it: its old row is marked as moving
(with the old data), the new partition's transaction commits, and then the old row is deleted. A reader
that meets a marked row looks for the user at the destination and keeps the old row while there is none.
The account a user signs in with (``PartnerUser.sign_in``) has a pointer claimed before the user row
commits: one user per account; the user row, not the pointer, says whether the account is bound.
"""
from __future__ import annotations

import itertools
import logging
import time
import uuid
from contextlib import contextmanager
from datetime import datetime, timedelta, timezone
from typing import Any, Callable, Iterator, TypeVar

from pydantic import BaseModel

from shared.domain.approvals import ApprovalRequest, ApprovalStatus
from shared.domain.audit import AuditEntry
from shared.domain.erasure import erased_history
from shared.domain.duplicates import index_keys
from shared.domain.errors import ConcurrencyConflict, DomainError, DuplicateRecord
from shared.domain.ids import derived_id, prospect_id_for
from shared.domain.model import (
    Customer,
    CustomerHierarchy,
    EmailRecord,
    EmailStatus,
    HierarchyMember,
    HistoryEntry,
    OutboxMessage,
    Prospect,
    ProspectStatus,
    SignupRecord,
    SignupStatus,
    hierarchy_aggregate_id,
)
from shared.domain.ledger import LedgerEntry
from shared.domain.partners import CreditLine, PartnerUser, Reservation, ReservationStatus
from shared.domain.partner_summary import PartnerSummary
from shared.domain.prospect_directory import Position, ProspectFilter, ProspectSummary
from shared.adapters.azure_email_order import (
    EMAIL_ORDER,
    email_order,
    email_order_columns,
    email_order_key,
    index_older_emails,
)
from shared.adapters.azure_partner_summary import PENDING_KIND as PARTNER_SUMMARY_PENDING
from shared.adapters.azure_partner_summary import PartnerSummaryTable
from shared.adapters.azure_prospect_directory import PENDING, ProspectDirectoryTable
from shared.ports import EmailQuery

T = TypeVar("T", bound=BaseModel)
log = logging.getLogger("b2b.store")

# Entity-group transactions take at most 100 operations.
MAX_TRANSACTION = 100
# A claim whose record has not appeared may belong to a writer still committing: it is taken over only
# once it is older than this (its writer crashed), never while two writers race.
CLAIM_GRACE = timedelta(seconds=30)
_INDEX = "index-"
_WATERMARK = "watermark"
_ROSTER = "user"  # a partner's roster row; its users are "user-<id>", so one prefix query reads them all
_CREDIT = "credit"
_AUDIT = "audit"  # the operator audit's partition: newest first by row key (see _audit_row)
_LEDGER = "ledger-"  # a partner's credit ledger rows: "ledger-" + the entry's number counted down (newest first)
_LEDGER_END = 10**15
_PARALLEL_READS = 8  # point reads in flight at once for a page (the SDK's connection pool keeps 10)
_LATEST = 10**17  # microseconds after the epoch beyond any time stored: ``_LATEST - t`` sorts newest first


def _younger_than(entity, age: timedelta) -> bool:
    written = entity.metadata.get("timestamp")
    return written is None or datetime.now(timezone.utc) - written < age


def _stamp(at: datetime) -> str:
    """A sortable fixed-width UTC time for row keys."""
    return at.strftime("%Y%m%dT%H%M%S%f")


def _key(value: str) -> str:
    # Row and partition keys may not hold / \\ # ? or control characters.
    return "".join(ch if ch.isprintable() and ch not in "/\\#?" else f"~{ord(ch):x}" for ch in value)


def _member_row(hierarchy_id: str, customer_id: str) -> str:
    return f"member-{_key(hierarchy_id)}-{_key(customer_id)}"


def _user_row(user_id: str) -> str:
    return f"user-{_key(user_id)}"


def _sign_in_key(issuer: str, subject: str) -> str:
    return derived_id("sign-in", issuer, subject)


def _signup_key_row(key: str, signup: SignupRecord) -> str:
    # Oldest first within a key (the received time leads), the signup id keeps two of one instant apart.
    return f"{key}|{_stamp(signup.received_at)}-{signup.id}"


def _reservation_row(order_id: str) -> str:
    # The row key is what it was when order ids were one pool (an "index-order" pointer named the partner's
    # partition): stored reservations are read as they are, and those pointers are no longer used.
    return f"reservation-{_key(order_id)}"


def _spend_prefix(user_id: str) -> str:
    return f"spend-{_key(user_id)}-"


def _spend_row(user_id: str, created_at: datetime, order_id: str) -> str:
    return f"{_spend_prefix(user_id)}{_stamp(created_at.astimezone(timezone.utc))}-{_key(order_id)}"


def _approval_row(order_id: str) -> str:
    return f"approval-{_key(order_id)}"


def _approval_due_key(approval: ApprovalRequest) -> str:
    return f"{_stamp(approval.expires_at.astimezone(timezone.utc))}-{approval.hierarchy_id}-{approval.order_id}"


def _ledger_row(seq: int) -> str:
    # Newest first: a page is one range read from the start of the partner's ledger rows (or a cursor on).
    return f"{_LEDGER}{_LEDGER_END - seq:015d}"


def _payment_row(payment_id: str) -> str:
    return f"payment-{_key(payment_id)}"


def _sync_key(user: PartnerUser) -> str:
    return f"{_stamp(user.updated_at)}-{user.id}"


def _user(row: dict) -> PartnerUser:
    return PartnerUser.model_validate_json(row["data"])


class TableUnitOfWork:
    def __init__(self, table, read_only: bool, claim_grace: timedelta = CLAIM_GRACE):
        self._table = table
        self._read_only = read_only
        self._claim_grace = claim_grace
        self._etags: dict[tuple[str, str], str] = {}
        self._writes: dict[str, dict[str, tuple]] = {}  # partition: row: (operation, entity)
        self._first_writes: dict[str, dict[str, tuple]] = {}  # committed before the pointers and _writes (a move)
        self._new_pointers: dict[tuple[str, str], dict] = {}
        self._followed: dict[tuple[str, str], dict | None] = {}  # pointers read in this unit of work
        self._dropped_pointers: list[tuple[str, str]] = []
        self._deleted_after: list[tuple[str, str]] = []  # rows deleted after commit if still as written
        self._written_etags: dict[tuple[str, str], str] = {}
        self._history_seq = 0
        self._absent: set[tuple[str, str]] = set()  # rows read and found missing (created, not upserted)
        self._queried: dict[str, set[str]] = {}  # partition: row key prefixes read whole by a query
        self._conflict_if_exists: set[tuple[str, str]] = set()  # such creates that lose a race as a conflict
        self._rosters: set[str] = set()  # partitions whose roster this unit of work rewrites
        self._users: dict[str, tuple[str, dict] | None] = {}  # user id: (partition, row) where it is now
        self._listed: dict[str, str] = {}  # prospect id: the pending mark of its directory update
        self._email_status_read: dict[str, EmailStatus] = {}  # email id: its status as this unit of work read it
        self._partners_changed: dict[str, str] = {}  # hierarchy id: the pending mark of its summary's update

    # --- plumbing -----------------------------------------------------------------------------
    def _get(self, partition: str, row: str) -> dict | None:
        from azure.core.exceptions import ResourceNotFoundError

        try:
            entity = self._table.get_entity(partition, row)
        except ResourceNotFoundError:
            self._absent.add((partition, row))
            return None
        self._absent.discard((partition, row))
        self._etags[(partition, row)] = entity.metadata["etag"]
        return entity

    def _load(self, model: type[T], partition: str, row: str) -> T | None:
        entity = self._get(partition, row)
        return None if entity is None else model.model_validate_json(entity["data"])

    def _load_many(self, model: type[T], rows: list[tuple[str, str]]) -> list[T | None]:
        """``_load`` of each, side by side (rows of different partitions cannot share a request), in order."""
        if len(rows) < 2:
            return [self._load(model, *row) for row in rows]
        from concurrent.futures import ThreadPoolExecutor

        with ThreadPoolExecutor(min(_PARALLEL_READS, len(rows))) as pool:
            return list(pool.map(lambda row: self._load(model, *row), rows))

    def _query(self, filter_text: str, parameters: dict[str, Any]) -> list[dict]:
        return list(self._table.query_entities(filter_text, parameters=parameters))

    def _partition_rows(self, partition: str, prefix: str) -> list[dict]:
        """Every row under ``prefix``; the query is a read like ``_get``: it answers ``_exists`` for the
        rows it found (their ETags guard later writes) and for those it did not."""
        rows = self._query(
            "PartitionKey eq @pk and RowKey ge @low and RowKey lt @high",
            {"pk": partition, "low": prefix, "high": prefix + "\uffff"},
        )
        found = {row["RowKey"] for row in rows}
        self._absent.update(where for where in self._etags
                            if where[0] == partition and where[1].startswith(prefix) and where[1] not in found)
        for row in rows:
            self._absent.discard((partition, row["RowKey"]))
            self._etags[(partition, row["RowKey"])] = row.metadata["etag"]
        self._queried.setdefault(partition, set()).add(prefix)
        return rows

    def _exists(self, partition: str, row: str) -> bool | None:
        """The row as this unit of work last read it: there (True), missing (False) or not read (None)."""
        if (partition, row) in self._absent:
            return False
        if (partition, row) in self._etags:
            return True
        if any(row.startswith(prefix) for prefix in self._queried.get(partition, ())):
            return False
        return None

    def _write(self, operation: str, partition: str, row: str, model: BaseModel | None = None,
               *, first: bool = False, **properties: Any) -> None:
        """Buffered until commit: in the partition's transaction, or (``first``) in one committed before
        the pointers and all other transactions.

        A transaction may hold a row once (else the service refuses it whole: InvalidDuplicateRow), so a
        row written again keeps one write: the last one, still a create if the row was to be created (it
        stays guarded against someone else's row); deleting a row only this unit of work creates leaves
        nothing to write."""
        if self._read_only:
            raise DomainError("a read-only unit of work cannot write")
        entity = {"PartitionKey": partition, "RowKey": row, **properties}
        if model is not None:
            entity["data"] = model.model_dump_json()
        writes = (self._first_writes if first else self._writes).setdefault(partition, {})
        earlier = writes.get(row)
        if earlier is not None and earlier[0] == "create":
            if operation == "delete":
                del writes[row]
                return
            operation = "create"
        writes[row] = (operation, entity)

    def _create(self, partition: str, row: str, model: BaseModel, **properties: Any) -> None:
        self._write("create", partition, row, model, **properties)

    def _replace(self, partition: str, row: str, model: BaseModel, **properties: Any) -> None:
        """An update guarded by the ETag this unit of work read; an upsert of what it did not read."""
        self._write("replace", partition, row, model, **properties)

    def _put(self, partition: str, row: str, model: BaseModel | None, **properties: Any) -> None:
        """Created when this unit of work read it as absent (two first writers cannot both win), else
        replaced as ``_replace`` does."""
        self._write("create" if self._exists(partition, row) is False else "replace", partition, row, model,
                    **properties)

    def _pointer(self, kind: str, key: str, target: str, **properties: Any) -> None:
        """Written at commit, before the transaction it points into (a pointer to nothing is harmless)."""
        if self._read_only:
            raise DomainError("a read-only unit of work cannot write")
        entity = {"PartitionKey": _INDEX + kind, "RowKey": _key(key), "target": target, **properties}
        self._new_pointers[(entity["PartitionKey"], entity["RowKey"])] = entity

    def _pointed(self, kind: str, key: str) -> dict | None:
        """The pointer: this unit of work's own (a member follows its new hierarchy), else as read once."""
        where = (_INDEX + kind, _key(key))
        if where in self._new_pointers:
            return self._new_pointers[where]
        if where not in self._followed:
            self._followed[where] = self._get(*where)
        return self._followed[where]

    def _follow(self, kind: str, key: str) -> str | None:
        pointer = self._pointed(kind, key)
        return None if pointer is None else pointer["target"]

    def _claim(self, kind: str, key: str, target: str, held: Callable[[str], bool],
               refuse: Callable[[str], Exception], **properties: Any) -> None:
        """Point ``key`` at ``target`` now, at once: the pointer is the lock. The first claim inserts it; a
        later one finds it, and is refused if its target ``held`` the key (a record there committed) or the
        claim is younger than CLAIM_GRACE (its writer may be committing right now); an older pointer to
        nothing (its writer never committed) is taken over, unless someone else just did."""
        from azure.core import MatchConditions
        from azure.core.exceptions import HttpResponseError, ResourceExistsError
        from azure.data.tables import UpdateMode

        if self._read_only:
            raise DomainError("a read-only unit of work cannot write")
        where = (_INDEX + kind, _key(key))
        entity = {"PartitionKey": where[0], "RowKey": where[1], "target": target, **properties}
        existing = self._followed.get(where)
        if existing is None:
            try:
                self._table.create_entity(entity)
                self._followed[where] = entity
                return
            except ResourceExistsError:
                existing = self._followed[where] = self._get(*where)
        if existing is None:  # gone again in between: someone is at it
            raise refuse(target)
        if existing["target"] == target:
            return
        if held(existing["target"]) or _younger_than(existing, self._claim_grace):
            raise refuse(existing["target"])
        try:
            self._table.update_entity(entity, mode=UpdateMode.REPLACE, etag=existing.metadata["etag"],
                                      match_condition=MatchConditions.IfNotModified)
        except HttpResponseError:
            raise refuse(target) from None
        self._followed[where] = entity

    def _drop_after_commit(self, kind: str, key: str) -> None:
        self._dropped_pointers.append((_INDEX + kind, _key(key)))

    def _drop_pointer(self, pointer: dict) -> None:
        """Now; gone already is as good (another reader cleaned it up)."""
        from azure.core.exceptions import ResourceNotFoundError

        try:
            self._table.delete_entity(pointer["PartitionKey"], pointer["RowKey"])
        except ResourceNotFoundError:
            pass

    def _submit_by_partition(self, operations: list[tuple]) -> None:
        """Pointer writes, grouped into as few transactions as their partitions allow."""
        by_partition: dict[str, list[tuple]] = {}
        for operation in operations:
            by_partition.setdefault(operation[1]["PartitionKey"], []).append(operation)
        for batch in by_partition.values():
            for start in range(0, len(batch), MAX_TRANSACTION):
                self._execute(batch[start:start + MAX_TRANSACTION])

    def _execute(self, operations: list[tuple]) -> list[dict]:
        """Operations on one partition, atomically: one request, and a plain one where there is one
        operation (the SDK's transaction envelope costs more than the request itself). Returns each
        operation's response metadata (its new ETag)."""
        from azure.core.exceptions import HttpResponseError

        try:
            if len(operations) > 1:
                return list(self._table.submit_transaction(operations))
            operation, entity, *options = operations[0]
            if operation == "delete":
                self._table.delete_entity(entity["PartitionKey"], entity["RowKey"], **(options[0] if options else {}))
                return [{}]
            if operation == "create":
                return [self._table.create_entity(entity)]
            if operation == "update":
                return [self._table.update_entity(entity, **options[0])]
            return [self._table.upsert_entity(entity, **options[0])]
        except HttpResponseError as error:  # TableTransactionError and the SDK's per-status errors too
            where = operations[0][1]["PartitionKey"]
            if error.status_code == 409:
                raise DuplicateRecord(f"{where}: {getattr(error, 'error_code', '')}") from None
            if error.status_code == 412:
                raise ConcurrencyConflict(f"{where} changed since it was read") from None
            raise

    def _drop_pointers(self) -> None:
        from azure.core.exceptions import HttpResponseError

        deletes = [("delete", {"PartitionKey": pk, "RowKey": rk}) for pk, rk in dict.fromkeys(self._dropped_pointers)]
        try:
            self._submit_by_partition(deletes)
        except HttpResponseError:
            # Someone cleaned one up first (a transaction fails whole): drop them one by one.
            for _, entity in deletes:
                self._drop_pointer(entity)

    def _operations(self, partition: str, writes: dict[str, tuple]) -> list[tuple]:
        """Updates and deletes of rows this unit of work read are guarded by the ETag it read."""
        from azure.core import MatchConditions
        from azure.data.tables import UpdateMode

        operations = []
        for operation, entity in writes.values():
            etag = self._etags.get((partition, entity["RowKey"]))
            guard = {"etag": etag, "match_condition": MatchConditions.IfNotModified} if etag else {}
            if operation == "create":
                operations.append(("create", entity))
            elif operation == "delete":
                operations.append(("delete", entity, guard))
            elif etag:
                operations.append(("update", entity, {"mode": UpdateMode.REPLACE, **guard}))
            else:
                operations.append(("upsert", entity, {"mode": UpdateMode.REPLACE}))
        return operations

    def _commit_writes(self, writes: dict[str, dict[str, tuple]]) -> None:
        from azure.core.exceptions import HttpResponseError

        for partition, partition_writes in writes.items():
            operations = self._operations(partition, partition_writes)
            for start in range(0, len(operations), MAX_TRANSACTION):
                batch = operations[start:start + MAX_TRANSACTION]
                try:
                    results = self._execute(batch)
                except DuplicateRecord:
                    if any(op == "create" and (partition, entity["RowKey"]) in self._conflict_if_exists
                           for op, entity, *_ in batch) or self._changed_since_read(partition, batch):
                        raise ConcurrencyConflict(f"{partition} changed since it was read") from None
                    raise
                except HttpResponseError as error:
                    if error.status_code == 404:  # a row this unit of work read was deleted since
                        raise ConcurrencyConflict(f"{partition} changed since it was read") from None
                    raise
                for (_, entity, *_), result in zip(batch, results):
                    if result and result.get("etag"):
                        self._written_etags[(partition, entity["RowKey"])] = result["etag"]

    def _changed_since_read(self, partition: str, batch: list[tuple]) -> bool:
        """Whether a row that the failed transaction updates or deletes under the ETag this unit of work
        read has changed since. A transaction fails on its first failing operation, so of two writers
        racing for one aggregate the loser may hear "EntityAlreadyExists" (a row the winner created, such
        as its email) rather than the ETag mismatch that is the real cause: it lost a race (run the unit
        of work again), not a duplicate of the caller's making."""
        from azure.core.exceptions import ResourceNotFoundError

        for _, entity, *_ in batch:
            read = self._etags.get((partition, entity["RowKey"]))
            if read is None:
                continue
            try:
                if self._table.get_entity(partition, entity["RowKey"]).metadata["etag"] != read:
                    return True
            except ResourceNotFoundError:
                return True
        return False

    def _delete_rows_after_commit(self) -> None:
        """Each only if it is still as this unit of work wrote it (someone may have written it since)."""
        from azure.core import MatchConditions
        from azure.core.exceptions import HttpResponseError

        for partition, row in self._deleted_after:
            etag = self._written_etags.get((partition, row))
            if etag is None:
                continue
            try:
                self._table.delete_entity(partition, row, etag=etag, match_condition=MatchConditions.IfNotModified)
            except HttpResponseError:
                pass  # changed since: no longer this unit of work's to delete (a reader skips it if stale)

    def commit(self) -> None:
        from azure.data.tables import UpdateMode

        self._commit_writes(self._first_writes)
        if self._new_pointers:
            self._submit_by_partition([("upsert", entity, {"mode": UpdateMode.REPLACE})
                                       for entity in self._new_pointers.values()])
        self._commit_writes(self._writes)
        self._update_directory()
        self._update_partner_summaries()
        if self._deleted_after:
            self._delete_rows_after_commit()
        if self._dropped_pointers:
            self._drop_pointers()

    def _update_directory(self) -> None:
        """The back office's list follows the prospects this unit of work committed; an update that does not
        finish keeps its pending mark (settle_prospect_directory finishes it) and fails nothing: the
        prospect's own change has committed."""
        from azure.core.exceptions import AzureError

        directory = ProspectDirectoryTable(self._table, self._claim_grace)
        for prospect_id, mark in self._listed.items():
            try:
                done = directory.apply(prospect_id)
            except AzureError as error:  # storage refused or out of reach: the mark stays, the commit stands
                log.warning("prospect directory update left for the next settle",
                            extra={"prospect_id": prospect_id, "error": type(error).__name__})
                continue
            if done:
                self._dropped_pointers.append((PENDING, _key(mark)))

    def _update_partner_summaries(self) -> None:
        """The partners list follows the partners this unit of work changed; as with the directory, an update
        that does not finish keeps its mark for the next settle and fails nothing."""
        from azure.core.exceptions import AzureError

        summaries = PartnerSummaryTable(self._table, self._claim_grace)
        for hierarchy_id, mark in self._partners_changed.items():
            try:
                done = summaries.apply(hierarchy_id)
            except AzureError as error:
                log.warning("partner summary update left for the next settle",
                            extra={"hierarchy": hierarchy_id, "error": type(error).__name__})
                continue
            if done:
                self._dropped_pointers.append((_INDEX + PARTNER_SUMMARY_PENDING, _key(mark)))

    def _partner_changed(self, hierarchy_id: str | None) -> None:
        """What the partners list shows of this partner changes in this unit of work: its summary row is
        brought up to date after the commit (a mark written before it says so until then). Every write of
        what ``shared.domain.partner_summary.summarize`` reads calls this: the hierarchy, a user, the credit
        line."""
        if hierarchy_id and hierarchy_id not in self._partners_changed:
            self._partners_changed[hierarchy_id] = mark = f"{_key(hierarchy_id)}-{uuid.uuid4().hex}"
            self._pointer(PARTNER_SUMMARY_PENDING, mark, hierarchy_id)

    def _list(self, prospect: Prospect) -> None:
        """Mark the prospect's directory update as owed, before its transaction commits (see commit)."""
        if prospect.id not in self._listed:
            self._listed[prospect.id] = mark = f"{prospect.id}-{uuid.uuid4().hex}"
            self._pointer(PENDING.removeprefix(_INDEX), mark, prospect.id)

    # --- signups ------------------------------------------------------------------------------
    @staticmethod
    def _signup_partition(signup_id: str) -> str:
        return prospect_id_for(signup_id)

    def add_signup(self, signup: SignupRecord) -> None:
        partition = self._signup_partition(signup.id)
        if signup.idempotency_key_hash:
            self._claim_idempotency_key(signup.idempotency_key_hash, signup.id)
        self._point_at_signup(signup, partition)
        # Duplicate keys (digests): a range of one index partition per key finds every signup that has it.
        for key in index_keys(signup.request):
            self._pointer("signup-key", _signup_key_row(key, signup), partition, signup_id=signup.id)
        self._create(partition, "signup", signup, kind="signup", status=signup.status.value)

    def _point_at_signup(self, signup: SignupRecord, partition: str) -> None:
        """The index its status puts it in: the sync's (received) or the confirmation expiry's (awaiting)."""
        key = f"{_stamp(signup.received_at)}-{signup.id}"
        if signup.status is SignupStatus.RECEIVED:
            self._pointer("pending-signup", key, partition, signup_id=signup.id)
        elif signup.status is SignupStatus.AWAITING_CONFIRMATION:
            self._pointer("awaiting-signup", key, partition, signup_id=signup.id)

    def signups_with_key(self, key: str, limit: int, excluding: str | None = None) -> list[SignupRecord]:
        found: list[SignupRecord] = []
        if limit <= 0:
            return found
        prefix = _key(key) + "|"
        for pointer in self._query("PartitionKey eq @pk and RowKey ge @low and RowKey lt @high",
                                   {"pk": _INDEX + "signup-key", "low": prefix, "high": prefix + "\uffff"}):
            if pointer["signup_id"] == excluding:
                continue
            signup = self.get_signup(pointer["signup_id"])  # a pointer is a hint: its signup may never have committed
            if signup is not None:
                found.append(signup)
                if len(found) == limit:
                    break
        return found

    def signups_awaiting_confirmation(self, received_before: datetime, limit: int) -> list[SignupRecord]:
        found: list[SignupRecord] = []
        if limit <= 0:
            return found
        for pointer in self._query("PartitionKey eq @pk and RowKey lt @high",
                                   {"pk": _INDEX + "awaiting-signup", "high": _stamp(received_before)}):
            signup = self.get_signup(pointer["signup_id"])
            if signup is not None and signup.status is SignupStatus.AWAITING_CONFIRMATION:
                found.append(signup)
                if len(found) == limit:
                    break
            elif signup is not None and not self._read_only:  # confirmed since: no longer awaiting
                self._drop_pointer(pointer)
        return found

    def index_partner(self, key: str, hierarchy_id: str) -> None:
        self._pointer("partner-key", f"{key}|{hierarchy_id}", hierarchy_id, hierarchy_id=hierarchy_id)

    def partners_with_key(self, key: str, limit: int) -> list[CustomerHierarchy]:
        found: list[CustomerHierarchy] = []
        prefix = _key(key) + "|"
        for pointer in self._query("PartitionKey eq @pk and RowKey ge @low and RowKey lt @high",
                                   {"pk": _INDEX + "partner-key", "low": prefix, "high": prefix + "\uffff"}):
            hierarchy = self.get_hierarchy(pointer["hierarchy_id"])  # a hint: the partner may never have committed
            if hierarchy is not None:
                found.append(hierarchy)
        return sorted(found, key=lambda h: (len(h.id), h.id))[:max(limit, 0)]

    def delete_signup(self, signup_id: str) -> None:
        """Every row of the signup's partition (the signup, its emails and outbox messages), guarded by the ETags
        read here, then the pointers at them."""
        signup = self.get_signup(signup_id)
        if signup is None:
            return
        partition = self._signup_partition(signup_id)
        for row in self._partition_rows(partition, ""):
            self._write("delete", partition, row["RowKey"])
            if row.get("kind") == "email":
                self._drop_email_rows(EmailRecord.model_validate_json(row["data"]))
            elif row.get("kind") == "outbox":
                message = OutboxMessage.model_validate_json(row["data"])
                self._drop_after_commit("pending-outbox", f"{_stamp(message.created_at)}-{message.id}")
        stamp = f"{_stamp(signup.received_at)}-{signup.id}"
        self._drop_after_commit("pending-signup", stamp)
        self._drop_after_commit("awaiting-signup", stamp)
        for key in index_keys(signup.request):
            self._drop_after_commit("signup-key", _signup_key_row(key, signup))
        if signup.idempotency_key_hash:
            self._drop_after_commit("idempotency", signup.idempotency_key_hash)

    def _claim_idempotency_key(self, key_hash: str, signup_id: str) -> None:
        """The first request with a key claims it; a later one finds it."""
        self._claim("idempotency", key_hash, signup_id, lambda holder: self.get_signup(holder) is not None,
                    lambda holder: DuplicateRecord(f"idempotency key used by signup {holder} (or taken concurrently)"))

    def get_signup(self, signup_id: str) -> SignupRecord | None:
        return self._load(SignupRecord, self._signup_partition(signup_id), "signup")

    def find_signup_by_idempotency_key(self, key_hash: str) -> SignupRecord | None:
        signup_id = self._follow("idempotency", key_hash)
        return None if signup_id is None else self.get_signup(signup_id)

    def pending_signups(self, limit: int) -> list[SignupRecord]:
        found: list[SignupRecord] = []
        for pointer in self._query("PartitionKey eq @pk", {"pk": _INDEX + "pending-signup"}):
            signup = self.get_signup(pointer["signup_id"])
            if signup is not None and signup.status is SignupStatus.RECEIVED:
                found.append(signup)
                if len(found) == limit:
                    break
            elif signup is not None and not self._read_only:
                self._drop_pointer(pointer)
        return found

    def save_signup(self, signup: SignupRecord) -> None:
        partition = self._signup_partition(signup.id)
        self._replace(partition, "signup", signup, kind="signup", status=signup.status.value)
        key = f"{_stamp(signup.received_at)}-{signup.id}"
        self._point_at_signup(signup, partition)
        if signup.status is not SignupStatus.RECEIVED:
            self._drop_after_commit("pending-signup", key)
        if signup.status is not SignupStatus.AWAITING_CONFIRMATION:
            self._drop_after_commit("awaiting-signup", key)

    # --- prospects ----------------------------------------------------------------------------
    def add_prospect(self, prospect: Prospect) -> None:
        self._pointer("lead", prospect.lead_id.lower(), prospect.id)
        self._pointer("number", prospect.number, prospect.id)
        self._create(prospect.id, "prospect", prospect, **self._prospect_columns(prospect))
        self._list(prospect)

    @staticmethod
    def _prospect_columns(prospect: Prospect) -> dict[str, Any]:
        return {"kind": "prospect", "status": prospect.status.value, "created": _stamp(prospect.created_at),
                "number": prospect.number}

    def get_prospect(self, prospect_id: str) -> Prospect | None:
        return self._load(Prospect, prospect_id, "prospect")

    def _prospect_via(self, kind: str, key: str) -> Prospect | None:
        prospect_id = self._follow(kind, key)
        return None if prospect_id is None else self.get_prospect(prospect_id)

    def find_prospect_by_lead(self, lead_id: str) -> Prospect | None:
        return self._prospect_via("lead", lead_id.lower())

    def find_prospect_by_number(self, number: str) -> Prospect | None:
        return self._prospect_via("number", number)

    def list_prospects(self, status: ProspectStatus | None, limit: int) -> list[Prospect]:
        # An operator's listing: a filtered scan is acceptable here, unlike on the message paths.
        if status is None:
            rows = self._query("RowKey eq 'prospect'", {})
        else:
            rows = self._query("RowKey eq 'prospect' and status eq @status", {"status": status.value})
        rows.sort(key=lambda row: (row["created"], row["number"]))
        return [Prospect.model_validate_json(row["data"]) for row in rows[:limit]]

    def save_prospect(self, prospect: Prospect) -> None:
        self._replace(prospect.id, "prospect", prospect, **self._prospect_columns(prospect))
        self._list(prospect)

    def prospect_directory(self, where: ProspectFilter, *, newest_first: bool, after: Position | None,
                           limit: int) -> list[ProspectSummary]:
        return ProspectDirectoryTable(self._table, self._claim_grace).query(where, newest_first, after, limit)

    def prospect_counts(self) -> dict[str, int]:
        return ProspectDirectoryTable(self._table, self._claim_grace).counts()

    def append_history(self, entry: HistoryEntry) -> None:
        self._history_seq += 1
        # Append order, not the entry's own time: history reads back in the order it was written.
        row = f"history-{time.time_ns():020d}-{self._history_seq:04d}-{uuid.uuid4().hex[:12]}"
        self._create(entry.prospect_id, row, entry, kind="history")

    def history(self, prospect_id: str) -> list[HistoryEntry]:
        return [HistoryEntry.model_validate_json(row["data"]) for row in self._partition_rows(prospect_id, "history-")]

    # --- customers and hierarchies ------------------------------------------------------------
    def get_customer(self, customer_id: str) -> Customer | None:
        partition = self._follow("customer", customer_id)
        return None if partition is None else self._load(Customer, partition, f"customer-{_key(customer_id)}")

    def save_customer(self, customer: Customer) -> None:
        partition = customer.prospect_id or f"customer-{_key(customer.id)}"
        self._pointer("customer", customer.id, partition)
        self._replace(partition, f"customer-{_key(customer.id)}", customer, kind="customer")

    def get_hierarchy(self, hierarchy_id: str) -> CustomerHierarchy | None:
        partition = self._follow("hierarchy", hierarchy_id)
        if partition is None:
            return None
        return self._load(CustomerHierarchy, partition, f"hierarchy-{_key(hierarchy_id)}")

    def find_hierarchy_by_prospect(self, prospect_id: str) -> CustomerHierarchy | None:
        rows = self._partition_rows(prospect_id, "hierarchy-")
        return CustomerHierarchy.model_validate_json(rows[0]["data"]) if rows else None

    def _hierarchy_partition(self, hierarchy_id: str) -> str:
        """Where the hierarchy and the records kept with it live (saved first, possibly in this unit of work)."""
        return self._follow("hierarchy", hierarchy_id) or _key(hierarchy_aggregate_id(hierarchy_id))

    def save_hierarchy(self, hierarchy: CustomerHierarchy) -> None:
        partition = _key(hierarchy.aggregate_id)
        # The name rides on the pointer (casefolded): a search by name reads the index partition, not each partner.
        self._pointer("hierarchy", hierarchy.id, partition, name=hierarchy.name.casefold())
        row = f"hierarchy-{_key(hierarchy.id)}"
        if hierarchy.prospect_id:
            if self._exists(partition, row) is None:  # find_hierarchy_by_prospect has usually answered it
                self._get(partition, row)
            if not self._exists(partition, row):
                # One hierarchy per prospect: a marker row that a second hierarchy cannot create again.
                self._create(partition, "hierarchy", hierarchy, kind="hierarchy-marker")
        self._replace(partition, row, hierarchy, kind="hierarchy")
        self._partner_changed(hierarchy.id)

    def list_hierarchies(self, limit: int) -> list[CustomerHierarchy]:
        # An operator's listing, as list_prospects: a filtered scan.
        hierarchies = [CustomerHierarchy.model_validate_json(row["data"]) for row in self._query("kind eq 'hierarchy'", {})]
        hierarchies.sort(key=lambda h: (len(h.id), h.id))
        return hierarchies[:limit]

    def hierarchy_page(self, after: str | None, limit: int, name_contains: str | None = None) -> list[CustomerHierarchy]:
        """The "hierarchy" pointers in row-key order (number order while the numbers have one width, CH-000001 to
        CH-999999), read a page at a time; each match's hierarchy is read from its partition (a pointer is a
        hint: one whose hierarchy never committed is skipped). A name is matched on the pointer first (pointers
        written before it carried the name are matched on the hierarchy), then on the hierarchy itself."""
        if limit <= 0:
            return []
        wanted = name_contains.casefold() if name_contains else None
        low = _key(after) if after is not None else ""
        pointers = self._table.query_entities("PartitionKey eq @pk and RowKey gt @low",
                                              parameters={"pk": _INDEX + "hierarchy", "low": low},
                                              results_per_page=limit if wanted is None else 1000)
        page: list[CustomerHierarchy] = []
        for pointer in pointers:
            if wanted is not None and "name" in pointer and wanted not in pointer["name"]:
                continue
            hierarchy = self._load(CustomerHierarchy, pointer["target"], f"hierarchy-{pointer['RowKey']}")
            if hierarchy is not None and (wanted is None or wanted in hierarchy.name.casefold()):
                page.append(hierarchy)
                if len(page) == limit:
                    break
        return page

    def partner_summaries(self, after: str | None, limit: int, name_contains: str | None = None) -> list[PartnerSummary]:
        return PartnerSummaryTable(self._table, self._claim_grace).page(after, limit, name_contains)

    def save_member(self, member: HierarchyMember) -> None:
        partition = self._hierarchy_partition(member.hierarchy_id)
        self._replace(partition, _member_row(member.hierarchy_id, member.customer_id), member, kind="member")

    def members(self, hierarchy_id: str) -> list[HierarchyMember]:
        partition = self._follow("hierarchy", hierarchy_id)
        if partition is None:
            return []
        rows = self._partition_rows(partition, f"member-{_key(hierarchy_id)}-")
        return [HierarchyMember.model_validate_json(row["data"]) for row in rows]

    def remove_member(self, hierarchy_id: str, customer_id: str) -> None:
        partition = self._follow("hierarchy", hierarchy_id)
        row = _member_row(hierarchy_id, customer_id)
        if partition is not None and self._get(partition, row) is not None:
            self._write("delete", partition, row)

    # --- partner users, credit lines, reservations (in their hierarchy's partition) -----------
    def _settle(self, partition: str, row: dict) -> tuple[str, dict]:
        """Where a user row stands now: a row marked as moving gives way to its destination's row once
        that exists (the move committed); until then it is the user."""
        seen = {partition}
        while (destination := row.get("moving_to")) and destination not in seen:
            moved = self._get(destination, row["RowKey"])
            if moved is None:
                break
            partition, row = destination, moved
            seen.add(partition)
        return partition, row

    def _locate_user(self, user_id: str, hint: str | None = None) -> tuple[str, dict] | None:
        """The user's partition and row: from ``hint`` (a partition that held it) when the row is there,
        else from the pointer's target, or the partition it was moving from if that move never committed."""
        if user_id in self._users:
            return self._users[user_id]
        partition, row = hint, None if hint is None else self._get(hint, _user_row(user_id))
        if row is None and (pointer := self._pointed("user", user_id)) is not None:
            for partition in filter(None, (pointer["target"], pointer.get("previous"))):
                if (row := self._get(partition, _user_row(user_id))) is not None:
                    break
        found = self._users[user_id] = None if row is None else self._settle(partition, row)
        return found

    def get_partner_user(self, user_id: str) -> PartnerUser | None:
        found = self._locate_user(user_id)
        return None if found is None else _user(found[1])

    def partner_users(self, hierarchy_id: str) -> list[PartnerUser]:
        """One query reads the roster (its ETag guards this unit of work's user changes) and the users."""
        partition = self._follow("hierarchy", hierarchy_id)
        if partition is None:
            return []
        users: list[PartnerUser] = []
        for row in self._partition_rows(partition, _ROSTER):
            if row["RowKey"] == _ROSTER:
                continue
            where, current = self._settle(partition, row)
            if where != partition:
                continue  # moved away: the old row's delete after the move did not happen (yet)
            user = _user(current)
            self._users[user.id] = (partition, current)
            if user.hierarchy_id == hierarchy_id:
                users.append(user)
        return sorted(users, key=lambda user: (user.email, user.id))

    def _rewrite_roster(self, partition: str, first: bool = False) -> None:
        """Once per unit of work and partition; guarded by the ETag if ``partner_users`` read it. Once
        across both of its transactions too (``_write`` merges within one): a move rewrites the old
        partition's roster in the transaction that goes first, and a second rewrite there would carry the
        ETag that one already changed."""
        if partition in self._rosters:
            return
        self._rosters.add(partition)
        absent = self._exists(partition, _ROSTER) is False
        if absent:
            self._conflict_if_exists.add((partition, _ROSTER))
        self._write("create" if absent else "replace", partition, _ROSTER, first=first, kind="roster")

    def find_partner_user_by_sign_in(self, issuer: str, subject: str) -> PartnerUser | None:
        """Through the account's pointer (its target is a user id); the user row decides: a pointer left by a
        binding that lost its race, or by a user added again since (unbound), finds no one."""
        pointer = self._pointed("sign-in", _sign_in_key(issuer, subject))
        found = None if pointer is None else self._locate_user(pointer["target"], hint=pointer.get("partition"))
        user = None if found is None else _user(found[1])
        if user is None or user.sign_in is None or not user.sign_in.same_account(issuer, subject):
            return None
        return user

    def _claim_sign_in(self, user: PartnerUser) -> None:
        """The account's pointer is claimed at once, before the user row commits (which its ETag guards): of
        two users racing for one account one wins, and a user row bound to an account always has its pointer."""
        assert user.sign_in is not None
        issuer, subject = user.sign_in.issuer, user.sign_in.subject

        def held(other_user_id: str) -> bool:
            other = self.get_partner_user(other_user_id)
            return other is not None and other.sign_in is not None and other.sign_in.same_account(issuer, subject)

        def refuse(other_user_id: str) -> Exception:
            if held(other_user_id):
                return DuplicateRecord("this account signs in as another partner user already")
            return ConcurrencyConflict("this account is being bound to another partner user right now")

        # The user's partition rides along as a hint: a sign-in reads the user row at once, not its pointer first.
        self._claim("sign-in", _sign_in_key(issuer, subject), user.id, held, refuse,
                    partition=self._hierarchy_partition(user.hierarchy_id))

    def save_partner_user(self, user: PartnerUser) -> None:
        partition = self._hierarchy_partition(user.hierarchy_id)
        row = _user_row(user.id)
        found = self._locate_user(user.id)
        if user.sign_in is not None:
            before = None if found is None else _user(found[1]).sign_in
            if before is None or not before.same_account(user.sign_in.issuer, user.sign_in.subject):
                self._claim_sign_in(user)
        columns = {"kind": "partner-user", "hierarchy_id": user.hierarchy_id}
        if found is None:  # a new user: one email, one user, in one partner at a time
            self._claim("user", user.id, partition, lambda other: self._get(other, row) is not None,
                        lambda other: ConcurrencyConflict(f"user {user.id} was saved concurrently"))
            self._write("create", partition, row, user, **columns)
        elif found[0] == partition:
            pointer = self._followed.get((_INDEX + "user", _key(user.id)))
            if pointer is not None and pointer["target"] != partition:  # left by a move that never committed
                self._pointer("user", user.id, partition)
            self._replace(partition, row, user, **columns)
        else:
            self._move_user(user.id, found, partition)
            self._write("create" if (partition, row) in self._conflict_if_exists else "replace", partition, row,
                        user, **columns)
        self._rewrite_roster(partition)
        before = None if found is None else _user(found[1])
        self._partner_changed(user.hierarchy_id)
        if before is not None and before.hierarchy_id != user.hierarchy_id:
            self._partner_changed(before.hierarchy_id)  # it leaves that partner's list line
        new_key = None if user.sync is None else _sync_key(user)
        old_key = None if before is None or before.sync is None else _sync_key(before)
        if new_key is not None and (new_key != old_key or (found is not None and found[0] != partition)):
            self._pointer("user-sync", new_key, partition, user_id=user.id)
        if old_key is not None and old_key != new_key:
            self._drop_after_commit("user-sync", old_key)

    def _move_user(self, user_id: str, found: tuple[str, dict], partition: str) -> None:
        """First mark the old row as moving (a guarded write in the old partition, whose roster changes
        too), then the pointer (with the partition it moves from) and the new partition's transaction;
        the old row goes after commit. A stale row left at the destination by an earlier move goes first
        (and the new row is then created there), so that marks never point in a circle."""
        old, old_row = found
        row = _user_row(user_id)
        if self._get(partition, row) is not None:
            self._write("delete", partition, row, first=True)
            self._conflict_if_exists.add((partition, row))
        self._write("replace", old, row, None, first=True, data=old_row["data"], kind="partner-user",
                    hierarchy_id=old_row.get("hierarchy_id"), moving_to=partition)
        self._rewrite_roster(old, first=True)
        self._pointer("user", user_id, partition, previous=old)
        self._deleted_after.append((old, row))

    def users_to_sync(self, limit: int) -> list[PartnerUser]:
        found: list[PartnerUser] = []
        if limit <= 0:
            return found
        for pointer in self._table.query_entities("PartitionKey eq @pk", parameters={"pk": _INDEX + "user-sync"}):
            located = self._locate_user(pointer["user_id"], hint=pointer["target"])
            user = None if located is None else _user(located[1])
            if user is not None and user.sync is not None and _key(_sync_key(user)) == pointer["RowKey"]:
                found.append(user)
                if len(found) == limit:
                    break
            elif user is not None and not self._read_only:  # an older change's pointer: the user moved on
                self._drop_pointer(pointer)
        return found

    def get_credit_line(self, hierarchy_id: str) -> CreditLine | None:
        partition = self._follow("hierarchy", hierarchy_id)
        return None if partition is None else self._load(CreditLine, partition, _CREDIT)

    def save_credit_line(self, line: CreditLine) -> None:
        self._put(self._hierarchy_partition(line.hierarchy_id), _CREDIT, line, kind="credit")
        self._partner_changed(line.hierarchy_id)

    def get_reservation(self, hierarchy_id: str, order_id: str) -> Reservation | None:
        partition = self._follow("hierarchy", hierarchy_id)
        return None if partition is None else self._load(Reservation, partition, _reservation_row(order_id))

    def open_reservations(self, hierarchy_id: str, limit: int) -> list[Reservation]:
        partition = self._follow("hierarchy", hierarchy_id)
        if partition is None:
            return []
        held = [r for r in (Reservation.model_validate_json(row["data"])
                            for row in self._partition_rows(partition, "reservation-"))
                if r.hierarchy_id == hierarchy_id and r.status is ReservationStatus.HELD]
        return sorted(held, key=lambda r: (r.created_at, r.order_id))[:limit]

    def save_reservation(self, reservation: Reservation) -> None:
        """In the partner's partition, a row per order id: the partition is the partner's, so the order ids
        are too (no index across partners). Of two first reservations of one order one creates it; the
        other's unit of work read it as absent, so it is a conflict (run again, it finds the order)."""
        partition, row = self._hierarchy_partition(reservation.hierarchy_id), _reservation_row(reservation.order_id)
        if self._exists(partition, row) is False:  # read as absent: losing the race to create it is a stale read
            self._conflict_if_exists.add((partition, row))
        self._put(partition, row, reservation, kind="reservation")
        self._index_user_spend(partition, reservation)

    def _index_user_spend(self, partition: str, reservation: Reservation) -> None:
        """A copy of the reservation under (user, created time) in the same transaction: a limit per period
        reads the user's month by row key range. No ETag of its own: the credit line row, which every hold
        rewrites, is what two racing holds conflict on."""
        self._write("replace", partition, _spend_row(reservation.user_id, reservation.created_at, reservation.order_id),
                    reservation, kind="reservation-by-user")

    def user_reservations(self, hierarchy_id: str, user_id: str, since: datetime, until: datetime) -> list[Reservation]:
        partition = self._follow("hierarchy", hierarchy_id)
        if partition is None:
            return []
        prefix = _spend_prefix(user_id)
        rows = self._query("PartitionKey eq @pk and RowKey ge @low and RowKey lt @high",
                           {"pk": partition, "low": prefix + _stamp(since.astimezone(timezone.utc)),
                            "high": prefix + _stamp(until.astimezone(timezone.utc))})
        found = [Reservation.model_validate_json(row["data"]) for row in rows]
        return [r for r in found if r.hierarchy_id == hierarchy_id and since <= r.created_at < until]

    # --- approvals (in their partner's partition; pending ones also under index-approval-due) -------------
    def get_approval(self, hierarchy_id: str, order_id: str) -> ApprovalRequest | None:
        partition = self._follow("hierarchy", hierarchy_id)
        return None if partition is None else self._load(ApprovalRequest, partition, _approval_row(order_id))

    def save_approval(self, approval: ApprovalRequest) -> None:
        """Created when read as absent (of two first submissions one creates it, the other runs again and finds
        it), else replaced under the ETag read. A pending one is pointed at from the expiry index; once decided
        its pointer goes after the commit."""
        partition, row = self._hierarchy_partition(approval.hierarchy_id), _approval_row(approval.order_id)
        if self._exists(partition, row) is False:
            self._conflict_if_exists.add((partition, row))
        self._put(partition, row, approval, kind="approval", status=approval.status.value)
        due = _approval_due_key(approval)
        if approval.status is ApprovalStatus.PENDING:
            self._pointer("approval-due", due, partition, hierarchy_id=approval.hierarchy_id,
                          order_id=approval.order_id)
        else:
            self._drop_after_commit("approval-due", due)

    def approvals(self, hierarchy_id: str, limit: int) -> list[ApprovalRequest]:
        partition = self._follow("hierarchy", hierarchy_id)
        if partition is None:
            return []
        found = [ApprovalRequest.model_validate_json(row["data"]) for row in self._partition_rows(partition, "approval-")]
        found = [a for a in found if a.hierarchy_id == hierarchy_id]
        return sorted(found, key=lambda a: (-a.submitted_at.timestamp(), a.order_id))[:limit]

    def approvals_due(self, before: datetime, limit: int) -> list[ApprovalRequest]:
        found: list[ApprovalRequest] = []
        if limit <= 0:
            return found
        pointers = self._table.query_entities("PartitionKey eq @pk and RowKey lt @high",
                                              parameters={"pk": _INDEX + "approval-due",
                                                          "high": _stamp(before.astimezone(timezone.utc)) + "\uffff"})
        for pointer in pointers:
            approval = self._load(ApprovalRequest, pointer["target"], _approval_row(pointer["order_id"]))
            if approval is not None and approval.status is ApprovalStatus.PENDING:
                found.append(approval)
                if len(found) == limit:
                    break
            elif approval is not None and not self._read_only:  # decided: its pointer's drop did not happen
                self._drop_pointer(pointer)
        return found

    # --- the credit ledger (in the partner's partition, committed with the credit row) -------------
    def add_ledger_entry(self, entry: LedgerEntry) -> None:
        """Created in the transaction that rewrites the credit row under its ETag: of two writers that read
        the same line, both number their entry alike, and the loser's transaction fails whole (a conflict,
        whichever of its operations the service names)."""
        partition = self._hierarchy_partition(entry.hierarchy_id)
        rows = [_ledger_row(entry.seq)]
        if entry.payment_id is not None:  # the payment's own row: one per payment id, found by it
            rows.append(_payment_row(entry.payment_id))
        for row in rows:
            self._conflict_if_exists.add((partition, row))
            self._create(partition, row, entry, kind="ledger" if row == rows[0] else "payment")

    def get_payment(self, hierarchy_id: str, payment_id: str) -> LedgerEntry | None:
        partition = self._follow("hierarchy", hierarchy_id)
        return None if partition is None else self._load(LedgerEntry, partition, _payment_row(payment_id))

    def ledger_page(self, hierarchy_id: str, before: int | None, limit: int) -> list[LedgerEntry]:
        partition = self._follow("hierarchy", hierarchy_id)
        if partition is None or limit < 1:
            return []
        low = _LEDGER if before is None else _ledger_row(before)
        rows = self._table.query_entities("PartitionKey eq @pk and RowKey gt @low and RowKey lt @high",
                                          parameters={"pk": partition, "low": low, "high": _LEDGER + "~"},
                                          results_per_page=limit)
        return [LedgerEntry.model_validate_json(row["data"]) for row in itertools.islice(rows, limit)]

    # --- number sequences ---------------------------------------------------------------------
    def number_for(self, sequence: str, owner: str) -> int:
        """Claimed at once, in the sequence's own partition: the counter moves (guarded by its ETag)
        and the claim is written in one transaction. The claim outlives a failed unit of work, and the
        owner's retry finds it, so numbers stay gap-free without a cross-partition transaction."""
        from azure.core import MatchConditions
        from azure.core.exceptions import ResourceNotFoundError
        from azure.data.tables import TableTransactionError, UpdateMode

        partition = f"sequence-{_key(sequence)}"
        while True:
            try:
                return int(self._table.get_entity(partition, f"owner-{_key(owner)}")["value"])
            except ResourceNotFoundError:
                pass
            try:
                counter = self._table.get_entity(partition, "counter")
                value = int(counter["value"]) + 1
                move = ("update", {"PartitionKey": partition, "RowKey": "counter", "value": value},
                        {"mode": UpdateMode.REPLACE, "etag": counter.metadata["etag"],
                         "match_condition": MatchConditions.IfNotModified})
            except ResourceNotFoundError:
                value = 1
                move = ("create", {"PartitionKey": partition, "RowKey": "counter", "value": value})
            claim = ("create", {"PartitionKey": partition, "RowKey": f"owner-{_key(owner)}", "value": value})
            try:
                self._table.submit_transaction([move, claim])
                return value
            except TableTransactionError as error:
                if error.status_code not in (409, 412):
                    raise
                # Another writer moved the counter or claimed for this owner first: look again.

    # --- watermarks ---------------------------------------------------------------------------
    # One entity per name in the "watermark" partition. Written like every record here: guarded by the
    # ETag when this unit of work read it (the reconciliation reads, then advances: a run that raced
    # another fails with ConcurrencyConflict instead of moving the watermark back); created when this unit
    # of work read it as absent (two first runs cannot both write it: the second gets DuplicateRecord); an
    # upsert when it was not read (a blind set, such as an operator's reset).
    def get_watermark(self, name: str) -> datetime | None:
        entity = self._get(_WATERMARK, _key(name))
        if entity is None:
            return None
        return datetime.fromisoformat(entity["value"])

    def set_watermark(self, name: str, value: datetime) -> None:
        if value.tzinfo is None:
            raise ValueError("a watermark is a timezone-aware moment")
        # An ISO string, not Edm.DateTime: that keeps microseconds and the offset exactly.
        self._put(_WATERMARK, _key(name), None, kind="watermark", value=value.isoformat())

    # --- idempotency of events ----------------------------------------------------------------
    def event_seen(self, scope: str, event_id: str) -> bool:
        return self._get(scope, f"event-{_key(event_id)}") is not None

    def record_event(self, scope: str, event_id: str, kind: str, outcome: str) -> None:
        self._write("create", scope, f"event-{_key(event_id)}", None, kind="event", event_kind=kind, outcome=outcome)

    # --- transactional outbox -----------------------------------------------------------------
    def add_outbox_message(self, message: OutboxMessage) -> None:
        partition = _key(message.aggregate_id)
        self._pointer("pending-outbox", f"{_stamp(message.created_at)}-{message.id}", partition, message_id=message.id)
        self._create(partition, f"outbox-{_key(message.id)}", message, kind="outbox")

    def pending_outbox_messages(self, older_than: datetime | None, limit: int) -> list[OutboxMessage]:
        pointers = self._query("PartitionKey eq @pk", {"pk": _INDEX + "pending-outbox"})
        if older_than is not None:
            cutoff = _stamp(older_than) + "-\uffff"
            pointers = [p for p in pointers if p["RowKey"] <= cutoff]
        found: list[OutboxMessage] = []
        rows: set[tuple[str, str]] = set()
        for pointer in pointers:
            where = (pointer["target"], f"outbox-{_key(pointer['message_id'])}")
            if where in rows:
                # A racer that added the same message and lost left its pointer (pointers commit before
                # the transaction): one message, sent and marked once.
                if not self._read_only:
                    self._drop_pointer(pointer)
                continue
            rows.add(where)
            message = self._load(OutboxMessage, *where)
            if message is not None and message.sent_at is None:
                found.append(message)
                if len(found) == limit:
                    break
            elif message is not None and not self._read_only:
                self._drop_pointer(pointer)
        return found

    def mark_outbox_sent(self, message: OutboxMessage, sent_at: datetime) -> None:
        current = self._load(OutboxMessage, _key(message.aggregate_id), f"outbox-{_key(message.id)}")
        if current is None or current.sent_at is not None:
            return
        self._replace(_key(message.aggregate_id), f"outbox-{_key(message.id)}",
                      current.model_copy(update={"sent_at": sent_at}), kind="outbox")
        key = f"{_stamp(message.created_at)}-{message.id}"
        self._drop_after_commit("pending-outbox", key)

    # --- emails -------------------------------------------------------------------------------
    @staticmethod
    def _email_partition(email: EmailRecord) -> str:
        return _key(email.aggregate_id or email.prospect_id or f"email-{email.id}")

    def add_email(self, email: EmailRecord) -> None:
        partition = self._email_partition(email)
        self._pointer("email", email.id, partition)
        for key in (email_order_key(email), email_order_key(email, email.status)):
            self._pointer(EMAIL_ORDER, key, partition, **email_order_columns(email))
        self._create(partition, f"email-{_key(email.id)}", email, **self._email_columns(email))

    @staticmethod
    def _email_columns(email: EmailRecord) -> dict[str, Any]:
        return {"kind": "email", "status": email.status.value, "created": _stamp(email.created_at)}

    def get_email(self, email_id: str) -> EmailRecord | None:
        partition = self._follow("email", email_id)
        email = None if partition is None else self._load(EmailRecord, partition, f"email-{_key(email_id)}")
        if email is not None:
            self._email_status_read[email.id] = email.status
        return email

    def save_email(self, email: EmailRecord) -> None:
        partition = self._email_partition(email)
        was = self._email_status_read.get(email.id)
        if was is not email.status:
            # The status's order row is written before the email's transaction, the old one dropped after it
            # (a row whose email has moved on is skipped by the reader: the email decides). An email saved
            # without being read here keeps its old row until a reader meets it: its status is not known.
            self._pointer(EMAIL_ORDER, email_order_key(email, email.status), partition, **email_order_columns(email))
            if was is not None:
                self._drop_after_commit(EMAIL_ORDER, email_order_key(email, was))
        self._replace(partition, f"email-{_key(email.id)}", email, **self._email_columns(email))

    def list_emails(self, limit: int, pending_only: bool = False) -> list[EmailRecord]:
        if pending_only:
            rows = self._query("kind eq 'email' and status eq @status", {"status": EmailStatus.PENDING.value})
        else:
            rows = self._query("kind eq 'email'", {})
        rows.sort(key=lambda row: (row["created"], row["RowKey"]))
        return [EmailRecord.model_validate_json(row["data"]) for row in rows[:limit]]

    def prospect_emails(self, prospect_id: str) -> list[EmailRecord]:
        # A prospect's emails are written with it (their aggregate is the prospect): one partition's rows.
        rows = self._partition_rows(_key(prospect_id), "email-")
        emails = [EmailRecord.model_validate_json(row["data"]) for row in rows]
        return sorted((e for e in emails if e.prospect_id == prospect_id), key=lambda e: (e.created_at, e.id))
    def email_page(self, query: EmailQuery, limit: int) -> list[EmailRecord]:
        """A range of the email order index (every email's, or its status's), newest first; each row's email
        is read from its partition and decides (criteria the rows cannot know, a status that moved on): the
        cost is the page and the rows its filters pass over, not every email."""
        found: list[EmailRecord] = []
        candidates = email_order(self._table, query, limit)
        while len(found) < limit:
            # As many as the page still wants, read at once: each is in its own partition (a point read each).
            wanted = list(itertools.islice(candidates, limit - len(found)))
            if not wanted:
                break
            emails = self._load_many(EmailRecord, [(partition, f"email-{_key(email_id)}") for partition, email_id in wanted])
            found += [email for email in emails if email is not None and _selected(email, query)]
        return found

    # --- erasure ------------------------------------------------------------------------------
    def erase_prospect(self, prospect: Prospect) -> None:
        # The directory's rows follow the prospect after commit (_update_directory): its search rows are
        # the old request's keys, which that update deletes as rows the prospect no longer owns.
        signup = self.get_signup(prospect.signup_id)
        self.save_prospect(prospect)
        if signup is not None:  # its duplicate-key pointers (digests of the email, numbers, name) go too
            for key in index_keys(signup.request):
                self._drop_after_commit("signup-key", _signup_key_row(key, signup))

    def erase_history(self, prospect_id: str) -> None:
        for row in self._partition_rows(prospect_id, "history-"):
            entry = erased_history(HistoryEntry.model_validate_json(row["data"]))
            self._replace(prospect_id, row["RowKey"], entry, kind="history")

    def delete_email(self, email_id: str) -> None:
        partition, row = self._follow("email", email_id), f"email-{_key(email_id)}"
        found = None if partition is None else self._get(partition, row)
        if found is None:
            return
        self._write("delete", partition, row)
        self._drop_email_rows(EmailRecord.model_validate_json(found["data"]))

    def _drop_email_rows(self, email: EmailRecord) -> None:
        """After commit, every row that finds a deleted email: its pointer and its order rows, which hold the
        recipient's domain (a sole trader's own name, often): the whole list's, and each status's (a status
        row a crash left behind included)."""
        self._drop_after_commit("email", email.id)
        for status in (None, *EmailStatus):
            self._drop_after_commit(EMAIL_ORDER, email_order_key(email, status))

    def stale_signups(self, received_before: datetime, limit: int) -> list[SignupRecord]:
        """A filtered pass over the table's signup rows (the retention timer's, once a day): signups have no
        index by age, and those that never became a prospect are few."""
        rows = self._query("RowKey eq 'signup' and status ne @synced", {"synced": SignupStatus.SYNCED.value})
        signups = [SignupRecord.model_validate_json(row["data"]) for row in rows]
        stale = [s for s in signups if s.prospect_id is None and s.received_at < received_before]
        return sorted(stale, key=lambda s: (s.received_at, s.id))[:limit]

    # --- the operator audit -------------------------------------------------------------------
    def add_audit_entry(self, entry: AuditEntry) -> None:
        # Newest first by the entry's time, then (two entries of one time) by when it was written.
        micros = int(entry.at.timestamp() * 1_000_000)
        written = _LATEST * 1000 - time.time_ns()
        self._create(_AUDIT, f"{_LATEST - micros:018d}-{written:021d}-{_key(entry.id)}", entry, kind="audit")

    def audit_entries(self, limit: int) -> list[AuditEntry]:
        if limit < 1:
            return []
        rows = self._table.query_entities("PartitionKey eq @pk", parameters={"pk": _AUDIT}, results_per_page=limit)
        return [AuditEntry.model_validate_json(row["data"]) for row in itertools.islice(rows, limit)]


def _selected(email: EmailRecord, query: EmailQuery) -> bool:
    """Whether ``email`` passes ``query``'s criteria (as the SQLite store's WHERE clause does)."""
    if query.status is not None and email.status is not query.status:
        return False
    if query.in_flight is not None and (email.delivery_started_at is not None) is not query.in_flight:
        return False
    if query.template is not None and email.template != query.template:
        return False
    if query.to_domain is not None and not email.to.lower().endswith("@" + query.to_domain):
        return False
    return query.before is None or (email.created_at, email.id) < query.before


class AzureTableStore:
    def __init__(self, service_client, table_name: str, claim_grace: timedelta = CLAIM_GRACE):
        from azure.core.exceptions import ResourceExistsError

        self._claim_grace = claim_grace
        self._service = service_client
        try:
            self._service.create_table(table_name)
        except ResourceExistsError:
            pass
        self.table = self._service.get_table_client(table_name)

    @contextmanager
    def unit_of_work(self, read_only: bool = False) -> Iterator[TableUnitOfWork]:
        uow = TableUnitOfWork(self.table, read_only, self._claim_grace)
        yield uow
        if not read_only:
            uow.commit()

    def settle_prospect_directory(self, limit: int) -> int:
        # The email order index of a store from before it existed is built here too, once: the channel sync
        # runs this on every store, and the two are the back office's lists.
        # And the partner summaries (the partners list's rows): a store from before them, and crashes.
        index_older_emails(self.table)
        PartnerSummaryTable(self.table, self._claim_grace).settle(limit)
        return ProspectDirectoryTable(self.table, self._claim_grace).settle(limit)

    def count_in_window(self, key: str, window_start: datetime, window_end: datetime, limit: int) -> bool:
        from shared.adapters import azure_rate_windows

        return azure_rate_windows.count_in_window(self.table, key, window_start, window_end, limit)

    def count_in_windows(self, windows) -> list[bool]:
        """One after the other: each window is a partition of its own, and Tables has no transaction across them."""
        from shared.adapters import azure_rate_windows

        return [azure_rate_windows.count_in_window(self.table, *window) for window in windows]

    def expire_rate_windows(self, before: datetime, limit: int) -> int:
        from shared.adapters import azure_rate_windows

        return azure_rate_windows.expire_rate_windows(self.table, before, limit)

    def shared_secret(self, name: str) -> bytes:
        from shared.adapters import azure_rate_windows

        return azure_rate_windows.shared_secret(self.table, name)

    def close(self) -> None:
        self.table.close()
        self._service.close()

