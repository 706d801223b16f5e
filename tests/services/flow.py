"""Helpers that drive the onboarding flow through the services, as the host and a salesperson would."""
from __future__ import annotations

from shared.adapters.clock import ManualClock
from shared.bootstrap import Container
from shared.config import Settings
from shared.domain.model import ProspectStatus
from shared.queue_worker import QueueRules, drain_queues
from shared.services.reconciliation import WATERMARK

# These tests count what decisions and the sync write (emails included); the "we received your request" email
# that intake writes has tests of its own (tests/services/test_received_email.py), so it is off here.
DECISIONS_ONLY = {"SEND_RECEIVED_EMAIL": "false"}


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


def synced(c: Container, *ns: int) -> None:
    """Requests ``signup_body(n)`` for each n, made prospects by the sync, their queues worked off."""
    for n in ns:
        c.intake.submit(signup_body(n))
    c.channel_sync.run()
    work(c)


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


def watermark(c: Container):
    """The reconciliation's watermark: the newest Sales ``modifiedon`` it has read up to (None before any)."""
    with c.store.unit_of_work(read_only=True) as uow:
        return uow.get_watermark(WATERMARK)


# --- every Sales decision, for the exactly-once and reconciliation tests ------------------------------

PATHS = ["won", "disqualified", "lost", "won", "qualified-only"]


def decided_flow(tmp_path) -> tuple[Container, list[str]]:
    """Prospects with leads, decided in Sales; their outcome messages taken off the queue, unapplied."""
    c = Container.build(Settings.from_env(DECISIONS_ONLY, data_dir=tmp_path), clock=ManualClock())
    for n, _ in enumerate(PATHS):
        c.intake.submit(signup_body(n))
    c.channel_sync.run()
    work(c)
    for lead, path in zip(c.sales.b2b_leads(), PATHS):
        if path == "disqualified":
            c.sales.disqualify(lead["leadid"], 5)
            continue
        opportunity = c.sales.qualify(lead["leadid"]).opportunity_id
        if path == "won":
            c.sales.win(opportunity)
        elif path == "lost":
            c.sales.lose(opportunity, 5)
    return c, take_all(c, c.settings.outcome_queue)


def assert_exactly_once(c: Container) -> None:
    by_status = {s: len(c.operator.prospects(s)) for s in ProspectStatus}
    assert by_status == {ProspectStatus.APPROVED: 2, ProspectStatus.REJECTED: 2, ProspectStatus.PENDING: 1}
    # won ×2, lost and qualified-only were qualified: one Person and one Organization each
    assert count(c, "customers") == 2 * 4
    assert count(c, "hierarchies") == 2
    assert count(c, "members") == 2
    assert count(c, "emails") == 4
    assert len(c.transport.list()) == 4
    for prospect in c.operator.prospects(ProspectStatus.APPROVED):
        details = c.operator.prospect(prospect.number)
        assert details.hierarchy.name == prospect.request.company.name
        assert [(m.customer_id, m.role.value) for m in details.members] == [(prospect.person_customer_id, "Admin")]
    assert not c.operator.prospects(needs_attention=True)
