"""What the SQLite adapters share: one connection per thread, WAL, and explicit transactions."""
from __future__ import annotations

import sqlite3
import threading
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator


class SqliteDatabase:
    """A database file opened once per thread (sqlite3 connections must not cross threads mid-transaction)."""

    def __init__(self, path: Path | str, schema: str):
        self.path = str(path)
        if self.path != ":memory:":
            Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        self._local = threading.local()
        self._all: list[sqlite3.Connection] = []
        self._lock = threading.Lock()
        self.connection().executescript(schema)

    def connection(self) -> sqlite3.Connection:
        connection = getattr(self._local, "connection", None)
        if connection is None:
            # isolation_level=None: we issue BEGIN ourselves so that writers take the lock up front.
            connection = sqlite3.connect(self.path, timeout=60, isolation_level=None, check_same_thread=False)
            connection.execute("PRAGMA journal_mode=WAL")
            connection.execute("PRAGMA synchronous=NORMAL")
            connection.execute("PRAGMA busy_timeout=60000")
            connection.row_factory = sqlite3.Row
            self._local.connection = connection
            with self._lock:
                self._all.append(connection)
        return connection

    @contextmanager
    def transaction(self, read_only: bool = False) -> Iterator[sqlite3.Connection]:
        """BEGIN IMMEDIATE for writers: the write lock is taken before the first read, so a unit of
        work never decides on data that another writer changes before it commits."""
        connection = self.connection()
        connection.execute("BEGIN" if read_only else "BEGIN IMMEDIATE")
        try:
            yield connection
        except BaseException:
            connection.execute("ROLLBACK")
            raise
        else:
            connection.execute("COMMIT")

    def close(self) -> None:
        with self._lock:
            for connection in self._all:
                try:
                    connection.close()
                except sqlite3.ProgrammingError:
                    pass
            self._all.clear()
        self._local = threading.local()
