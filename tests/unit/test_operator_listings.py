"""The operator's listings: flagged prospects wherever they are in the list."""
from __future__ import annotations

from datetime import datetime, timezone

import pytest

from shared.bootstrap import Container
from shared.config import Settings
from tests.services.flow import signup_body


@pytest.fixture
def container(tmp_path):
    c = Container.build(Settings.from_env({}, data_dir=tmp_path))
    yield c
    for adapter in (c.store, c.queue, c.sales):
        adapter.close()


def _prospects(c: Container, n: int) -> list[str]:
    for i in range(n):
        c.intake.submit(signup_body(i + 1))
    c.channel_sync.run()
    return [p.number for p in c.operator.prospects()]


def _flag(c: Container, number: str) -> None:
    with c.store.unit_of_work() as uow:
        prospect = uow.find_prospect_by_number(number)
        uow.save_prospect(prospect.flagged("look at me", datetime.now(timezone.utc)))


def test_flagged_prospects_beyond_the_first_page_are_listed(container):
    numbers = _prospects(container, 5)
    _flag(container, numbers[1])
    _flag(container, numbers[4])  # the newest: past a limit of 3 oldest prospects

    flagged = container.operator.prospects(limit=3, needs_attention=True)
    assert [p.number for p in flagged] == [numbers[1], numbers[4]]
    assert [p.number for p in container.operator.prospects(limit=1, needs_attention=True)] == [numbers[1]]
    assert len(container.operator.prospects(limit=3)) == 3  # without the filter the limit is as before

