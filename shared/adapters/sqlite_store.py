"""The Store port on SQLite: entities as JSON documents beside the columns that queries need."""
from __future__ import annotations

import itertools
import sqlite3
from contextlib import contextmanager
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Iterable, Iterator, TypeVar

from pydantic import BaseModel

from shared.adapters import sqlite_rate_windows as rate_windows
from shared.adapters.sqlite_base import SqliteDatabase
from shared.domain.audit import AuditEntry
from shared.domain.erasure import erased_history
from shared.domain.duplicates import index_keys
from shared.domain.errors import DuplicateRecord
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
from shared.domain.approvals import ApprovalRequest, ApprovalStatus
from shared.domain.ledger import LedgerEntry
from shared.domain.partners import CreditLine, PartnerUser, Reservation
from shared.domain.partner_summary import PartnerSummary, summarize
from shared.domain.prospect_directory import ATTENTION, Position, ProspectFilter, ProspectSummary, search_keys
from shared.ports import EmailQuery

_SCHEMA = """
CREATE TABLE IF NOT EXISTS signups (
    id TEXT PRIMARY KEY, status TEXT NOT NULL, idempotency_key_hash TEXT UNIQUE,
    received_at TEXT NOT NULL, data TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS signups_pending ON signups (status, received_at);
-- Duplicate keys (shared.domain.duplicates, digests): a repeat of an email or an organization is one lookup.
CREATE TABLE IF NOT EXISTS signup_keys (
    key TEXT NOT NULL, signup_id TEXT NOT NULL, PRIMARY KEY (key, signup_id)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS prospects (
    id TEXT PRIMARY KEY, number TEXT NOT NULL UNIQUE, status TEXT NOT NULL, lead_id TEXT NOT NULL UNIQUE,
    created_at TEXT NOT NULL, data TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS prospects_status ON prospects (status, created_at);
-- The back office's list (prospect_directory): one index per way in, each in the list's order, so that a page
-- reads its rows and stops. A search goes through prospect_search (folded keys, matched by prefix).
CREATE INDEX IF NOT EXISTS prospects_by_status ON prospects (status, created_at, number);
CREATE INDEX IF NOT EXISTS prospects_by_received ON prospects (created_at, number);
CREATE INDEX IF NOT EXISTS prospects_flagged ON prospects (created_at, number) WHERE json_extract(data, '$.needs_attention');
CREATE INDEX IF NOT EXISTS prospects_by_channel ON prospects (json_extract(data, '$.request.channel_id'), created_at, number);
CREATE TABLE IF NOT EXISTS prospect_search (
    key TEXT NOT NULL, prospect_id TEXT NOT NULL, PRIMARY KEY (key, prospect_id)) WITHOUT ROWID;
-- Counts per status (and of flagged prospects), kept exactly by the database itself in the transaction that
-- changes a prospect, whoever writes it: the list shows them without counting 100,000 rows.
CREATE TABLE IF NOT EXISTS prospect_counts (name TEXT PRIMARY KEY, n INTEGER NOT NULL) WITHOUT ROWID;
INSERT OR IGNORE INTO prospect_counts (name, n) VALUES %(count_names)s;
CREATE TRIGGER IF NOT EXISTS prospects_counted_on_insert AFTER INSERT ON prospects BEGIN
    UPDATE prospect_counts SET n = n + 1
    WHERE name = NEW.status OR (name = 'attention' AND json_extract(NEW.data, '$.needs_attention'));
END;
CREATE TRIGGER IF NOT EXISTS prospects_counted_on_update AFTER UPDATE ON prospects BEGIN
    UPDATE prospect_counts SET n = n - 1
    WHERE name = OLD.status OR (name = 'attention' AND json_extract(OLD.data, '$.needs_attention'));
    UPDATE prospect_counts SET n = n + 1
    WHERE name = NEW.status OR (name = 'attention' AND json_extract(NEW.data, '$.needs_attention'));
END;
CREATE TRIGGER IF NOT EXISTS prospects_counted_on_delete AFTER DELETE ON prospects BEGIN
    UPDATE prospect_counts SET n = n - 1
    WHERE name = OLD.status OR (name = 'attention' AND json_extract(OLD.data, '$.needs_attention'));
END;
CREATE TABLE IF NOT EXISTS upgrades (name TEXT PRIMARY KEY, done_at TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS history (
    seq INTEGER PRIMARY KEY AUTOINCREMENT, prospect_id TEXT NOT NULL, data TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS history_prospect ON history (prospect_id, seq);
CREATE TABLE IF NOT EXISTS customers (id TEXT PRIMARY KEY, data TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS hierarchies (id TEXT PRIMARY KEY, prospect_id TEXT UNIQUE, data TEXT NOT NULL);
-- Number order (CH-000002 before CH-000010, CH-999999 before CH-1000000): pages of partners read it in order.
CREATE INDEX IF NOT EXISTS hierarchies_number ON hierarchies (length(id), id);
CREATE TABLE IF NOT EXISTS members (
    hierarchy_id TEXT NOT NULL, customer_id TEXT NOT NULL, data TEXT NOT NULL,
    PRIMARY KEY (hierarchy_id, customer_id));
CREATE TABLE IF NOT EXISTS sequences (name TEXT PRIMARY KEY, value INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS sequence_claims (
    sequence TEXT NOT NULL, owner TEXT NOT NULL, value INTEGER NOT NULL, PRIMARY KEY (sequence, owner));
CREATE TABLE IF NOT EXISTS events (
    scope TEXT NOT NULL, event_id TEXT NOT NULL, kind TEXT NOT NULL, outcome TEXT NOT NULL,
    PRIMARY KEY (scope, event_id));
CREATE TABLE IF NOT EXISTS outbox (
    id TEXT PRIMARY KEY, aggregate_id TEXT NOT NULL, queue TEXT NOT NULL, body TEXT NOT NULL,
    created_at TEXT NOT NULL, sent_at TEXT);
CREATE INDEX IF NOT EXISTS outbox_pending ON outbox (sent_at, created_at);
CREATE TABLE IF NOT EXISTS partner_keys (
    key TEXT NOT NULL, hierarchy_id TEXT NOT NULL, PRIMARY KEY (key, hierarchy_id)) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS outbox_aggregate ON outbox (aggregate_id);
CREATE TABLE IF NOT EXISTS emails (id TEXT PRIMARY KEY, status TEXT NOT NULL, created_at TEXT NOT NULL, data TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS emails_status ON emails (status, created_at);
-- A prospect's emails (its page): the expression the query uses, so no column or table migration is needed.
CREATE INDEX IF NOT EXISTS emails_prospect ON emails (json_extract(data, '$.prospect_id'), created_at);
CREATE INDEX IF NOT EXISTS emails_newest ON emails (created_at, id);
CREATE TABLE IF NOT EXISTS operator_audit (seq INTEGER PRIMARY KEY AUTOINCREMENT, data TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS watermarks (name TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS partner_users (
    id TEXT PRIMARY KEY, hierarchy_id TEXT NOT NULL, email TEXT NOT NULL, sync_pending INTEGER NOT NULL,
    updated_at TEXT NOT NULL, data TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS partner_users_hierarchy ON partner_users (hierarchy_id, email);
CREATE INDEX IF NOT EXISTS partner_users_sync ON partner_users (sync_pending, updated_at);
-- One user per account that signs in (PartnerUser.sign_in): the database refuses a second, whoever races.
CREATE UNIQUE INDEX IF NOT EXISTS partner_users_sign_in ON partner_users (
    json_extract(data, '$.sign_in.issuer'), json_extract(data, '$.sign_in.subject'));
CREATE TABLE IF NOT EXISTS credit_lines (hierarchy_id TEXT PRIMARY KEY, data TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS order_reservations (
    hierarchy_id TEXT NOT NULL, order_id TEXT NOT NULL, data TEXT NOT NULL, PRIMARY KEY (hierarchy_id, order_id));
-- A user's reservations in a period (limits per period): the expressions user_reservations queries.
CREATE INDEX IF NOT EXISTS order_reservations_by_user ON order_reservations (
    hierarchy_id, json_extract(data, '$.user_id'), json_extract(data, '$.created_at'));
CREATE TABLE IF NOT EXISTS order_approvals (
    hierarchy_id TEXT NOT NULL, order_id TEXT NOT NULL, status TEXT NOT NULL, expires_at TEXT NOT NULL,
    submitted_at TEXT NOT NULL, data TEXT NOT NULL, PRIMARY KEY (hierarchy_id, order_id));
CREATE INDEX IF NOT EXISTS order_approvals_due ON order_approvals (status, expires_at);
CREATE INDEX IF NOT EXISTS order_approvals_newest ON order_approvals (hierarchy_id, submitted_at);
-- The credit ledger: a partner's entries by number, newest first through the primary key.
CREATE TABLE IF NOT EXISTS credit_ledger (
    hierarchy_id TEXT NOT NULL, seq INTEGER NOT NULL, data TEXT NOT NULL, PRIMARY KEY (hierarchy_id, seq)) WITHOUT ROWID;
-- A payment is recorded once per partner and payment id (the database refuses a second, whoever races).
CREATE UNIQUE INDEX IF NOT EXISTS credit_ledger_payment ON credit_ledger (hierarchy_id, json_extract(data, '$.payment_id'))
    WHERE json_extract(data, '$.payment_id') IS NOT NULL;
-- Order ids were one pool across partners (the table "reservations", keyed by the order id alone); they are
-- the partner's own now. A database from before moves its rows over once, in one transaction (so that two
-- processes opening it at once cannot both copy), and drops the old table.
BEGIN IMMEDIATE;
CREATE TABLE IF NOT EXISTS reservations (order_id TEXT PRIMARY KEY, hierarchy_id TEXT NOT NULL, data TEXT NOT NULL);
INSERT OR IGNORE INTO order_reservations (hierarchy_id, order_id, data) SELECT hierarchy_id, order_id, data FROM reservations;
DROP TABLE reservations;
COMMIT;
"""

