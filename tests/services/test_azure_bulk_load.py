"""The bench's bulk loader (bench/azure_bulk_load.py) writes exactly what the app's own writes leave: prospects
taken in and synced through the services, then loaded into a second table from what the first holds, give the
same rows and the same answers to the console."""
from __future__ import annotations

import uuid

import pytest

from bench.azure_bulk_load import ProspectRecords, bulk_load
from shared.bootstrap import Container
from shared.config import Settings
from shared.domain.model import OutboxMessage
from shared.services.prospect_directory import ListQuery
from tests.services.flow import DECISIONS_ONLY, signup_body


def _on_azurite(azurite, tmp_path, clock, table: str) -> Container:
    unique = uuid.uuid4().hex[:10]
    return Container.build(Settings.from_env({
        **DECISIONS_ONLY, "STATE_BACKEND": "azure", "AzureWebJobsStorage": azurite.connection_string,
        "STATE_TABLE": table, "LEAD_QUEUE": f"leads-{unique}", "OUTCOME_QUEUE": f"outcomes-{unique}",
        "EMAIL_QUEUE": f"emails-{unique}"}, data_dir=tmp_path / table), clock=clock)


@pytest.fixture
def both(azurite, tmp_path, clock):
    through_service = _on_azurite(azurite, tmp_path, clock, "served" + uuid.uuid4().hex[:10])
    loaded = _on_azurite(azurite, tmp_path, clock, "loaded" + uuid.uuid4().hex[:10])
    yield through_service, loaded
    for c in (through_service, loaded):
        for adapter in (c.store, c.queue, c.sales):
            adapter.close()


def _records(c: Container) -> list[ProspectRecords]:
    """Everything the store holds of each prospect, read back (the outbox rows raw: no port reads them all)."""
    found = []
    with c.store.unit_of_work(read_only=True) as uow:
        for prospect in c.operator.prospects(limit=10_000):
            outbox = [OutboxMessage.model_validate_json(row["data"]) for row in c.store.table.query_entities(
                "PartitionKey eq @pk and RowKey ge 'outbox-' and RowKey lt 'outbox.'", parameters={"pk": prospect.id})]
            found.append(ProspectRecords(uow.get_signup(prospect.signup_id), prospect, uow.history(prospect.id), outbox,
                                         uow.prospect_emails(prospect.id)))
    return found


def _rows(c: Container) -> dict[str, list[tuple[str, dict]]]:
    """The table by partition, in row-key order; a history row's key is its place (the app's holds the time of
    writing, which no copy can have)."""
    partitions: dict[str, list[tuple[str, dict]]] = {}
    for entity in c.store.table.list_entities():
        partitions.setdefault(entity["PartitionKey"], []).append((entity["RowKey"], dict(entity)))
    for rows in partitions.values():
        rows.sort(key=lambda row: row[0])
        history = 0
        for i, (key, entity) in enumerate(rows):
            if key.startswith("history-"):
                entity.pop("RowKey")
                rows[i] = (f"history-{history}", entity)
                history += 1
    return partitions


def _answers(c: Container) -> list:
    directory = c.prospect_directory
    pages = [directory.page(ListQuery.parse(params)) for params in (
        {}, {"status": "pending"}, {"status": "rejected"}, {"q": "company 1"}, {"q": "person7@example.com"},
        {"sort": "oldest"}, {"attention": "true"})]
    following = directory.page(ListQuery.parse({"cursor": pages[0].next_cursor})) if pages[0].next_cursor else None
    views = [c.prospect_timeline.show(number) for number in ("PRO-000002", "PRO-000003")]
    # Queue messages aside: the two containers have queues of their own, and the loader writes tables only.
    return [[(p.rows, p.counts, p.next_cursor) for p in pages], following and following.rows,
            [(v.prospect, v.emails, [e for e in v.timeline if e.source != "queue"]) for v in views]]


def test_loaded_prospects_are_the_rows_and_answers_the_service_leaves(both, clock):
    served, loaded = both
    for n in range(1, 60):
        served.intake.submit(signup_body(n))
        clock.advance(1)
    served.channel_sync.run()
    served.back_office.reject("PRO-000002", "not a business", "alice")

    records = _records(served)
    assert len(records) == 59
    # Small transactions and several threads: partitions span batches, and batches finish in any order.
    written = bulk_load(loaded.store.table, records, batch=7, threads=3)

    assert _rows(loaded) == _rows(served)
    assert written == sum(len(rows) for rows in _rows(served).values())
    assert _answers(loaded) == _answers(served)
    # The number sequence goes on where the service's left off.
    for c in (served, loaded):
        c.intake.submit(signup_body(60))
        c.channel_sync.run()
    assert [p.number for p in loaded.operator.prospects(limit=100)] == [p.number for p in served.operator.prospects(limit=100)]
