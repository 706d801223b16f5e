"""SQLite pages partners in number order by walking an index from the cursor on: the cost of a page is its
own rows, never a sort of every hierarchy (what SQLite's query plan says, so no timing is needed)."""
from __future__ import annotations

import sqlite3

import pytest

from shared.adapters.sqlite_store import (
    HIERARCHIES_AFTER_SAME_LENGTH,
    HIERARCHIES_FROM_START,
    HIERARCHIES_LONGER,
    SqliteStore,
)
from tests.contract.factories import hierarchy


@pytest.mark.parametrize("statement, params", [(HIERARCHIES_FROM_START, ()),
                                               (HIERARCHIES_AFTER_SAME_LENGTH, (9, "CH-000010")),
                                               (HIERARCHIES_LONGER, (9,))])
def test_each_page_query_walks_the_number_index_without_sorting(tmp_path, statement, params):
    SqliteStore(tmp_path / "state.sqlite3").close()  # creates the schema
    with sqlite3.connect(tmp_path / "state.sqlite3") as db:
        plan = [row[3] for row in db.execute(f"EXPLAIN QUERY PLAN {statement}", params)]
    assert plan and all("USING INDEX hierarchies_number" in step for step in plan), plan
    assert not any("TEMP B-TREE" in step for step in plan), plan


def test_numbers_of_more_digits_come_after_the_cursor_in_number_order(tmp_path):
    store = SqliteStore(tmp_path / "state.sqlite3")
    try:
        with store.unit_of_work() as uow:
            for hierarchy_id in ("CH-1000000", "CH-999999", "CH-999998", "CH-1000001"):
                uow.save_hierarchy(hierarchy(hierarchy_id, None))
        with store.unit_of_work(read_only=True) as uow:
            assert [h.id for h in uow.hierarchy_page(None, 10)] == ["CH-999998", "CH-999999", "CH-1000000",
                                                                    "CH-1000001"]
            assert [h.id for h in uow.hierarchy_page("CH-999998", 2)] == ["CH-999999", "CH-1000000"]
            assert [h.id for h in uow.hierarchy_page("CH-999999", 10)] == ["CH-1000000", "CH-1000001"]
    finally:
        store.close()