_COUNT_NAMES = ", ".join(f"('{name}', 0)" for name in [*(status.value for status in ProspectStatus), ATTENTION])
_SCHEMA = _SCHEMA.replace("%(count_names)s", _COUNT_NAMES)
# A database from before the list had its indexes gets its search keys and counts once (upgrade_directory).
_DIRECTORY_UPGRADE = "prospect-directory-1"

T = TypeVar("T", bound=BaseModel)

# A page of partners in number order: each walks the index hierarchies_number (tests/services/test_sqlite_partner_pages.py
# checks SQLite's plan), so a page reads its own rows, not every hierarchy before a sort.
HIERARCHIES_FROM_START = "SELECT data FROM hierarchies ORDER BY length(id), id"
HIERARCHIES_AFTER_SAME_LENGTH = "SELECT data FROM hierarchies WHERE length(id) = ? AND id > ? ORDER BY id"
HIERARCHIES_LONGER = "SELECT data FROM hierarchies WHERE length(id) > ? ORDER BY length(id), id"


# The duplicate checks and the confirmation expiry (issue 11): each through an index (tests/services/
# test_sqlite_duplicate_plans.py reads SQLite's plans): the key table's primary key, signups_pending (status,
# received_at; received_at is ISO text in UTC, which sorts as time), emails_prospect, outbox_aggregate.
SIGNUPS_WITH_KEY = ("SELECT s.data FROM signup_keys k JOIN signups s ON s.id = k.signup_id "
                    "WHERE k.key = ? AND k.signup_id IS NOT ? ORDER BY s.received_at, s.id LIMIT ?")
