"""The back office's email list on Azure Tables reads a range of its order rows and the page's emails, not every
email of the table; a store from before the order rows existed gets them once (the channel sync's settle)."""
from __future__ import annotations

import uuid

import pytest

from shared.adapters.azure_table_store import AzureTableStore
from shared.domain.model import EmailStatus
from shared.ports import EmailQuery
from tests.contract.factories import at, email_record

ORDER = "index-email-order"


@pytest.fixture
def store(azurite):
    from azure.data.tables import TableServiceClient

    service = TableServiceClient.from_connection_string(azurite.connection_string)
    built = AzureTableStore(service, "emails" + uuid.uuid4().hex[:12])
    yield built
    built.close()


def _add(store, count: int) -> None:
    emails = [email_record(f"e-{i:04d}", at(i), EmailStatus.DELIVERED if i % 3 else EmailStatus.PENDING)
              .model_copy(update={"prospect_id": f"p-{i}"}) for i in range(count)]
    with store.unit_of_work() as uow:
        for email in emails:
            uow.add_email(email)


def _reads(store, monkeypatch) -> list[str]:
    """Every entity the table hands out from now on, by how it was asked for."""
    seen: list[str] = []
    query, get = store.table.query_entities, store.table.get_entity

    def counted_query(text, *args, **kwargs):
        for entity in query(text, *args, **kwargs):
            seen.append(f"query {text}")
            yield entity

    def counted_get(*args, **kwargs):
        seen.append("get")
        return get(*args, **kwargs)

    monkeypatch.setattr(store.table, "query_entities", counted_query)
    monkeypatch.setattr(store.table, "get_entity", counted_get)
    return seen


def test_a_page_reads_its_rows_and_its_emails_not_every_email(store, monkeypatch):
    _add(store, 300)
    seen = _reads(store, monkeypatch)
    with store.unit_of_work(read_only=True) as uow:
        page = uow.email_page(EmailQuery(status=EmailStatus.PENDING), 10)
    assert [e.id for e in page] == [f"e-{i:04d}" for i in range(297, 260, -3)][:10]
    # One range of order rows (the service sends them a hundred at a time), then the ten emails.
    assert len(seen) <= 100 + 10, len(seen)
    assert seen.count("get") == 10
    assert all("PartitionKey eq @pk" in what for what in seen if what != "get")


def test_an_older_stores_emails_get_their_order_rows_once(store):
    _add(store, 5)
    for row in list(store.table.query_entities("PartitionKey eq @pk", parameters={"pk": ORDER})):
        store.table.delete_entity(ORDER, row["RowKey"])  # as a store from before the order rows
    with store.unit_of_work(read_only=True) as uow:
        assert uow.email_page(EmailQuery(), 10) == []

    store.settle_prospect_directory(limit=10)
    with store.unit_of_work(read_only=True) as uow:
        assert [e.id for e in uow.email_page(EmailQuery(), 10)] == [f"e-{i:04d}" for i in reversed(range(5))]
        assert [e.id for e in uow.email_page(EmailQuery(status=EmailStatus.PENDING), 10)] == ["e-0003", "e-0000"]
    rows = len(list(store.table.query_entities("PartitionKey eq @pk", parameters={"pk": ORDER})))
    store.settle_prospect_directory(limit=10)  # once: the marker says so
    assert len(list(store.table.query_entities("PartitionKey eq @pk", parameters={"pk": ORDER}))) == rows
