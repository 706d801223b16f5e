"""The back office's list on Azure Tables keeps index rows in a partition of their own, written after the
prospect's transaction: a crash in between, and a store from before the list existed, are made good by
settle_prospect_directory (the channel sync runs it), once, with exact counts."""
from __future__ import annotations

import uuid
from datetime import timedelta

import pytest

from shared.adapters.azure_prospect_directory import DIRECTORY, PENDING, ProspectDirectoryTable
from shared.adapters.azure_table_store import AzureTableStore
from shared.domain.model import ProspectStatus
from shared.domain.prospect_directory import ProspectFilter
from tests.contract.factories import prospect


@pytest.fixture
def store(azurite):
    from azure.data.tables import TableServiceClient

    service = TableServiceClient.from_connection_string(azurite.connection_string)
    built = AzureTableStore(service, "directory" + uuid.uuid4().hex[:12], claim_grace=timedelta(0))
    yield built
    built.close()


def listed(store) -> list[str]:
    with store.unit_of_work(read_only=True) as uow:
        return [r.number for r in uow.prospect_directory(ProspectFilter(), newest_first=False, after=None, limit=50)]


def counts(store) -> dict[str, int]:
    with store.unit_of_work(read_only=True) as uow:
        return uow.prospect_counts()


def directory_rows(store) -> list[str]:
    return [e["RowKey"] for e in store.table.query_entities("PartitionKey eq @pk", parameters={"pk": DIRECTORY})]


def test_a_crash_after_the_prospect_committed_is_settled_once(store, monkeypatch):
    with store.unit_of_work() as uow:
        uow.add_prospect(prospect(1))
    monkeypatch.setattr(ProspectDirectoryTable, "apply", lambda self, prospect_id: (_ for _ in ()).throw(
        KeyboardInterrupt("the process died")))
    with pytest.raises(KeyboardInterrupt):
        with store.unit_of_work() as uow:
            uow.save_prospect(prospect(1).reject("no", prospect(1).created_at, "alice"))
            uow.add_prospect(prospect(2))
    monkeypatch.undo()
    # Both prospects committed; the list still shows the first as it was, and not the second at all.
    assert listed(store) == ["PRO-000001"]
    assert counts(store)["Pending"] == 1
    assert len(list(store.table.query_entities("PartitionKey eq @pk", parameters={"pk": PENDING}))) == 2

    assert store.settle_prospect_directory(limit=100) >= 2
    assert listed(store) == ["PRO-000001", "PRO-000002"]
    assert counts(store) == {"Pending": 1, "Approved": 0, "Rejected": 1, "attention": 0}
    assert not list(store.table.query_entities("PartitionKey eq @pk", parameters={"pk": PENDING}))
    store.settle_prospect_directory(limit=100)  # again: nothing counted twice
    assert counts(store) == {"Pending": 1, "Approved": 0, "Rejected": 1, "attention": 0}
    # The rejected prospect's Pending rows went with the change: none is left behind.
    assert not [key for key in directory_rows(store) if key.startswith("order-Pending-") and "PRO-000001" in key]


def test_a_store_from_before_the_list_gets_its_rows_once(store):
    with store.unit_of_work() as uow:
        for n in range(1, 5):
            uow.add_prospect(prospect(n, status=ProspectStatus.APPROVED if n % 2 else ProspectStatus.PENDING))
    for row in directory_rows(store):  # as an older version left it: prospects, no directory
        store.table.delete_entity(DIRECTORY, row)
    for mark in list(store.table.query_entities("PartitionKey eq @pk", parameters={"pk": PENDING})):
        store.table.delete_entity(PENDING, mark["RowKey"])
    assert listed(store) == []

    store.settle_prospect_directory(limit=100)
    assert listed(store) == ["PRO-000001", "PRO-000002", "PRO-000003", "PRO-000004"]
    assert counts(store) == {"Pending": 2, "Approved": 2, "Rejected": 0, "attention": 0}
    for row in [r for r in directory_rows(store) if r.startswith("count-")]:  # a later run builds nothing again
        store.table.delete_entity(DIRECTORY, row)
    store.settle_prospect_directory(limit=100)
    assert counts(store) == {"Pending": 0, "Approved": 0, "Rejected": 0, "attention": 0}


def test_a_young_pending_mark_is_left_to_the_unit_of_work_that_wrote_it(azurite):
    """Its unit of work may be between writing the mark and committing: settling now and dropping the mark
    would lose the update should that unit of work then die."""
    from azure.data.tables import TableServiceClient

    service = TableServiceClient.from_connection_string(azurite.connection_string)
    store = AzureTableStore(service, "directory" + uuid.uuid4().hex[:12], claim_grace=timedelta(minutes=5))
    try:
        store.table.create_entity({"PartitionKey": PENDING, "RowKey": "someone-committing", "target": "p-1"})
        assert store.settle_prospect_directory(limit=100) == 0
        assert len(list(store.table.query_entities("PartitionKey eq @pk", parameters={"pk": PENDING}))) == 1
    finally:
        store.close()


def test_storage_out_of_reach_after_the_commit_leaves_the_update_owed_not_the_commit_failed(store, monkeypatch):
    """The prospect's change has committed: a caller that saw an error would run it again for nothing."""
    from azure.core.exceptions import ServiceRequestError

    def unreachable(self, prospect_id):
        raise ServiceRequestError("connection refused")

    monkeypatch.setattr(ProspectDirectoryTable, "apply", unreachable)
    with store.unit_of_work() as uow:
        uow.add_prospect(prospect(1))
    monkeypatch.undo()
    assert listed(store) == []
    store.settle_prospect_directory(limit=10)
    assert listed(store) == ["PRO-000001"]
