"""The intake's rate-limit windows and shared secrets on SQLite (``Store.count_in_window``,
``expire_rate_windows``, ``shared_secret``), in a database file of their own beside the store's (its own
write lock: counting never queues behind a signup's commit)."""
from __future__ import annotations

import secrets
from datetime import datetime

SCHEMA = """
-- One row per key (a hashed client address or email domain): the window it is counting, how many requests
-- it counted and its limit. A new window replaces the row, so a key has one row; rows of keys that went quiet
-- are deleted by expire_rate_windows once their window ended.
CREATE TABLE IF NOT EXISTS rate_windows (
    key TEXT PRIMARY KEY, window_start INTEGER NOT NULL, window_end INTEGER NOT NULL, n INTEGER NOT NULL,
    lim INTEGER NOT NULL) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS rate_windows_end ON rate_windows (window_end);
CREATE TABLE IF NOT EXISTS shared_secrets (name TEXT PRIMARY KEY, value BLOB NOT NULL);
"""

# Counted when the window is newer than the row's (a fresh count) or the row's has room; an older window
# (an instance whose clock is behind) counts in the row's newer one. When neither holds, the upsert leaves
# that row alone and RETURNING does not name it: over the limit, nothing written. One statement for all of a
# request's windows: SQLite makes it atomic by itself, so it needs no transaction around it (the defenses'
# cost per request is mostly this write).
_COUNT = """
INSERT INTO rate_windows (key, window_start, window_end, n, lim) VALUES {rows}
ON CONFLICT (key) DO UPDATE SET
    n = CASE WHEN excluded.window_start > rate_windows.window_start THEN 1 ELSE rate_windows.n + 1 END,
    window_end = CASE WHEN excluded.window_start > rate_windows.window_start
                      THEN excluded.window_end ELSE rate_windows.window_end END,
    window_start = max(excluded.window_start, rate_windows.window_start),
    lim = excluded.lim
WHERE excluded.window_start > rate_windows.window_start OR rate_windows.n < excluded.lim
RETURNING key
"""


def _ms(at: datetime) -> int:
    return int(at.timestamp() * 1000)


def count_in_windows(database, windows) -> list[bool]:
    counted = [(key, _ms(start), _ms(end), 1, limit) for key, start, end, limit in windows if limit > 0]
    if not counted:
        return [False] * len(windows)
    sql = _COUNT.format(rows=", ".join(["(?, ?, ?, ?, ?)"] * len(counted)))
    answered = {row[0] for row in database.write_statement(sql, tuple(value for row in counted for value in row))}
    return [limit > 0 and key in answered for key, _start, _end, limit in windows]


def expire_rate_windows(database, before: datetime, limit: int) -> int:
    with database.transaction() as connection:
        return connection.execute(
            "DELETE FROM rate_windows WHERE key IN "
            "(SELECT key FROM rate_windows WHERE window_end <= ? ORDER BY window_end LIMIT ?)",
            (_ms(before), limit)).rowcount


def shared_secret(database, name: str) -> bytes:
    with database.transaction() as connection:
        connection.execute("INSERT OR IGNORE INTO shared_secrets (name, value) VALUES (?, ?)",
                           (name, secrets.token_bytes(32)))
        return bytes(connection.execute("SELECT value FROM shared_secrets WHERE name = ?", (name,)).fetchone()[0])