SIGNUPS_AWAITING = "SELECT data FROM signups WHERE status = ? AND received_at < ? ORDER BY received_at, id LIMIT ?"
PARTNERS_WITH_KEY = ("SELECT h.data FROM partner_keys k JOIN hierarchies h ON h.id = k.hierarchy_id WHERE k.key = ? "
                     "ORDER BY length(h.id), h.id LIMIT ?")
EMAILS_OF_AGGREGATE_DELETE = "DELETE FROM emails WHERE json_extract(data, '$.prospect_id') = ?"
OUTBOX_OF_AGGREGATE_DELETE = "DELETE FROM outbox WHERE aggregate_id = ?"
def _utc_text(at: datetime) -> str:
    """A fixed-width UTC time (microseconds always): such texts sort as the moments do."""
    return at.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f")


def _load(model: type[T], row: sqlite3.Row | None) -> T | None:
    return None if row is None else model.model_validate_json(row["data"])


class SqliteUnitOfWork:
    def __init__(self, connection: sqlite3.Connection):
        self._db = connection
        self.erased = False  # personal data was erased: the store clears the write-ahead log after commit

    def _insert(self, sql: str, params: tuple) -> None:
        try:
            self._db.execute(sql, params)
        except sqlite3.IntegrityError as error:
            raise DuplicateRecord(str(error)) from None

    def _one(self, model: type[T], sql: str, params: tuple) -> T | None:
        return _load(model, self._db.execute(sql, params).fetchone())

    def _many(self, model: type[T], sql: str, params: tuple) -> list[T]:
        return [model.model_validate_json(row["data"]) for row in self._db.execute(sql, params)]

    # signups
    def add_signup(self, signup: SignupRecord) -> None:
        self._insert(
            "INSERT INTO signups (id, status, idempotency_key_hash, received_at, data) VALUES (?, ?, ?, ?, ?)",
            (signup.id, signup.status.value, signup.idempotency_key_hash, signup.received_at.isoformat(),
             signup.model_dump_json()),
        )
        self._db.executemany("INSERT OR IGNORE INTO signup_keys (key, signup_id) VALUES (?, ?)",
                             [(key, signup.id) for key in index_keys(signup.request)])

    def get_signup(self, signup_id: str) -> SignupRecord | None:
        return self._one(SignupRecord, "SELECT data FROM signups WHERE id = ?", (signup_id,))

    def find_signup_by_idempotency_key(self, key_hash: str) -> SignupRecord | None:
        return self._one(SignupRecord, "SELECT data FROM signups WHERE idempotency_key_hash = ?", (key_hash,))

    def pending_signups(self, limit: int) -> list[SignupRecord]:
        return self._many(
            SignupRecord,
            "SELECT data FROM signups WHERE status = ? ORDER BY received_at, id LIMIT ?",
            (SignupStatus.RECEIVED.value, limit),
        )

    def save_signup(self, signup: SignupRecord) -> None:
        self._db.execute(
            "UPDATE signups SET status = ?, data = ? WHERE id = ?",
            (signup.status.value, signup.model_dump_json(), signup.id),
        )

    def signups_with_key(self, key: str, limit: int, excluding: str | None = None) -> list[SignupRecord]:
        return self._many(SignupRecord, SIGNUPS_WITH_KEY, (key, excluding, limit))

    def signups_awaiting_confirmation(self, received_before: datetime, limit: int) -> list[SignupRecord]:
        return self._many(SignupRecord, SIGNUPS_AWAITING,
                          (SignupStatus.AWAITING_CONFIRMATION.value, _instant(received_before), limit))

    def index_partner(self, key: str, hierarchy_id: str) -> None:
        self._db.execute("INSERT OR IGNORE INTO partner_keys (key, hierarchy_id) VALUES (?, ?)", (key, hierarchy_id))

    def partners_with_key(self, key: str, limit: int) -> list[CustomerHierarchy]:
        return self._many(CustomerHierarchy, PARTNERS_WITH_KEY, (key, limit))

    def delete_signup(self, signup_id: str) -> None:
        signup = self.get_signup(signup_id)
        if signup is None:
            return
        self.erased = True  # the request's personal data leaves the file: the write-ahead log is emptied after
        aggregate = prospect_id_for(signup_id)
        self._db.executemany("DELETE FROM signup_keys WHERE key = ? AND signup_id = ?",
                             [(key, signup_id) for key in index_keys(signup.request)])
        self._db.execute(EMAILS_OF_AGGREGATE_DELETE, (aggregate,))
        self._db.execute(OUTBOX_OF_AGGREGATE_DELETE, (aggregate,))
        self._db.execute("DELETE FROM signups WHERE id = ?", (signup_id,))

    # prospects
    def add_prospect(self, prospect: Prospect) -> None:
        self._insert(
            "INSERT INTO prospects (id, number, status, lead_id, created_at, data) VALUES (?, ?, ?, ?, ?, ?)",
            (prospect.id, prospect.number, prospect.status.value, prospect.lead_id.lower(), prospect.created_at.isoformat(),
             prospect.model_dump_json()),
        )
        _add_search_keys(self._db, prospect)

    def get_prospect(self, prospect_id: str) -> Prospect | None:
        return self._one(Prospect, "SELECT data FROM prospects WHERE id = ?", (prospect_id,))

    def find_prospect_by_lead(self, lead_id: str) -> Prospect | None:
        return self._one(Prospect, "SELECT data FROM prospects WHERE lead_id = ?", (lead_id.lower(),))

    def find_prospect_by_number(self, number: str) -> Prospect | None:
        return self._one(Prospect, "SELECT data FROM prospects WHERE number = ?", (number,))

    def list_prospects(self, status: ProspectStatus | None, limit: int) -> list[Prospect]:
        if status is None:
            return self._many(Prospect, "SELECT data FROM prospects ORDER BY created_at, number LIMIT ?", (limit,))
        return self._many(
            Prospect,
            "SELECT data FROM prospects WHERE status = ? ORDER BY created_at, number LIMIT ?",
            (status.value, limit),
        )

    def prospect_directory(self, where: ProspectFilter, *, newest_first: bool, after: Position | None,
                           limit: int) -> list[ProspectSummary]:
        # Each condition is written as its index is (prospects_flagged, prospects_by_channel): the planner
        # uses an index only for the very expression it was built on.
        clauses: list[str] = []
        params: list[object] = []
        if where.status is not None:
            clauses.append("status = ?")
            params.append(where.status.value)
        if where.attention:
            clauses.append("json_extract(data, '$.needs_attention')")
        if where.channel is not None:
            clauses.append("json_extract(data, '$.request.channel_id') = ?")
            params.append(where.channel)
        if where.received_from is not None:
            clauses.append("created_at >= ?")
            params.append(_instant(where.received_from))
        if where.received_to is not None:
            clauses.append("created_at < ?")
            params.append(_instant(where.received_to))
        if where.search:
            clauses.append("id IN (SELECT prospect_id FROM prospect_search WHERE key >= ? AND key < ?)")
            params += [where.search, where.search + "\uffff"]
        if after is not None:
            clauses.append(f"(created_at, number) {'<' if newest_first else '>'} (?, ?)")
            params += [_instant(after.received_at), after.number]
        order = "DESC" if newest_first else "ASC"
        sql = (f"SELECT data FROM prospects {'WHERE ' + ' AND '.join(clauses) if clauses else ''} "
               f"ORDER BY created_at {order}, number {order} LIMIT ?")
        return [ProspectSummary.of(prospect) for prospect in self._many(Prospect, sql, (*params, limit))]

    def prospect_counts(self) -> dict[str, int]:
        return {row["name"]: row["n"] for row in self._db.execute("SELECT name, n FROM prospect_counts")}

    def save_prospect(self, prospect: Prospect) -> None:
        self._db.execute(
            "UPDATE prospects SET status = ?, data = ? WHERE id = ?",
            (prospect.status.value, prospect.model_dump_json(), prospect.id),
        )

    def append_history(self, entry: HistoryEntry) -> None:
        self._db.execute(
            "INSERT INTO history (prospect_id, data) VALUES (?, ?)", (entry.prospect_id, entry.model_dump_json())
        )

    def history(self, prospect_id: str) -> list[HistoryEntry]:
        return self._many(HistoryEntry, "SELECT data FROM history WHERE prospect_id = ? ORDER BY seq", (prospect_id,))

    # customers and hierarchies
    def get_customer(self, customer_id: str) -> Customer | None:
        return self._one(Customer, "SELECT data FROM customers WHERE id = ?", (customer_id,))

    def save_customer(self, customer: Customer) -> None:
        self._db.execute(
            "INSERT INTO customers (id, data) VALUES (?, ?) ON CONFLICT (id) DO UPDATE SET data = excluded.data",
            (customer.id, customer.model_dump_json()),
        )

    def get_hierarchy(self, hierarchy_id: str) -> CustomerHierarchy | None:
        return self._one(CustomerHierarchy, "SELECT data FROM hierarchies WHERE id = ?", (hierarchy_id,))

    def find_hierarchy_by_prospect(self, prospect_id: str) -> CustomerHierarchy | None:
        return self._one(CustomerHierarchy, "SELECT data FROM hierarchies WHERE prospect_id = ?", (prospect_id,))

    def save_hierarchy(self, hierarchy: CustomerHierarchy) -> None:
        try:
            self._db.execute(
                "INSERT INTO hierarchies (id, prospect_id, data) VALUES (?, ?, ?) "
                "ON CONFLICT (id) DO UPDATE SET data = excluded.data",
                (hierarchy.id, hierarchy.prospect_id, hierarchy.model_dump_json()),
            )
        except sqlite3.IntegrityError as error:
            raise DuplicateRecord(str(error)) from None

    def list_hierarchies(self, limit: int) -> list[CustomerHierarchy]:
        return self._many(CustomerHierarchy, "SELECT data FROM hierarchies ORDER BY length(id), id LIMIT ?", (limit,))

    def hierarchy_page(self, after: str | None, limit: int, name_contains: str | None = None) -> list[CustomerHierarchy]:
        # Number order is (length, id): CH-1000000 after CH-999999. Both queries walk the index hierarchies_number
        # from the cursor on (one condition on (length, id) as a whole would scan it from its start), and rows are
        # read as the page fills: a name is matched here (casefolded, as SQLite's LIKE cannot for non-ASCII
        # letters), stopping at a full page.
        if after is None:
            rows: Iterable[sqlite3.Row] = self._db.execute(HIERARCHIES_FROM_START)
        else:
            rows = itertools.chain(self._db.execute(HIERARCHIES_AFTER_SAME_LENGTH, (len(after), after)),
                                   self._db.execute(HIERARCHIES_LONGER, (len(after),)))
        wanted = name_contains.casefold() if name_contains else None
        page: list[CustomerHierarchy] = []
        for row in rows:
            if len(page) == limit:
                break
            hierarchy = CustomerHierarchy.model_validate_json(row["data"])
            if wanted is None or wanted in hierarchy.name.casefold():
                page.append(hierarchy)
        return page

    def partner_summaries(self, after: str | None, limit: int, name_contains: str | None = None) -> list[PartnerSummary]:
        # A page of hierarchies along the number index, then each one's users and credit line by their own
        # indexes: O(page) in indexed reads. The summary is made when read, so nothing needs keeping up to date.
        return [summarize(h, self.partner_users(h.id), self.get_credit_line(h.id))
                for h in self.hierarchy_page(after, limit, name_contains)]

    def save_member(self, member: HierarchyMember) -> None:
        self._db.execute(
            "INSERT INTO members (hierarchy_id, customer_id, data) VALUES (?, ?, ?) "
            "ON CONFLICT (hierarchy_id, customer_id) DO UPDATE SET data = excluded.data",
            (member.hierarchy_id, member.customer_id, member.model_dump_json()),
        )

    def members(self, hierarchy_id: str) -> list[HierarchyMember]:
        return self._many(
            HierarchyMember, "SELECT data FROM members WHERE hierarchy_id = ? ORDER BY customer_id", (hierarchy_id,)
        )

    def remove_member(self, hierarchy_id: str, customer_id: str) -> None:
        self._db.execute("DELETE FROM members WHERE hierarchy_id = ? AND customer_id = ?", (hierarchy_id, customer_id))

    # partner users, credit lines, reservations (writers are serialized: no rule passes on stale reads)
    def get_partner_user(self, user_id: str) -> PartnerUser | None:
        return self._one(PartnerUser, "SELECT data FROM partner_users WHERE id = ?", (user_id,))

    def partner_users(self, hierarchy_id: str) -> list[PartnerUser]:
        return self._many(PartnerUser, "SELECT data FROM partner_users WHERE hierarchy_id = ? ORDER BY email, id",
                          (hierarchy_id,))

    def find_partner_user_by_sign_in(self, issuer: str, subject: str) -> PartnerUser | None:
        # The expressions of the unique index partner_users_sign_in, so that the lookup uses it.
        return self._one(PartnerUser, "SELECT data FROM partner_users WHERE json_extract(data, '$.sign_in.issuer') = ? "
                         "AND json_extract(data, '$.sign_in.subject') = ?", (issuer, subject))

    def save_partner_user(self, user: PartnerUser) -> None:
        self._insert(
            "INSERT INTO partner_users (id, hierarchy_id, email, sync_pending, updated_at, data) VALUES (?, ?, ?, ?, ?, ?) "
            "ON CONFLICT (id) DO UPDATE SET hierarchy_id = excluded.hierarchy_id, email = excluded.email, "
            "sync_pending = excluded.sync_pending, updated_at = excluded.updated_at, data = excluded.data",
            (user.id, user.hierarchy_id, user.email, int(user.sync is not None), user.updated_at.isoformat(),
             user.model_dump_json()),
        )

    def users_to_sync(self, limit: int) -> list[PartnerUser]:
        return self._many(PartnerUser, "SELECT data FROM partner_users WHERE sync_pending = 1 ORDER BY updated_at, id "
                          "LIMIT ?", (limit,))

    def get_credit_line(self, hierarchy_id: str) -> CreditLine | None:
        return self._one(CreditLine, "SELECT data FROM credit_lines WHERE hierarchy_id = ?", (hierarchy_id,))

    def save_credit_line(self, line: CreditLine) -> None:
        self._db.execute(
            "INSERT INTO credit_lines (hierarchy_id, data) VALUES (?, ?) "
            "ON CONFLICT (hierarchy_id) DO UPDATE SET data = excluded.data",
            (line.hierarchy_id, line.model_dump_json()),
        )

    def get_reservation(self, hierarchy_id: str, order_id: str) -> Reservation | None:
        return self._one(Reservation, "SELECT data FROM order_reservations WHERE hierarchy_id = ? AND order_id = ?",
                         (hierarchy_id, order_id))

    def open_reservations(self, hierarchy_id: str, limit: int) -> list[Reservation]:
        return self._many(Reservation, "SELECT data FROM order_reservations WHERE hierarchy_id = ? "
                          "AND json_extract(data, '$.status') = 'held' ORDER BY json_extract(data, '$.created_at'), "
                          "order_id LIMIT ?", (hierarchy_id, limit))

    def save_reservation(self, reservation: Reservation) -> None:
        self._db.execute(
            "INSERT INTO order_reservations (hierarchy_id, order_id, data) VALUES (?, ?, ?) "
            "ON CONFLICT (hierarchy_id, order_id) DO UPDATE SET data = excluded.data",
            (reservation.hierarchy_id, reservation.order_id, reservation.model_dump_json()),
        )

    def user_reservations(self, hierarchy_id: str, user_id: str, since: datetime, until: datetime) -> list[Reservation]:
        # The index order_reservations_by_user's expressions. Stored times are UTC ISO text whose seconds may or
        # may not carry a fraction ("…:05Z" sorts after "…:05.5Z"), so the index range is a second wider on each
        # side and the exact bounds are applied to the rows it finds.
        found = self._many(Reservation, "SELECT data FROM order_reservations WHERE hierarchy_id = ? "
                           "AND json_extract(data, '$.user_id') = ? AND json_extract(data, '$.created_at') >= ? "
                           "AND json_extract(data, '$.created_at') < ?",
                           (hierarchy_id, user_id, _utc_text(since - timedelta(seconds=1)),
                            _utc_text(until + timedelta(seconds=1))))
        return sorted((r for r in found if since <= r.created_at < until), key=lambda r: (r.created_at, r.order_id))

    def get_approval(self, hierarchy_id: str, order_id: str) -> ApprovalRequest | None:
        return self._one(ApprovalRequest, "SELECT data FROM order_approvals WHERE hierarchy_id = ? AND order_id = ?",
                         (hierarchy_id, order_id))

    def save_approval(self, approval: ApprovalRequest) -> None:
        self._db.execute(
            "INSERT INTO order_approvals (hierarchy_id, order_id, status, expires_at, submitted_at, data) "
            "VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (hierarchy_id, order_id) DO UPDATE SET status = excluded.status, "
            "expires_at = excluded.expires_at, submitted_at = excluded.submitted_at, data = excluded.data",
            (approval.hierarchy_id, approval.order_id, approval.status.value, _utc_text(approval.expires_at),
             _utc_text(approval.submitted_at), approval.model_dump_json()),
        )

    def approvals(self, hierarchy_id: str, limit: int) -> list[ApprovalRequest]:
        return self._many(ApprovalRequest, "SELECT data FROM order_approvals WHERE hierarchy_id = ? "
                          "ORDER BY submitted_at DESC, order_id LIMIT ?", (hierarchy_id, limit))

    def approvals_due(self, before: datetime, limit: int) -> list[ApprovalRequest]:
        return self._many(ApprovalRequest, "SELECT data FROM order_approvals WHERE status = ? AND expires_at <= ? "
                          "ORDER BY expires_at, hierarchy_id, order_id LIMIT ?",
                          (ApprovalStatus.PENDING.value, _utc_text(before), limit))

    def add_ledger_entry(self, entry: LedgerEntry) -> None:
        self._insert("INSERT INTO credit_ledger (hierarchy_id, seq, data) VALUES (?, ?, ?)",
                     (entry.hierarchy_id, entry.seq, entry.model_dump_json()))

    def get_payment(self, hierarchy_id: str, payment_id: str) -> LedgerEntry | None:
        return self._one(LedgerEntry, "SELECT data FROM credit_ledger WHERE hierarchy_id = ? "
                         "AND json_extract(data, '$.payment_id') = ?", (hierarchy_id, payment_id))

    def ledger_page(self, hierarchy_id: str, before: int | None, limit: int) -> list[LedgerEntry]:
        return self._many(LedgerEntry, "SELECT data FROM credit_ledger WHERE hierarchy_id = ? AND seq < ? "
                          "ORDER BY seq DESC LIMIT ?", (hierarchy_id, before if before is not None else 2**62, limit))

    def number_for(self, sequence: str, owner: str) -> int:
        # Gap-free because the claim commits or rolls back with the unit of work.
        claimed = self._db.execute(
            "SELECT value FROM sequence_claims WHERE sequence = ? AND owner = ?", (sequence, owner)
        ).fetchone()
        if claimed is not None:
            return int(claimed[0])
        value = int(self._db.execute(
            "INSERT INTO sequences (name, value) VALUES (?, 1) "
            "ON CONFLICT (name) DO UPDATE SET value = value + 1 RETURNING value",
            (sequence,),
        ).fetchone()[0])
        self._db.execute("INSERT INTO sequence_claims (sequence, owner, value) VALUES (?, ?, ?)", (sequence, owner, value))
        return value

    # watermarks (writers are serialized by BEGIN IMMEDIATE: a read-then-set never overwrites a newer value)
    def get_watermark(self, name: str) -> datetime | None:
        row = self._db.execute("SELECT value FROM watermarks WHERE name = ?", (name,)).fetchone()
        return None if row is None else datetime.fromisoformat(row["value"])

    def set_watermark(self, name: str, value: datetime) -> None:
        if value.tzinfo is None:
            raise ValueError("a watermark is a timezone-aware moment")
        self._db.execute(
            "INSERT INTO watermarks (name, value) VALUES (?, ?) ON CONFLICT (name) DO UPDATE SET value = excluded.value",
            (name, value.isoformat()),
        )

    def event_seen(self, scope: str, event_id: str) -> bool:
        return self._db.execute(
            "SELECT 1 FROM events WHERE scope = ? AND event_id = ?", (scope, event_id)
        ).fetchone() is not None

    def record_event(self, scope: str, event_id: str, kind: str, outcome: str) -> None:
        self._insert("INSERT INTO events (scope, event_id, kind, outcome) VALUES (?, ?, ?, ?)",
                     (scope, event_id, kind, outcome))

    # transactional outbox
    def add_outbox_message(self, message: OutboxMessage) -> None:
        self._insert(
            "INSERT INTO outbox (id, aggregate_id, queue, body, created_at, sent_at) VALUES (?, ?, ?, ?, ?, NULL)",
            (message.id, message.aggregate_id, message.queue, message.body, message.created_at.isoformat()),
        )

    def pending_outbox_messages(self, older_than: datetime | None, limit: int) -> list[OutboxMessage]:
        cutoff = (older_than or datetime.max).isoformat()
        rows = self._db.execute(
            "SELECT id, aggregate_id, queue, body, created_at FROM outbox WHERE sent_at IS NULL AND created_at <= ? "
            "ORDER BY created_at LIMIT ?",
            (cutoff, limit),
        ).fetchall()
        return [
            OutboxMessage(id=r["id"], aggregate_id=r["aggregate_id"], queue=r["queue"], body=r["body"],
                          created_at=datetime.fromisoformat(r["created_at"]))
            for r in rows
        ]

    def mark_outbox_sent(self, message: OutboxMessage, sent_at: datetime) -> None:
        self._db.execute(
            "UPDATE outbox SET sent_at = ? WHERE id = ? AND sent_at IS NULL", (sent_at.isoformat(), message.id)
        )

    def add_email(self, email: EmailRecord) -> None:
        self._insert(
            "INSERT INTO emails (id, status, created_at, data) VALUES (?, ?, ?, ?)",
            (email.id, email.status.value, email.created_at.isoformat(), email.model_dump_json()),
        )

    def get_email(self, email_id: str) -> EmailRecord | None:
        return self._one(EmailRecord, "SELECT data FROM emails WHERE id = ?", (email_id,))

    def save_email(self, email: EmailRecord) -> None:
        self._db.execute(
            "UPDATE emails SET status = ?, data = ? WHERE id = ?", (email.status.value, email.model_dump_json(), email.id)
        )

    def list_emails(self, limit: int, pending_only: bool = False) -> list[EmailRecord]:
        if pending_only:
            return self._many(
                EmailRecord,
                "SELECT data FROM emails WHERE status = ? ORDER BY created_at LIMIT ?",
                (EmailStatus.PENDING.value, limit),
            )
        return self._many(EmailRecord, "SELECT data FROM emails ORDER BY created_at LIMIT ?", (limit,))

    def prospect_emails(self, prospect_id: str) -> list[EmailRecord]:
        return self._many(EmailRecord, "SELECT data FROM emails WHERE json_extract(data, '$.prospect_id') = ? "
                          "ORDER BY created_at, id", (prospect_id,))


    def email_page(self, query: EmailQuery, limit: int) -> list[EmailRecord]:
        # Newest first along the (created_at, id) index: a page reads its rows and the ones its filters
        # pass over, never the whole table. Times are ISO text in UTC, which sorts as time does.
        where, params = [], []
        if query.status is not None:
            where.append("status = ?")
            params.append(query.status.value)
        if query.in_flight is not None:
            where.append(f"json_extract(data, '$.delivery_started_at') IS {'NOT ' if query.in_flight else ''}NULL")
        if query.template is not None:
            where.append("json_extract(data, '$.template') = ?")
            params.append(query.template)
        if query.to_domain is not None:
            where.append("lower(substr(json_extract(data, '$.to'), -length(?) - 1)) = '@' || ?")
            params += [query.to_domain, query.to_domain]
        if query.before is not None:
            # A row value, which SQLite seeks to in the index (an OR of the two parts it would scan down to).
            where.append("(created_at, id) < (?, ?)")
            params += [query.before[0].isoformat(), query.before[1]]
        sql = "SELECT data FROM emails" + (" WHERE " + " AND ".join(where) if where else "")
        return self._many(EmailRecord, sql + " ORDER BY created_at DESC, id DESC LIMIT ?", (*params, limit))

    # erasure
    def erase_prospect(self, prospect: Prospect) -> None:
        self.erased = True
        before = self.get_prospect(prospect.id)
        self.save_prospect(prospect)
        if before is not None:  # the old keys by their primary key: no pass over every prospect's keys
            self._db.executemany("DELETE FROM prospect_search WHERE key = ? AND prospect_id = ?",
                                 [(key, prospect.id) for key in search_keys(ProspectSummary.of(before))])
            # and its request's duplicate keys (digests of the email, numbers, name), which find it no more
            self._db.executemany("DELETE FROM signup_keys WHERE key = ? AND signup_id = ?",
                                 [(key, prospect.signup_id) for key in index_keys(before.request)])
        _add_search_keys(self._db, prospect)

    def erase_history(self, prospect_id: str) -> None:
        self.erased = True
        rows = self._db.execute("SELECT seq, data FROM history WHERE prospect_id = ?", (prospect_id,)).fetchall()
        self._db.executemany("UPDATE history SET data = ? WHERE seq = ?", [
            (erased_history(HistoryEntry.model_validate_json(row["data"])).model_dump_json(), row["seq"])
            for row in rows])

    def delete_email(self, email_id: str) -> None:
        self.erased = True
        self._db.execute("DELETE FROM emails WHERE id = ?", (email_id,))

    def stale_signups(self, received_before: datetime, limit: int) -> list[SignupRecord]:
        return self._many(SignupRecord, "SELECT data FROM signups WHERE status != ? AND received_at < ? "
                          "AND json_extract(data, '$.prospect_id') IS NULL ORDER BY received_at, id LIMIT ?",
                          (SignupStatus.SYNCED.value, _instant(received_before), limit))

    def add_audit_entry(self, entry: AuditEntry) -> None:
        self._db.execute("INSERT INTO operator_audit (data) VALUES (?)", (entry.model_dump_json(),))

    def audit_entries(self, limit: int) -> list[AuditEntry]:
        return self._many(AuditEntry, "SELECT data FROM operator_audit ORDER BY seq DESC LIMIT ?", (limit,))




