"""The operator's listings: flagged prospects wherever they are in the list, a partner's users alone."""
from __future__ import annotations

from datetime import datetime, timezone

import pytest

from shared.bootstrap import Container
from shared.config import Settings
from shared.domain.errors import NotFound
from tests.services.flow import signup_body
from tests.services.partners import approved_partner, new_user


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


def test_partner_users_of_an_unknown_partner_is_not_found(container):
    with pytest.raises(NotFound, match="no partner CH-999999"):
        container.operator.partner_users("CH-999999")


def test_partner_users_lists_a_partners_users_removed_ones_too(container):
    hierarchy, admin = approved_partner(container)
    added = container.partner_users.add(admin, hierarchy, new_user("buyer@example.com"))
    container.partner_users.remove(admin, hierarchy, added.user.id)

    users = container.operator.partner_users(hierarchy)
    assert users == container.operator.partner(hierarchy).users
    assert {u.email for u in users} == {"person1@example.com", "buyer@example.com"}
