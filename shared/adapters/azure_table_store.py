"""The Store port on Azure Table Storage.

One table. Everything one prospect's state change writes lives in the prospect's partition (its
signup, the prospect, history, customers, hierarchy, members, applied events, outbox messages and
emails), so a unit of work commits it as one entity-group transaction: the approval is atomic.
Updates carry the ETag read in the same unit of work (optimistic concurrency: no lost update).

Lookups by another key go through pointer entities in index partitions. Pointers are written before
the transaction they point into and are only hints: a reader follows them and finds nothing if that
transaction never committed, and cleans such leftovers up.
"""
from __future__ import annotations

import time
import uuid
from contextlib import contextmanager
from datetime import datetime
from typing import Any, Iterator, TypeVar

from pydantic import BaseModel

from shared.domain.errors import ConcurrencyConflict, DomainError, DuplicateRecord
from shared.domain.ids import prospect_id_for
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
)

T = TypeVar("T", bound=BaseModel)

# Entity-group transactions take at most 100 operations.
MAX_TRANSACTION = 100
_INDEX = "index-"
_WATERMARK = "watermark"


def _stamp(at: datetime) -> str:
    """A sortable fixed-width UTC time for row keys."""
    return at.strftime("%Y%m%dT%H%M%S%f")


def _key(value: str) -> str:
    # Row and partition keys may not hold / \\ # ? or control characters.
    return "".join(ch if ch.isprintable() and ch not in "/\\#?" else f"~{ord(ch):x}" for ch in value)


