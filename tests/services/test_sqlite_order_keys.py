"""A SQLite database from before order ids were per partner (the table ``reservations``, keyed by the order
id alone) opens with its reservations kept, under the partner's key, and the old table gone."""
from __future__ import annotations

import sqlite3

from shared.adapters.sqlite_store import SqliteStore
from tests.contract.factories import reservation
from tests.threads import run_in_threads


def old_database(path) -> list:
    held = [reservation("SO-1", "CH-000001", "10.00"), reservation("SO-2", "CH-000002", "20.00")]
    with sqlite3.connect(path) as db:
        db.execute("CREATE TABLE reservations (order_id TEXT PRIMARY KEY, hierarchy_id TEXT NOT NULL, data TEXT NOT NULL)")
        db.executemany("INSERT INTO reservations VALUES (?, ?, ?)",
                       [(r.order_id, r.hierarchy_id, r.model_dump_json()) for r in held])
    return held


def test_reservations_of_an_older_database_move_to_the_partner_key(tmp_path):
    path = tmp_path / "state.sqlite3"
    held = old_database(path)
    store = SqliteStore(path)
    try:
        with store.unit_of_work(read_only=True) as uow:
            assert uow.get_reservation("CH-000001", "SO-1") == held[0]
            assert uow.get_reservation("CH-000002", "SO-2") == held[1]
            assert uow.get_reservation("CH-000002", "SO-1") is None
        with store.unit_of_work() as uow:  # the other partner may use the id now
            uow.save_reservation(reservation("SO-1", "CH-000002", "5.00"))
    finally:
        store.close()
    with sqlite3.connect(path) as db:
        tables = {name for (name,) in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    assert "reservations" not in tables and "order_reservations" in tables
    reopened = SqliteStore(path)  # opening again (the move ran already) changes nothing
    try:
        with reopened.unit_of_work(read_only=True) as uow:
            assert uow.get_reservation("CH-000001", "SO-1") == held[0]
            assert uow.get_reservation("CH-000002", "SO-1").amount == 5
    finally:
        reopened.close()


def test_processes_opening_an_older_database_at_once_move_it_once(tmp_path):
    """Hosts and the CLI open the same file: the move is one transaction, so none of them fails on it."""
    for attempt in range(40):  # a race: several rounds make losing it likely where it can be lost
        path = tmp_path / f"state-{attempt}.sqlite3"
        held = old_database(path)
        stores: list[SqliteStore] = []
        try:
            run_in_threads([lambda: stores.append(SqliteStore(path))] * 8)
            with stores[0].unit_of_work(read_only=True) as uow:
                assert [uow.get_reservation(r.hierarchy_id, r.order_id) for r in held] == held
        finally:
            for store in stores:
                store.close()
