"""A crash injected between any two steps of the flow: on retry, no duplicate and nothing lost.

Each run injects one crash at the n-th occurrence of one step — a store commit (the unit of work
rolls back), a queue send or delete (done, then the process dies before the next step), a Sales
call (the lead exists in Sales, then the process dies before recording it), an email send (delivered,
then the process dies before marking it) — and drives the flow on as the host would: messages that
failed come back after their visibility timeout, the timer runs again. The end state must equal the
crash-free one.
"""
from __future__ import annotations

from contextlib import contextmanager

import pytest

from shared.adapters.clock import ManualClock
from shared.bootstrap import Container, build_queue, build_sales, build_store, build_transport
from shared.config import Settings
from shared.domain.model import ProspectStatus
from shared.queue_worker import QueueRules, drain_queues
from tests.services.flow import DECISIONS_ONLY, count, sales_count, signup_body


class Crash(Exception):
    """The process died here."""


class Faults:
    def __init__(self, point: str | None = None, at: int = 0):
        self.point, self.at = point, at
        self.seen: dict[str, int] = {}

    def step(self, point: str) -> None:
        self.seen[point] = self.seen.get(point, 0) + 1
        if point == self.point and self.seen[point] == self.at:
            raise Crash(f"{point} #{self.at}")


class CrashingStore:
    def __init__(self, inner, faults: Faults):
        self._inner, self._faults = inner, faults
        self.database = inner.database

    @contextmanager
    def unit_of_work(self, read_only: bool = False):
        with self._inner.unit_of_work(read_only) as uow:
            yield uow
            if not read_only:
                self._faults.step("store.commit")  # raising here rolls the unit of work back

    def settle_prospect_directory(self, limit: int) -> int:
        return self._inner.settle_prospect_directory(limit)

    def close(self):
        self._inner.close()


class CrashingQueue:
    def __init__(self, inner, faults: Faults):
        self._inner, self._faults = inner, faults

    def send(self, queue, body, **kwargs):
        self._faults.step("queue.before_send")
        message_id = self._inner.send(queue, body, **kwargs)
        self._faults.step("queue.send")
        return message_id

    def delete(self, message):
        self._inner.delete(message)
        self._faults.step("queue.delete")

    def __getattr__(self, name):
        return getattr(self._inner, name)


class CrashingSales:
    def __init__(self, inner, faults: Faults):
        self._inner, self._faults = inner, faults

    def create_lead(self, draft):
        snapshot = self._inner.create_lead(draft)
        self._faults.step("sales.create_lead")
        return snapshot

    def __getattr__(self, name):
        return getattr(self._inner, name)


class CrashingTransport:
    def __init__(self, inner, faults: Faults):
        self._inner, self._faults = inner, faults

    def send(self, email):
        self._inner.send(email)
        self._faults.step("email.send")

    def __getattr__(self, name):
        return getattr(self._inner, name)


def build(tmp_path, faults: Faults) -> Container:
    settings = Settings.from_env(DECISIONS_ONLY, data_dir=tmp_path)
    clock = ManualClock()
    plain_queue = build_queue(settings, clock)
    # Sales emits its outcomes through the plain queue: a lost webhook is the reconciliation's
    # business, not this test's.
    sales = build_sales(settings, plain_queue, clock)
    return Container.build(
        settings, clock=clock, store=CrashingStore(build_store(settings), faults),
        queue=CrashingQueue(plain_queue, faults), sales=CrashingSales(sales, faults),
        transport=CrashingTransport(build_transport(settings), faults),
    )


def run_to_the_end(c: Container, decisions: dict[str, str]) -> None:
    """Drive the flow through crashes: retry the POST with its key, rerun the timer, redeliver."""
    keys = [f"key-{n}" for n in range(len(decisions))]
    for n, key in enumerate(keys):
        for _ in range(3):
            try:
                c.intake.submit(signup_body(n), idempotency_key=key)
                break
            except Crash:
                continue
    decided: set[str] = set()
    for _ in range(30):
        try:
            c.channel_sync.run()
        except Crash:
            pass
        try:
            drain_queues(c.queue, c.queue_handlers(), QueueRules(visibility_timeout=5))
        except Crash:
            pass
        for lead in c.sales.b2b_leads(state=None):
            number = lead["prospect_number"]
            if number in decided:
                continue
            decision = decisions[number]
            if decision == "disqualify":
                c.sales.disqualify(lead["leadid"])
            else:
                opportunity = c.sales.qualify(lead["leadid"]).opportunity_id
                (c.sales.win if decision == "win" else c.sales.lose)(opportunity)
            decided.add(number)
        c.clock.advance(700)  # past the sweep grace, retry delays and processing leases


DECISIONS = {"PRO-000001": "win", "PRO-000002": "disqualify", "PRO-000003": "lose"}


def end_state(c: Container) -> dict:
    return {
        "prospects": sorted((p.number, p.status.value, p.hierarchy_id) for p in c.operator.prospects()),
        "signups": count(c, "signups"),
        "leads": sales_count(c, "leads"),
        "notes": sales_count(c, "annotations"),
        "customers": count(c, "customers"),
        "hierarchies": count(c, "hierarchies"),
        "members": count(c, "members"),
        "emails_delivered": count(c, "emails", "WHERE status = 'delivered'"),
        "eml_files": len(c.transport.list()),
        "poison": sum(c.operator.poison_counts().values()),
        "events": count(c, "events"),
    }


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    faults = Faults()
    c = build(tmp_path_factory.mktemp("reference"), faults)
    run_to_the_end(c, DECISIONS)
    state = end_state(c)
    assert state["prospects"] == [("PRO-000001", "Approved", "CH-000001"), ("PRO-000002", "Rejected", None),
                                  ("PRO-000003", "Rejected", None)]
    assert state["eml_files"] == 3 and state["leads"] == 3 and state["poison"] == 0
    return state, dict(faults.seen)


POINTS = ["store.commit", "queue.before_send", "queue.send", "queue.delete", "sales.create_lead", "email.send"]


def test_the_reference_run_passes_every_step(reference):
    _, seen = reference
    assert set(seen) == set(POINTS)


@pytest.mark.parametrize("point", POINTS)
def test_crash_then_retry_ends_like_no_crash(tmp_path, reference, point):
    expected, seen = reference
    for at in range(1, seen[point] + 1):
        faults = Faults(point, at)
        c = build(tmp_path / f"{point}-{at}", faults)
        run_to_the_end(c, DECISIONS)
        assert faults.seen.get(point, 0) >= at, "the crash was injected"
        assert end_state(c) == expected, f"crash at {point} #{at}"
        assert c.operator.prospects(ProspectStatus.PENDING) == [], f"crash at {point} #{at}"
