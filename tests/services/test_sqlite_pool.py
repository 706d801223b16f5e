"""SQLite connections are pooled: a host that starts a thread per HTTP connection does not leak them."""
from __future__ import annotations

import os
import threading

from shared.adapters.sqlite_store import SqliteStore


def open_files() -> int:
    return len(os.listdir("/proc/self/fd"))


def test_threads_that_come_and_go_leave_no_connections_open(tmp_path):
    store = SqliteStore(tmp_path / "state.sqlite3")
    before = open_files()
    for _ in range(10):
        threads = [threading.Thread(target=_one_unit, args=(store,)) for _ in range(30)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    # 300 threads each opened the database; only the idle pool (a few connections, 2-3 files each) stays.
    assert open_files() - before <= 30
    store.close()
    assert open_files() - before <= 3


def _one_unit(store: SqliteStore) -> None:
    with store.unit_of_work() as uow:
        uow.number_for("pool-test", threading.current_thread().name)
