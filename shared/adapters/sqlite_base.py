"""What the SQLite adapters share: pooled connections, WAL, and explicit transactions."""
from __future__ import annotations

import sqlite3
import threading
import time
from contextlib import contextmanager, nullcontext
from pathlib import Path
from typing import Iterator

IDLE_CONNECTIONS = 8


def _use_write_ahead_log(connection: sqlite3.Connection, patience_seconds: float = 60.0) -> None:
    """Switch the file to WAL, waiting out other openers.

    Changing the journal mode needs the file to itself, and SQLite answers "database is locked" at once
    (its busy handler is not consulted) while another process or connection is opening the same file;
    hosts and the CLI do that together. A file already in WAL needs no switch at all."""
    deadline = time.monotonic() + patience_seconds
    while True:
        try:
            if connection.execute("PRAGMA journal_mode").fetchone()[0].lower() != "wal":
                connection.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as error:
            if "locked" not in str(error) or time.monotonic() > deadline:
                raise
            time.sleep(0.005)


class SqliteDatabase:
    """A database file with a small pool of connections, each used by one transaction at a time.

    A pool rather than one connection per thread: hosts start a thread per HTTP connection, and
    per-thread connections would stay open after their threads end."""

    def __init__(self, path: Path | str, schema: str):
        self.path = str(path)
        Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        self._idle: list[sqlite3.Connection] = []
        self._pool_lock = threading.Lock()
        # Writers of this process queue here instead of in SQLite's busy handler, whose sleeps of up
        # to 100 ms would dominate tail latency; other processes still wait through busy_timeout.
        self._writer = threading.Lock()
        self._closed = False
        with self._checkout() as connection:
            connection.executescript(schema)

    def _open(self) -> sqlite3.Connection:
        # isolation_level=None: we issue BEGIN ourselves so that writers take the lock up front.
        connection = sqlite3.connect(self.path, timeout=60, isolation_level=None, check_same_thread=False)
        connection.execute("PRAGMA busy_timeout=60000")
        _use_write_ahead_log(connection)
        connection.execute("PRAGMA synchronous=NORMAL")
        connection.row_factory = sqlite3.Row
        return connection

    @contextmanager
    def _checkout(self) -> Iterator[sqlite3.Connection]:
        with self._pool_lock:
            connection = self._idle.pop() if self._idle else None
        if connection is None:
            connection = self._open()
        try:
            yield connection
        finally:
            with self._pool_lock:
                keep = not self._closed and len(self._idle) < IDLE_CONNECTIONS and not connection.in_transaction
                if keep:
                    self._idle.append(connection)
            if not keep:
                connection.close()

    @contextmanager
    def transaction(self, read_only: bool = False) -> Iterator[sqlite3.Connection]:
        """BEGIN IMMEDIATE for writers: the write lock is taken before the first read, so a unit of
        work never decides on data that another writer changes before it commits."""
        with self._checkout() as connection, (nullcontext() if read_only else self._writer):
            connection.execute("BEGIN" if read_only else "BEGIN IMMEDIATE")
            try:
                yield connection
                connection.execute("COMMIT")
            except BaseException:
                if connection.in_transaction:
                    connection.execute("ROLLBACK")
                raise

    def checkpoint(self) -> None:
        """Copy the write-ahead log into the file and empty it: the log's older page versions are gone too."""
        with self._checkout() as connection, self._writer:
            connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    def write_statement(self, sql: str, params: tuple = ()) -> list[sqlite3.Row]:
        """One write statement on its own, which SQLite makes atomic (no BEGIN/COMMIT around it: a single
        upsert that needs nothing read before it), queued behind this process's other writers; its rows."""
        with self._checkout() as connection, self._writer:
            return connection.execute(sql, params).fetchall()

    def close(self) -> None:
        with self._pool_lock:
            self._closed = True
            idle, self._idle = self._idle, []
        for connection in idle:
            connection.close()
