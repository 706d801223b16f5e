"""The Queue port on SQLite, with Azure Storage Queue semantics (visibility, dequeue count, pop receipt)."""
from __future__ import annotations

import uuid
from datetime import datetime, timezone
from pathlib import Path

from shared.adapters.sqlite_base import SqliteDatabase
from shared.ports import Clock, MessageNotFound, ReceivedMessage

_SCHEMA = """
CREATE TABLE IF NOT EXISTS messages (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    queue TEXT NOT NULL, id TEXT NOT NULL UNIQUE, body TEXT NOT NULL,
    inserted_at REAL NOT NULL, visible_at REAL NOT NULL,
    dequeue_count INTEGER NOT NULL DEFAULT 0, pop_receipt TEXT);
CREATE INDEX IF NOT EXISTS messages_visible ON messages (queue, visible_at, seq);
"""


class SqliteQueue:
    def __init__(self, path: Path | str, clock: Clock):
        self.database = SqliteDatabase(path, _SCHEMA)
        self._clock = clock

    def _now(self) -> float:
        return self._clock.now().timestamp()

    def send(self, queue: str, body: str, *, delay_seconds: float = 0) -> str:
        message_id = str(uuid.uuid4())
        now = self._now()
        with self.database.transaction() as db:
            db.execute(
                "INSERT INTO messages (queue, id, body, inserted_at, visible_at) VALUES (?, ?, ?, ?, ?)",
                (queue, message_id, body, now, now + max(delay_seconds, 0)),
            )
        return message_id

    def receive(self, queue: str, *, max_messages: int, visibility_timeout: float) -> list[ReceivedMessage]:
        now = self._now()
        with self.database.transaction() as db:
            rows = db.execute(
                "SELECT seq, id, body, inserted_at, dequeue_count FROM messages "
                "WHERE queue = ? AND visible_at <= ? ORDER BY visible_at, seq LIMIT ?",
                (queue, now, max_messages),
            ).fetchall()
            received = []
            for row in rows:
                receipt = uuid.uuid4().hex
                db.execute(
                    "UPDATE messages SET visible_at = ?, dequeue_count = dequeue_count + 1, pop_receipt = ? WHERE seq = ?",
                    (now + visibility_timeout, receipt, row["seq"]),
                )
                received.append(self._message(queue, row, receipt, row["dequeue_count"] + 1))
        return received

    @staticmethod
    def _message(queue: str, row, receipt: str, dequeue_count: int) -> ReceivedMessage:
        return ReceivedMessage(
            queue=queue,
            id=row["id"],
            pop_receipt=receipt,
            body=row["body"],
            dequeue_count=dequeue_count,
            inserted_at=datetime.fromtimestamp(row["inserted_at"], timezone.utc),
        )

    def delete(self, message: ReceivedMessage) -> None:
        with self.database.transaction() as db:
            deleted = db.execute(
                "DELETE FROM messages WHERE id = ? AND pop_receipt = ?", (message.id, message.pop_receipt)
            ).rowcount
        if not deleted:
            raise MessageNotFound(f"message {message.id} is gone or was received again")

    def release(self, message: ReceivedMessage, *, visibility_timeout: float) -> None:
        with self.database.transaction() as db:
            updated = db.execute(
                "UPDATE messages SET visible_at = ? WHERE id = ? AND pop_receipt = ?",
                (self._now() + visibility_timeout, message.id, message.pop_receipt),
            ).rowcount
        if not updated:
            raise MessageNotFound(f"message {message.id} is gone or was received again")

    def peek(self, queue: str, *, max_messages: int) -> list[ReceivedMessage]:
        with self.database.transaction(read_only=True) as db:
            # Like Azure's peek: only what a receive could take now, without taking it.
            rows = db.execute(
                "SELECT id, body, inserted_at, dequeue_count FROM messages WHERE queue = ? AND visible_at <= ? "
                "ORDER BY seq LIMIT ?",
                (queue, self._now(), max_messages),
            ).fetchall()
        return [self._message(queue, row, "", row["dequeue_count"]) for row in rows]

    def get(self, queue: str, message_id: str) -> ReceivedMessage | None:
        with self.database.transaction(read_only=True) as db:
            row = db.execute(
                "SELECT id, body, inserted_at, dequeue_count FROM messages WHERE queue = ? AND id = ?",
                (queue, message_id),
            ).fetchone()
        return None if row is None else self._message(queue, row, "", row["dequeue_count"])

    def remove(self, queue: str, message_id: str) -> bool:
        with self.database.transaction() as db:
            return db.execute("DELETE FROM messages WHERE queue = ? AND id = ?", (queue, message_id)).rowcount > 0

    def count(self, queue: str) -> int:
        with self.database.transaction(read_only=True) as db:
            return db.execute("SELECT COUNT(*) FROM messages WHERE queue = ?", (queue,)).fetchone()[0]

    def close(self) -> None:
        self.database.close()
