"""On Azure Table Storage the approval is one entity-group transaction: all of it, or none of it."""
from __future__ import annotations

import uuid

import pytest

from shared.bootstrap import Container
from shared.config import Settings
from shared.domain.model import ProspectStatus
from tests.services.flow import signup_body, take_all, work


@pytest.fixture
def azure_container(azurite, tmp_path):
    suffix = uuid.uuid4().hex[:10]
    c = Container.build(Settings.from_env({
        "STATE_BACKEND": "azure", "AzureWebJobsStorage": azurite.connection_string, "STATE_TABLE": f"atomic{suffix}",
        "LEAD_QUEUE": f"leads-{suffix}", "OUTCOME_QUEUE": f"outcomes-{suffix}", "EMAIL_QUEUE": f"emails-{suffix}",
    }, data_dir=tmp_path))
    yield c
    c.store.close()


def won_outcome(c: Container) -> str:
    """A prospect with its lead, qualified and won in Sales; returns the "won" message, not yet applied."""
    c.intake.submit(signup_body())
    c.channel_sync.run()
    work(c)
    lead = c.sales.b2b_leads()[0]
    c.sales.win(c.sales.qualify(lead["leadid"]).opportunity_id)
    qualified, won = take_all(c, c.settings.outcome_queue)
    c.propagation.handle(qualified)
    return won


class Refused(Exception):
    pass


def test_the_approval_commits_in_one_transaction(azure_container, monkeypatch):
    c = azure_container
    won = won_outcome(c)
    table = c.store.table
    transactions = []
    real = table.submit_transaction

    def spy(operations):
        transactions.append(operations)
        return real(operations)

    monkeypatch.setattr(table, "submit_transaction", spy)
    c.propagation.handle(won)
    approval = [ops for ops in transactions if any(entity.get("kind") == "hierarchy" for _, entity, *_ in ops)]
    assert len(approval) == 1
    kinds = {entity.get("kind") for _, entity, *_ in approval[0]}
    assert {"prospect", "hierarchy", "member", "email", "outbox", "history", "event"} <= kinds
    assert len({entity["PartitionKey"] for _, entity, *_ in approval[0]}) == 1


def test_a_failed_approval_leaves_nothing_and_its_retry_applies_once(azure_container, monkeypatch):
    c = azure_container
    won = won_outcome(c)
    table = c.store.table
    real = table.submit_transaction

    def refuse_the_approval(operations):
        if any(entity.get("kind") == "hierarchy" for _, entity, *_ in operations):
            raise Refused("the storage service failed the transaction")
        return real(operations)

    with monkeypatch.context() as patch:
        patch.setattr(table, "submit_transaction", refuse_the_approval)
        with pytest.raises(Refused):
            c.propagation.handle(won)
    prospect = c.operator.prospects()[0]
    assert prospect.status is ProspectStatus.PENDING and prospect.hierarchy_id is None
    assert c.operator.prospect(prospect.number).hierarchy is None and c.operator.emails() == []
    assert c.propagation.handle(won) == "applied"
    assert c.propagation.handle(won) == "duplicate"
    details = c.operator.prospect(prospect.number)
    assert details.prospect.status is ProspectStatus.APPROVED and details.hierarchy.id == "CH-000001"
    assert [m.role.value for m in details.members] == ["Admin"] and len(c.operator.emails()) == 1
