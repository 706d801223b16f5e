"""On Azure Table Storage a unit of work writes a row guarded by the ETag it read it with, however it read
it (a point read or a query), and does not read again what it has read."""
from __future__ import annotations

import uuid

import pytest

from shared.domain.errors import ConcurrencyConflict
from tests.contract.factories import hierarchy


@pytest.fixture
def tables(azurite):
    from azure.data.tables import TableServiceClient

    from shared.adapters.azure_table_store import AzureTableStore

    store = AzureTableStore(TableServiceClient.from_connection_string(azurite.connection_string),
                            "reads" + uuid.uuid4().hex[:12])
    with store.unit_of_work() as uow:
        uow.save_hierarchy(hierarchy("CH-000001", "prospect-1"))
    yield store
    store.close()


@pytest.mark.parametrize("read", ["get_hierarchy", "find_hierarchy_by_prospect"])
def test_a_hierarchy_changed_since_it_was_read_is_not_overwritten(tables, read):
    with pytest.raises(ConcurrencyConflict):
        with tables.unit_of_work() as uow:
            found = uow.get_hierarchy("CH-000001") if read == "get_hierarchy" else \
                uow.find_hierarchy_by_prospect("prospect-1")
            with tables.unit_of_work() as other:
                other.save_hierarchy(found.model_copy(update={"name": "Renamed elsewhere"}))
            uow.save_hierarchy(found.model_copy(update={"name": "Renamed here"}))
    with tables.unit_of_work(read_only=True) as uow:
        assert uow.get_hierarchy("CH-000001").name == "Renamed elsewhere"


def test_a_new_hierarchy_the_prospect_query_found_missing_is_not_read_again(tables, monkeypatch):
    reads = []
    real = tables.table.get_entity

    def spy(partition, row, **kwargs):
        reads.append((partition, row))
        return real(partition, row, **kwargs)

    monkeypatch.setattr(tables.table, "get_entity", spy)
    with tables.unit_of_work() as uow:  # as an approval does
        assert uow.find_hierarchy_by_prospect("prospect-2") is None
        uow.save_hierarchy(hierarchy("CH-000002", "prospect-2"))
    assert not [read for read in reads if read[0] == "prospect-2"]
    with tables.unit_of_work(read_only=True) as uow:
        assert uow.find_hierarchy_by_prospect("prospect-2") == hierarchy("CH-000002", "prospect-2")
