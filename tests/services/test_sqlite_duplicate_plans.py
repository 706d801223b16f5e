"""SQLite answers the duplicate checks and the confirmation expiry (issue 11) through indexes: each query's plan
searches an index and scans no table, whatever the store holds (what SQLite's query plan says; no timing)."""
from __future__ import annotations

import sqlite3

import pytest

from shared.adapters.sqlite_store import (
    EMAILS_OF_AGGREGATE_DELETE,
    OUTBOX_OF_AGGREGATE_DELETE,
    PARTNERS_WITH_KEY,
    SIGNUPS_AWAITING,
    SIGNUPS_WITH_KEY,
    SqliteStore,
)


@pytest.mark.parametrize("statement, params", [
    (SIGNUPS_WITH_KEY, ("a-key", "signup-1", 20)),
    (PARTNERS_WITH_KEY, ("a-key", 20)),
    (SIGNUPS_AWAITING, ("awaiting_confirmation", "2026-01-01T00:00:00+00:00", 200)),
    (EMAILS_OF_AGGREGATE_DELETE, ("prospect-1",)),
    (OUTBOX_OF_AGGREGATE_DELETE, ("prospect-1",)),
])
def test_each_lookup_searches_an_index_and_scans_no_table(tmp_path, statement, params):
    SqliteStore(tmp_path / "state.sqlite3").close()  # creates the schema
    with sqlite3.connect(tmp_path / "state.sqlite3") as db:
        plan = [row[3] for row in db.execute(f"EXPLAIN QUERY PLAN {statement}", params)]
    assert plan and any(step.startswith("SEARCH") for step in plan), plan
    assert not any(step.startswith("SCAN") for step in plan), plan