def _instant(at: datetime) -> str:
    """A moment as prospects.created_at holds it (ISO 8601 in UTC), so that text order is time order."""
    return at.astimezone(timezone.utc).isoformat()


def _add_search_keys(db: sqlite3.Connection, prospect: Prospect) -> None:
    # The keys come from the request, which never changes after intake: written once, with the prospect.
    db.executemany("INSERT OR IGNORE INTO prospect_search (key, prospect_id) VALUES (?, ?)",
                   [(key, prospect.id) for key in search_keys(ProspectSummary.of(prospect))])


def upgrade_directory(db: sqlite3.Connection) -> None:
    """Search keys for every prospect and the counts recounted, once per database: in the transaction of the
    caller, which holds the write lock, so two processes opening an older file at once do it once (the
    second finds it done). Counting here is exact whatever was written before the triggers existed."""
    if db.execute("SELECT 1 FROM upgrades WHERE name = ?", (_DIRECTORY_UPGRADE,)).fetchone() is not None:
        return
    for row in db.execute("SELECT data FROM prospects").fetchall():
        _add_search_keys(db, Prospect.model_validate_json(row["data"]))
    db.execute("UPDATE prospect_counts SET n = (SELECT count(*) FROM prospects WHERE status = prospect_counts.name) "
               "WHERE name != ?", (ATTENTION,))
    db.execute("UPDATE prospect_counts SET n = (SELECT count(*) FROM prospects "
               "WHERE json_extract(data, '$.needs_attention')) WHERE name = ?", (ATTENTION,))
    db.execute("INSERT INTO upgrades (name, done_at) VALUES (?, ?)",
               (_DIRECTORY_UPGRADE, datetime.now(timezone.utc).isoformat()))