class TableUnitOfWork:
    def __init__(self, table, read_only: bool):
        self._table = table
        self._read_only = read_only
        self._etags: dict[tuple[str, str], str] = {}
        self._writes: dict[str, list[tuple]] = {}
        self._new_pointers: dict[tuple[str, str], dict] = {}
        self._dropped_pointers: list[tuple[str, str]] = []
        self._history_seq = 0
        self._absent: set[tuple[str, str]] = set()  # rows read and found missing (a watermark's first write)

    # --- plumbing -----------------------------------------------------------------------------
    def _get(self, partition: str, row: str) -> dict | None:
        from azure.core.exceptions import ResourceNotFoundError

        try:
            entity = self._table.get_entity(partition, row)
        except ResourceNotFoundError:
            return None
        self._etags[(partition, row)] = entity.metadata["etag"]
        return entity

    def _load(self, model: type[T], partition: str, row: str) -> T | None:
        entity = self._get(partition, row)
        return None if entity is None else model.model_validate_json(entity["data"])

    def _query(self, filter_text: str, parameters: dict[str, Any]) -> list[dict]:
        return list(self._table.query_entities(filter_text, parameters=parameters))

    def _partition_rows(self, partition: str, prefix: str) -> list[dict]:
        return self._query(
            "PartitionKey eq @pk and RowKey ge @low and RowKey lt @high",
            {"pk": partition, "low": prefix, "high": prefix + "\uffff"},
        )

    def _write(self, operation: str, partition: str, row: str, model: BaseModel | None = None,
               **properties: Any) -> None:
        if self._read_only:
            raise DomainError("a read-only unit of work cannot write")
        entity = {"PartitionKey": partition, "RowKey": row, **properties}
        if model is not None:
            entity["data"] = model.model_dump_json()
        self._writes.setdefault(partition, []).append((operation, entity))

    def _create(self, partition: str, row: str, model: BaseModel, **properties: Any) -> None:
        self._write("create", partition, row, model, **properties)

    def _replace(self, partition: str, row: str, model: BaseModel, **properties: Any) -> None:
        """An update guarded by the ETag this unit of work read; an upsert of what it did not read."""
        self._write("replace", partition, row, model, **properties)

    def _pointer(self, kind: str, key: str, target: str, **properties: Any) -> None:
        """Written at commit, before the transaction it points into (a pointer to nothing is harmless)."""
        if self._read_only:
            raise DomainError("a read-only unit of work cannot write")
        entity = {"PartitionKey": _INDEX + kind, "RowKey": _key(key), "target": target, **properties}
        self._new_pointers[(entity["PartitionKey"], entity["RowKey"])] = entity

    def _follow(self, kind: str, key: str) -> str | None:
        written = self._new_pointers.get((_INDEX + kind, _key(key)))
        if written is not None:  # this unit of work's own pointer (a member follows its new hierarchy)
            return written["target"]
        entity = self._get(_INDEX + kind, _key(key))
        return None if entity is None else entity["target"]

    def _drop_after_commit(self, kind: str, key: str) -> None:
        self._dropped_pointers.append((_INDEX + kind, _key(key)))

    def _drop_pointer(self, kind: str, key: str) -> None:
        from azure.core.exceptions import ResourceNotFoundError

        try:
            self._table.delete_entity(_INDEX + kind, _key(key))
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

    def _execute(self, operations: list[tuple]) -> None:
        """Operations on one partition, atomically: one request, and a plain one where there is one
        operation (the SDK's transaction envelope costs more than the request itself)."""
        from azure.core.exceptions import HttpResponseError, ResourceExistsError, ResourceModifiedError
        from azure.data.tables import TableTransactionError

        try:
            if len(operations) > 1:
                self._table.submit_transaction(operations)
                return
            operation, entity, *options = operations[0]
            if operation == "delete":
                self._table.delete_entity(entity["PartitionKey"], entity["RowKey"])
            elif operation == "create":
                self._table.create_entity(entity)
            elif operation == "update":
                self._table.update_entity(entity, **options[0])
            else:
                self._table.upsert_entity(entity, **options[0])
        except (TableTransactionError, ResourceExistsError, ResourceModifiedError, HttpResponseError) as error:
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
                self._drop_pointer(entity["PartitionKey"].removeprefix(_INDEX), entity["RowKey"])

    def commit(self) -> None:
        from azure.core import MatchConditions
        from azure.data.tables import UpdateMode

        if self._new_pointers:
            self._submit_by_partition([("upsert", entity, {"mode": UpdateMode.REPLACE})
                                       for entity in self._new_pointers.values()])
        for partition, writes in self._writes.items():
            operations = []
            for operation, entity in writes:
                row = (partition, entity["RowKey"])
                if operation == "create":
                    operations.append(("create", entity))
                elif row in self._etags:
                    operations.append(("update", entity, {"mode": UpdateMode.REPLACE, "etag": self._etags[row],
                                                          "match_condition": MatchConditions.IfNotModified}))
                else:
                    operations.append(("upsert", entity, {"mode": UpdateMode.REPLACE}))
            for start in range(0, len(operations), MAX_TRANSACTION):
                self._execute(operations[start:start + MAX_TRANSACTION])
        if self._dropped_pointers:
            self._drop_pointers()

    # --- signups ------------------------------------------------------------------------------
    @staticmethod
    def _signup_partition(signup_id: str) -> str:
        return prospect_id_for(signup_id)

    def add_signup(self, signup: SignupRecord) -> None:
        partition = self._signup_partition(signup.id)
        if signup.idempotency_key_hash:
            self._claim_idempotency_key(signup.idempotency_key_hash, signup.id)
        self._pointer("pending-signup", f"{_stamp(signup.received_at)}-{signup.id}", partition, signup_id=signup.id)
        self._create(partition, "signup", signup, kind="signup", status=signup.status.value)

    def _claim_idempotency_key(self, key_hash: str, signup_id: str) -> None:
        """The pointer is the lock: the first request with a key inserts it; a later one finds it."""
        from azure.core import MatchConditions
        from azure.core.exceptions import HttpResponseError, ResourceExistsError
        from azure.data.tables import UpdateMode

        entity = {"PartitionKey": _INDEX + "idempotency", "RowKey": key_hash, "target": signup_id}
        try:
            self._table.create_entity(entity)
            return
        except ResourceExistsError:
            pass
        existing = self._get(_INDEX + "idempotency", key_hash)
        if existing is not None and self.get_signup(existing["target"]) is not None:
            raise DuplicateRecord(f"idempotency key already used by signup {existing['target']}")
        try:  # the earlier holder never committed: take the key over, unless someone else just did
            self._table.update_entity(entity, mode=UpdateMode.REPLACE, etag=existing.metadata["etag"],
                                      match_condition=MatchConditions.IfNotModified)
        except HttpResponseError:
            raise DuplicateRecord("idempotency key taken concurrently") from None

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
                self._drop_pointer("pending-signup", pointer["RowKey"])
        return found

    def save_signup(self, signup: SignupRecord) -> None:
        self._replace(self._signup_partition(signup.id), "signup", signup, kind="signup", status=signup.status.value)
        if signup.status is not SignupStatus.RECEIVED:
            key = f"{_stamp(signup.received_at)}-{signup.id}"
            self._drop_after_commit("pending-signup", key)

    # --- prospects ----------------------------------------------------------------------------
    def add_prospect(self, prospect: Prospect) -> None:
        self._pointer("lead", prospect.lead_id.lower(), prospect.id)
        self._pointer("number", prospect.number, prospect.id)
        self._create(prospect.id, "prospect", prospect, **self._prospect_columns(prospect))

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

    def save_hierarchy(self, hierarchy: CustomerHierarchy) -> None:
        partition = hierarchy.prospect_id or f"hierarchy-{_key(hierarchy.id)}"
        self._pointer("hierarchy", hierarchy.id, partition)
        row = f"hierarchy-{_key(hierarchy.id)}"
        if hierarchy.prospect_id and self._get(partition, row) is None:
            # One hierarchy per prospect: a marker row that a second hierarchy cannot create again.
            self._create(partition, "hierarchy", hierarchy, kind="hierarchy-marker")
        self._replace(partition, row, hierarchy, kind="hierarchy")

    def save_member(self, member: HierarchyMember) -> None:
        partition = self._follow("hierarchy", member.hierarchy_id) or f"hierarchy-{_key(member.hierarchy_id)}"
        row = f"member-{_key(member.hierarchy_id)}-{_key(member.customer_id)}"
        self._replace(partition, row, member, kind="member")

    def members(self, hierarchy_id: str) -> list[HierarchyMember]:
        partition = self._follow("hierarchy", hierarchy_id)
        if partition is None:
            return []
        rows = self._partition_rows(partition, f"member-{_key(hierarchy_id)}-")
        return [HierarchyMember.model_validate_json(row["data"]) for row in rows]

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
            self._absent.add((_WATERMARK, _key(name)))
            return None
        return datetime.fromisoformat(entity["value"])

    def set_watermark(self, name: str, value: datetime) -> None:
        if value.tzinfo is None:
            raise ValueError("a watermark is a timezone-aware moment")
        operation = "create" if (_WATERMARK, _key(name)) in self._absent else "replace"
        # An ISO string, not Edm.DateTime: that keeps microseconds and the offset exactly.
        self._write(operation, _WATERMARK, _key(name), None, kind="watermark", value=value.isoformat())

    # --- idempotency of events ----------------------------------------------------------------
    def event_seen(self, scope: str, event_id: str) -> bool:
        return self._get(scope, f"event-{_key(event_id)}") is not None

    def record_event(self, scope: str, event_id: str, kind: str, outcome: str) -> None:
        self._write("create", scope, f"event-{_key(event_id)}", None, kind="event", event_kind=kind, outcome=outcome)

    # --- transactional outbox -----------------------------------------------------------------
    def add_outbox_message(self, message: OutboxMessage) -> None:
        self._pointer("pending-outbox", f"{_stamp(message.created_at)}-{message.id}", message.aggregate_id,
                      message_id=message.id)
        self._create(message.aggregate_id, f"outbox-{_key(message.id)}", message, kind="outbox")

    def pending_outbox_messages(self, older_than: datetime | None, limit: int) -> list[OutboxMessage]:
        pointers = self._query("PartitionKey eq @pk", {"pk": _INDEX + "pending-outbox"})
        if older_than is not None:
            cutoff = _stamp(older_than) + "-\uffff"
            pointers = [p for p in pointers if p["RowKey"] <= cutoff]
        found: list[OutboxMessage] = []
        for pointer in pointers:
            message = self._load(OutboxMessage, pointer["target"], f"outbox-{_key(pointer['message_id'])}")
            if message is not None and message.sent_at is None:
                found.append(message)
                if len(found) == limit:
                    break
            elif message is not None and not self._read_only:
                self._drop_pointer("pending-outbox", pointer["RowKey"])
        return found

    def mark_outbox_sent(self, message: OutboxMessage, sent_at: datetime) -> None:
        current = self._load(OutboxMessage, message.aggregate_id, f"outbox-{_key(message.id)}")
        if current is None or current.sent_at is not None:
            return
        self._replace(message.aggregate_id, f"outbox-{_key(message.id)}",
                      current.model_copy(update={"sent_at": sent_at}), kind="outbox")
        key = f"{_stamp(message.created_at)}-{message.id}"
        self._drop_after_commit("pending-outbox", key)

    # --- emails -------------------------------------------------------------------------------
    @staticmethod
    def _email_partition(email: EmailRecord) -> str:
        return email.aggregate_id or email.prospect_id or f"email-{_key(email.id)}"

    def add_email(self, email: EmailRecord) -> None:
        partition = self._email_partition(email)
        self._pointer("email", email.id, partition)
        self._create(partition, f"email-{_key(email.id)}", email, **self._email_columns(email))

    @staticmethod
    def _email_columns(email: EmailRecord) -> dict[str, Any]:
        return {"kind": "email", "status": email.status.value, "created": _stamp(email.created_at)}

    def get_email(self, email_id: str) -> EmailRecord | None:
        partition = self._follow("email", email_id)
        return None if partition is None else self._load(EmailRecord, partition, f"email-{_key(email_id)}")

    def save_email(self, email: EmailRecord) -> None:
        self._replace(self._email_partition(email), f"email-{_key(email.id)}", email, **self._email_columns(email))

    def list_emails(self, limit: int, pending_only: bool = False) -> list[EmailRecord]:
        if pending_only:
            rows = self._query("kind eq 'email' and status eq @status", {"status": EmailStatus.PENDING.value})
        else:
            rows = self._query("kind eq 'email'", {})
        rows.sort(key=lambda row: (row["created"], row["RowKey"]))
        return [EmailRecord.model_validate_json(row["data"]) for row in rows[:limit]]


class AzureTableStore:
    def __init__(self, service_client, table_name: str):
        from azure.core.exceptions import ResourceExistsError

        self._service = service_client
        try:
            self._service.create_table(table_name)
        except ResourceExistsError:
            pass
        self.table = self._service.get_table_client(table_name)

    @contextmanager
    def unit_of_work(self, read_only: bool = False) -> Iterator[TableUnitOfWork]:
        uow = TableUnitOfWork(self.table, read_only)
        yield uow
        if not read_only:
            uow.commit()

    def close(self) -> None:
        self.table.close()
        self._service.close()

