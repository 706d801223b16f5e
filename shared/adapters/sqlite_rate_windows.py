"""The intake's rate-limit windows and shared secrets on SQLite (``Store.count_in_window``,
``expire_rate_windows``, ``shared_secret``): kept apart from the store's main module, which they share a
file and write lock with."""
from __future__ import annotations

import secrets
from datetime import datetime

SCHEMA = """
-- One row per key (a hashed client address or email domain): the window it is counting and how many requests
-- it counted. A new window replaces the row, so a key has one row; rows of keys that went quiet are deleted
-- by expire_rate_windows once their window ended.
CREATE TABLE IF NOT EXISTS rate_windows (
    key TEXT PRIMARY KEY, window_start INTEGER NOT NULL, window_end INTEGER NOT NULL, n INTEGER NOT NULL);
CREATE INDEX IF NOT EXISTS rate_windows_end ON rate_windows (window_end);
CREATE TABLE IF NOT EXISTS shared_secrets (name TEXT PRIMARY KEY, value BLOB NOT NULL);
"""

# Counted when the window is newer than the row's (a fresh count) or the row's has room; an older window
# (an instance whose clock is behind) counts in the row's newer one. When neither holds, the upsert does
# nothing and RETURNING gives no row: over the limit, nothing written.
_COUNT = """
INSERT INTO rate_windows (key, window_start, window_end, n) VALUES (?, ?, ?, 1)
ON CONFLICT (key) DO UPDATE SET
    n = CASE WHEN excluded.window_start > rate_windows.window_start THEN 1 ELSE rate_windows.n + 1 END,
    window_end = CASE WHEN excluded.window_start > rate_windows.window_start
                      THEN excluded.window_end ELSE rate_windows.window_end END,
    window_start = max(excluded.window_start, rate_windows.window_start)
WHERE excluded.window_start > rate_windows.window_start OR rate_windows.n < ?
RETURNING n
"""


def _ms(at: datetime) -> int:
    return int(at.timestamp() * 1000)


def count_in_windows(database, windows) -> list[bool]:
    with database.transaction() as connection:
        return [limit > 0 and connection.execute(_COUNT, (key, _ms(start), _ms(end), limit)).fetchone() is not None
                for key, start, end, limit in windows]


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
