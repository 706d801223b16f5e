"""SQLite connections are pooled: a host that starts a thread per HTTP connection does not leak them."""
from __future__ import annotations

import os
import threading

from pathlib import Path

from shared.adapters.sqlite_base import IDLE_CONNECTIONS
from shared.adapters.sqlite_store import SqliteStore
from tests.threads import run_in_threads


def files_open_under(folder: Path) -> int:
    """Only this database's files: other tests' sockets and threads come and go in the same process."""
    count = 0
    for fd in os.listdir("/proc/self/fd"):
        try:
            target = os.readlink(f"/proc/self/fd/{fd}")
        except OSError:  # closed between listing and reading
            continue
        count += target.startswith(str(folder))
    return count


def test_threads_that_come_and_go_leave_no_connections_open(tmp_path):
    store = SqliteStore(tmp_path / "state.sqlite3")
    for _ in range(10):
        run_in_threads([lambda: _one_unit(store)] * 30)
    # 300 threads used the database; a connection per thread would leave at least 600 files open. What
    # stays is the idle pool (database + WAL each, one shared-memory file) plus the descriptors SQLite
    # defers closing while another connection holds a lock on the file: a few dozen, not per thread.
    assert IDLE_CONNECTIONS <= files_open_under(tmp_path) <= 100
    store.close()
    assert files_open_under(tmp_path) == 0


def _one_unit(store: SqliteStore) -> None:
    with store.unit_of_work() as uow:
        uow.number_for("pool-test", threading.current_thread().name)