class SqliteStore:
    def __init__(self, path: Path | str):
        self.database = SqliteDatabase(path, _SCHEMA)
        # The intake's rate-limit windows in a file of their own beside the store's: its own write lock, so
        # counting a request never waits for another request's signup to commit (nor delays one).
        path = Path(path)
        self._windows = SqliteDatabase(path.with_name(f"{path.stem}-windows{path.suffix}"), rate_windows.SCHEMA)
        with self.database.transaction() as connection:
            upgrade_directory(connection)

    def settle_prospect_directory(self, limit: int) -> int:
        """Nothing to settle: the indexes, search keys and counts change in the prospect's own transaction."""
        return 0

    @contextmanager
    def unit_of_work(self, read_only: bool = False) -> Iterator[SqliteUnitOfWork]:
        with self.database.transaction(read_only=read_only) as connection:
            uow = SqliteUnitOfWork(connection)
            yield uow
        if uow.erased:  # the log still holds the page versions from before: cleared once the erasure commits
            self.database.checkpoint()

    def count_in_window(self, key: str, window_start: datetime, window_end: datetime, limit: int) -> bool:
        return rate_windows.count_in_windows(self._windows, [(key, window_start, window_end, limit)])[0]

    def count_in_windows(self, windows) -> list[bool]:
        return rate_windows.count_in_windows(self._windows, windows)

    def expire_rate_windows(self, before: datetime, limit: int) -> int:
        return rate_windows.expire_rate_windows(self._windows, before, limit)

    def shared_secret(self, name: str) -> bytes:
        return rate_windows.shared_secret(self._windows, name)

    def close(self) -> None:
        self.database.close()
        self._windows.close()
