"""Outcome processing under the host's concurrency on Azure Tables (Azurite): a prospect's "qualified" and
"won" usually land in one queue batch and run side by side. On one instance they take turns (no commit
loses a race); across instances a lost race is run again at once. Either way no message goes back to the
queue for the visibility timeout (10 s), and each outcome takes effect once."""
from __future__ import annotations

import threading
import uuid

import pytest

from shared.adapters.azure_table_store import TableUnitOfWork
from shared.bootstrap import Container
from shared.config import Settings
from shared.domain.errors import ConcurrencyConflict
from shared.domain.model import ProspectStatus
from tests.services.flow import signup_body, take_all, work
from tests.threads import run_in_threads

PROSPECTS = 6


@pytest.fixture
def instances(azurite, tmp_path):
    """Two containers on one table and its queues, as two instances of the app."""
    suffix = uuid.uuid4().hex[:10]
    environ = {"STATE_BACKEND": "azure", "AzureWebJobsStorage": azurite.connection_string,
               "STATE_TABLE": f"outcomes{suffix}", "LEAD_QUEUE": f"leads-{suffix}",
               "OUTCOME_QUEUE": f"outcomes-{suffix}", "EMAIL_QUEUE": f"emails-{suffix}",
               "SEND_RECEIVED_EMAIL": "false"}  # the decisions' emails only
    built = [Container.build(Settings.from_env(environ, data_dir=tmp_path)) for _ in range(2)]
    yield built
    for c in built:
        for adapter in (c.store, c.queue, c.sales):
            adapter.close()


@pytest.fixture
def lost_commits(monkeypatch) -> list[str]:
    """Every commit that lost a race on the table store (ConcurrencyConflict), whoever then retried it."""
    lost: list[str] = []
    commit = TableUnitOfWork.commit

    def counted(self) -> None:
        try:
            commit(self)
        except ConcurrencyConflict as conflict:
            lost.append(str(conflict))
            raise

    monkeypatch.setattr(TableUnitOfWork, "commit", counted)
    return lost


def won_pairs(c: Container) -> list[tuple[str, str]]:
    """PROSPECTS prospects qualified and won in Sales: each one's ("qualified", "won") messages, unapplied."""
    for n in range(1, PROSPECTS + 1):
        c.intake.submit(signup_body(n))
    c.channel_sync.run()
    work(c)
    for lead in c.sales.b2b_leads():
        c.sales.win(c.sales.qualify(lead["leadid"]).opportunity_id)
    bodies = take_all(c, c.settings.outcome_queue)
    return list(zip(bodies[0::2], bodies[1::2]))


def side_by_side(handlers: list, pair: tuple[str, str]) -> list[str]:
    start = threading.Barrier(2)

    def handle(handler, body: str) -> str:
        start.wait()
        return handler(body)

    return run_in_threads([lambda h=h, b=b: handle(h, b) for h, b in zip(handlers, pair)])


def assert_applied(results: list[str]) -> None:
    # a "won" that overtook its "qualified" built the customers itself: the "qualified" is then a duplicate
    assert "applied" in results and set(results) <= {"applied", "duplicate"}, results


def assert_each_approved_once(c: Container) -> None:
    assert len(c.operator.prospects(ProspectStatus.APPROVED)) == PROSPECTS
    assert len(c.operator.partners()) == PROSPECTS
    assert len(c.operator.emails()) == PROSPECTS


def test_one_prospects_outcomes_take_turns_on_one_instance(instances, lost_commits):
    c = instances[0]
    for pair in won_pairs(c):
        assert_applied(side_by_side([c.propagation.handle] * 2, pair))
    assert lost_commits == []
    assert_each_approved_once(c)


def test_a_race_lost_to_another_instance_is_run_again_at_once(instances, lost_commits):
    first, second = instances
    for pair in won_pairs(first):
        assert_applied(side_by_side([first.propagation.handle, second.propagation.handle], pair))
    assert lost_commits, "the instances never raced: the test proves nothing"
    assert_each_approved_once(first)
