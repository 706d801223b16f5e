"""The partners list on Azure Tables reads a range of summary rows, not each partner's records; a crash between
a partner's transaction and its summary's update, and a store from before the summaries, are made good by the
channel sync's settle."""
from __future__ import annotations

import pytest

from shared.adapters.azure_partner_summary import PartnerSummaryTable, SUMMARIES
from shared.domain.model import HierarchyRole
from tests.contract.factories import credit_line, hierarchy, partner_user
from tests.integration.test_azure_email_order import _reads
from tests.integration.test_azure_prospect_directory import store  # noqa: F401 - the fixture (claim grace 0)


def _partner(store, n: int) -> None:
    with store.unit_of_work() as uow:
        uow.save_hierarchy(hierarchy(f"CH-{n:06d}", None, f"Partner {n} AB"))
        uow.save_partner_user(partner_user(f"admin{n}@partner.example", f"CH-{n:06d}", role=HierarchyRole.ADMIN))
        uow.save_credit_line(credit_line(f"CH-{n:06d}"))


def _listed(store, after=None, limit=10, name=None) -> list[tuple[str, int]]:
    with store.unit_of_work(read_only=True) as uow:
        return [(line.hierarchy.id, line.users) for line in uow.partner_summaries(after, limit, name)]


def test_a_page_is_one_range_read(store, monkeypatch):
    for n in range(1, 31):
        _partner(store, n)
    seen = _reads(store, monkeypatch)
    assert [hid for hid, _ in _listed(store, "CH-000010", 5)] == [f"CH-{n:06d}" for n in range(11, 16)]
    assert len(seen) == 5 and "get" not in seen, seen


def test_a_crash_before_the_summary_is_settled_and_an_older_store_gets_its_summaries(store, monkeypatch):
    _partner(store, 1)
    monkeypatch.setattr(PartnerSummaryTable, "apply", lambda self, hierarchy_id: (_ for _ in ()).throw(
        KeyboardInterrupt("the process died")))
    with pytest.raises(KeyboardInterrupt):
        with store.unit_of_work() as uow:
            uow.save_partner_user(partner_user("user@partner.example", "CH-000001"))
    monkeypatch.undo()
    assert _listed(store) == [("CH-000001", 1)]  # the user committed; the line says what it said

    store.settle_prospect_directory(limit=100)
    assert _listed(store) == [("CH-000001", 2)]

    _partner(store, 2)
    for row in list(store.table.query_entities("PartitionKey eq @pk", parameters={"pk": SUMMARIES})):
        store.table.delete_entity(SUMMARIES, row["RowKey"])  # as a store from before the summaries
    assert _listed(store) == []
    store.settle_prospect_directory(limit=100)
    assert _listed(store) == [("CH-000001", 2), ("CH-000002", 1)]
