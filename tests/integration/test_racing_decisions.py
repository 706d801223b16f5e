"""Back-office decisions racing on one prospect from several instances on one storage (Azure Tables on
Azurite, and SQLite): the first decision to commit wins; a racer that asked for the same decision gets
it (unchanged), one that asked for the other gets a DecisionConflict naming the winner — never a storage
error, whatever the timing. Each decision's effects exist once."""
from __future__ import annotations

import threading
import uuid

import pytest

from shared.bootstrap import Container
from shared.config import Settings
from shared.domain.errors import DecisionConflict
from shared.domain.model import ProspectStatus
from shared.services.back_office import Decision
from tests.instances import instances_on_one_storage
from tests.services.flow import signup_body
from tests.threads import run_in_threads

PROSPECTS = 4
INSTANCES = 3  # containers on the same storage, as instances of a scaled-out app are


@pytest.fixture(params=["sqlite", "azure"])
def instances(request, tmp_path):
    """Several containers on one storage: one SQLite folder, or one table and its queues on Azurite."""
    with instances_on_one_storage(request, tmp_path, request.param, INSTANCES, "race") as built:
        yield built


def pending(c: Container, n: int) -> list[str]:
    for i in range(1, n + 1):
        c.intake.submit(signup_body(i))
    c.channel_sync.run()
    return sorted(p.number for p in c.operator.prospects(ProspectStatus.PENDING))


def racing(instances: list[Container], number: str, plan: list[str]) -> list[Decision | DecisionConflict]:
    """Each decision of ``plan`` ("approve"/"reject") on its own thread and instance, released together."""
    start = threading.Barrier(len(plan))

    def decide(index: int, action: str):
        back_office = instances[index % len(instances)].back_office
        start.wait()
        try:
            if action == "approve":
                return back_office.approve(number, f"op{index}")
            return back_office.reject(number, "not for us", f"op{index}")
        except DecisionConflict as conflict:
            return conflict

    return run_in_threads([lambda i=i, a=a: decide(i, a) for i, a in enumerate(plan)])


@pytest.mark.parametrize("plan", [["approve"] * 4, ["reject"] * 4, ["approve", "reject"] * 2],
                         ids=["approves", "rejects", "approve-vs-reject"])
def test_racing_decisions_answer_the_winner_whatever_the_timing(instances, plan):
    numbers = pending(instances[0], PROSPECTS)
    for number in numbers:
        answers = racing(instances, number, plan)
        prospect = instances[0].operator.prospect(number).prospect
        assert prospect.status is not ProspectStatus.PENDING
        winner = prospect.status
        changed = [a for a in answers if isinstance(a, Decision) and a.changed]
        assert len(changed) == 1 and changed[0].decided_by == prospect.decided_by
        for action, answer in zip(plan, answers):
            asked = ProspectStatus.APPROVED if action == "approve" else ProspectStatus.REJECTED
            if asked is winner:  # the same decision: what committed, changed or not
                assert isinstance(answer, Decision), answer
                assert (answer.status, answer.decided_by) == (winner, prospect.decided_by)
            else:  # the other decision: refused, naming the one that won, who made it and when
                assert isinstance(answer, DecisionConflict), answer
                text = str(answer)
                assert number in text and winner.value in text and prospect.decided_by in text
                assert prospect.decided_at.isoformat(timespec="seconds") in text
                assert answer.status == winner.value and answer.decided_by == prospect.decided_by
    # every decision's effects once: one email per prospect, one hierarchy per approval
    emails = instances[0].operator.emails(limit=100)
    assert sorted(e.prospect_id for e in emails) == sorted(instances[0].operator.prospect(n).prospect.id
                                                           for n in numbers)
    approved = instances[0].operator.prospects(ProspectStatus.APPROVED)
    assert len(instances[0].operator.partners()) == len(approved)


def test_a_transaction_that_lost_the_race_is_a_conflict_whichever_row_fails_first(azurite, tmp_path):
    """Azure fails an entity-group transaction on its first failing operation: the loser of two writers of
    one prospect may hear EntityAlreadyExists (a row the winner created) before the ETag mismatch that is
    the cause. That is a ConcurrencyConflict (decide again), not a DuplicateRecord; a row that exists with
    nothing read changed is still a DuplicateRecord."""
    from shared.domain.errors import ConcurrencyConflict, DuplicateRecord

    suffix = uuid.uuid4().hex[:10]
    c = Container.build(Settings.from_env({
        "STATE_BACKEND": "azure", "AzureWebJobsStorage": azurite.connection_string, "STATE_TABLE": f"lost{suffix}",
        "SALES_MODE": "none"}, data_dir=tmp_path))
    try:
        number = pending(c, 1)[0]
        store = c.store

        def write(uow, prospect, row: str) -> None:
            # the create goes first in the transaction, the guarded update of the prospect second
            uow._create(prospect.id, row, prospect, kind="probe")
            uow.save_prospect(prospect.flagged(row, prospect.updated_at))

        with pytest.raises(ConcurrencyConflict):
            with store.unit_of_work() as loser:
                prospect = loser.find_prospect_by_number(number)
                with store.unit_of_work() as winner:
                    write(winner, winner.find_prospect_by_number(number), "probe-1")
                write(loser, prospect, "probe-1")
        with pytest.raises(DuplicateRecord):
            with store.unit_of_work() as late:
                write(late, late.find_prospect_by_number(number), "probe-1")
    finally:
        c.store.close()
        c.queue.close()
