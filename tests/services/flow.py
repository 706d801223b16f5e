"""Helpers that drive the onboarding flow through the services, as the host and a salesperson would."""
from __future__ import annotations

from shared.bootstrap import Container
from shared.queue_worker import QueueRules, drain_queues


def signup_body(n: int = 1, language: str = "en") -> dict:
    return {
        "company": {"name": f"Company {n} & Sons", "phone": "+46 8 555 000 00",
                    "address": {"street": f"Road {n}", "city": "Uppsala", "zip_code": "753 10", "country": "se"}},
        "contact": {"first_name": f"First{n}", "last_name": f"Last{n}", "email": f"person{n}@Example.com",
                    "phone": "+46 70 000 00 00", "preferred_language": language},
        "comments": "Please call <b>me</b>",
        "channel_id": "b2b-web",
    }


def work(c: Container, rules: QueueRules | None = None) -> int:
    return drain_queues(c.queue, c.queue_handlers(), rules or QueueRules(visibility_timeout=0))


def count(c: Container, table: str, where: str = "", params: tuple = ()) -> int:
    """Rows in one of the SQLite store's tables (adapter-specific: only these tests look inside)."""
    with c.store.database.transaction(read_only=True) as connection:
        return connection.execute(f"SELECT COUNT(*) FROM {table} {where}", params).fetchone()[0]


def sales_count(c: Container, table: str) -> int:
    with c.sales.database.transaction(read_only=True) as connection:
        return connection.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0]


def take_all(c: Container, queue: str) -> list[str]:
    """Remove every message of a queue and return the bodies (to redeliver them in another order)."""
    bodies = []
    while True:
        batch = c.queue.receive(queue, max_messages=32, visibility_timeout=60)
        if not batch:
            return bodies
        for message in batch:
            bodies.append(message.body)
            c.queue.delete(message)
