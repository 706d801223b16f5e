"""The back office's list on SQLite: every way into it reads an index in the list's order (no scan of the
prospects, no sort of them all), and a database from before the list existed gets its search keys and
counts once, when it is first opened."""
from __future__ import annotations

import sqlite3
from datetime import timedelta

import pytest

from shared.adapters.sqlite_store import SqliteStore
from shared.domain.model import ProspectStatus
from shared.domain.prospect_directory import Position, ProspectFilter, search_prefix
from tests.contract.factories import T0, at, prospect
from tests.threads import run_in_threads


@pytest.fixture
def store(tmp_path):
    built = SqliteStore(tmp_path / "state.sqlite3")
    yield built
    built.close()


def plan(store: SqliteStore, where: ProspectFilter, newest_first: bool = True, after: Position | None = None) -> str:
    """The query plan of the store's own SQL for this list (captured as it runs)."""
    statements: list[str] = []
    with store.unit_of_work(read_only=True) as uow:
        uow._db.set_trace_callback(statements.append)
        uow.prospect_directory(where, newest_first=newest_first, after=after, limit=50)
        uow._db.set_trace_callback(None)
        [sql] = [s for s in statements if s.startswith("SELECT data FROM prospects")]
        rows = uow._db.execute("EXPLAIN QUERY PLAN " + sql).fetchall()
    return "\n".join(row["detail"] for row in rows)


AFTER = Position(at(5000), "PRO-000050")


@pytest.mark.parametrize("where, index", [
    (ProspectFilter(), "prospects_by_received"),
    (ProspectFilter(status=ProspectStatus.PENDING), "prospects_by_status"),
    (ProspectFilter(status=ProspectStatus.PENDING, received_from=T0, received_to=at(9999)), "prospects_by_status"),
    (ProspectFilter(attention=True), "prospects_flagged"),
    (ProspectFilter(channel="b2b-web"), "prospects_by_channel"),
    (ProspectFilter(received_from=T0, received_to=at(9999)), "prospects_by_received"),
], ids=["all", "status", "status-between", "flagged", "channel", "between"])
@pytest.mark.parametrize("newest_first", [True, False], ids=["newest", "oldest"])
@pytest.mark.parametrize("after", [None, AFTER], ids=["first-page", "deep-page"])
def test_each_page_reads_an_index_in_the_lists_order(store, where, index, newest_first, after):
    text = plan(store, where, newest_first, after)
    assert f"USING INDEX {index}" in text, text
    assert "TEMP B-TREE" not in text, text  # no sort of every matching row: the index gives the order
    assert "SCAN prospects\n" not in text + "\n", text


def test_a_search_starts_from_its_keys(store):
    text = plan(store, ProspectFilter(search=search_prefix("fabrikam")))
    assert "prospect_search" in text and "USING PRIMARY KEY" in text, text  # the key range, then the matches


def test_counts_come_from_a_table_the_database_keeps(store):
    """Triggers keep prospect_counts in the prospect's own transaction, whoever writes to the file."""
    with store.unit_of_work() as uow:
        uow.add_prospect(prospect(1))
        uow.add_prospect(prospect(2))
    with sqlite3.connect(store.database.path) as db:  # another writer, not this adapter
        db.execute("UPDATE prospects SET status = 'Rejected' WHERE number = 'PRO-000002'")
        db.execute("DELETE FROM prospects WHERE number = 'PRO-000001'")
    with store.unit_of_work(read_only=True) as uow:
        assert uow.prospect_counts() == {"Pending": 0, "Approved": 0, "Rejected": 1, "attention": 0}


def old_database(path, count: int) -> list:
    """A database as it was before the list: prospects, without search keys, counts or upgrade marker."""
    older = SqliteStore(path)
    made = [prospect(n, created=T0 + timedelta(minutes=n),
                     status=ProspectStatus.APPROVED if n % 2 else ProspectStatus.PENDING) for n in range(1, count + 1)]
    with older.unit_of_work() as uow:
        for p in made:
            uow.add_prospect(p)
    older.close()
    with sqlite3.connect(path) as db:
        db.executescript("DROP TABLE prospect_search; DROP TABLE prospect_counts; DROP TABLE upgrades;"
                         "DROP TRIGGER prospects_counted_on_insert; DROP TRIGGER prospects_counted_on_update;"
                         "DROP TRIGGER prospects_counted_on_delete;")
    return made


def test_an_older_database_gets_its_search_keys_and_counts_once(tmp_path):
    path = tmp_path / "state.sqlite3"
    old_database(path, 5)
    store = SqliteStore(path)
    try:
        with store.unit_of_work(read_only=True) as uow:
            assert uow.prospect_counts() == {"Pending": 2, "Approved": 3, "Rejected": 0, "attention": 0}
            found = uow.prospect_directory(ProspectFilter(search=search_prefix("asa3@")), newest_first=True,
                                           after=None, limit=10)
        assert [row.number for row in found] == ["PRO-000003"]
        with store.unit_of_work() as uow:  # the triggers count from here on
            uow.add_prospect(prospect(6))
    finally:
        store.close()
    reopened = SqliteStore(path)  # done once: opening again recounts nothing
    try:
        with reopened.unit_of_work(read_only=True) as uow:
            assert uow.prospect_counts()["Pending"] == 3
    finally:
        reopened.close()


def test_processes_opening_an_older_database_at_once_upgrade_it_once(tmp_path):
    for attempt in range(10):  # a race: several rounds make losing it likely where it can be lost
        path = tmp_path / f"state-{attempt}.sqlite3"
        old_database(path, 4)
        stores: list[SqliteStore] = []
        try:
            run_in_threads([lambda: stores.append(SqliteStore(path))] * 6)
            with stores[0].unit_of_work(read_only=True) as uow:
                assert uow.prospect_counts() == {"Pending": 2, "Approved": 2, "Rejected": 0, "attention": 0}
        finally:
            for store in stores:
                store.close()
