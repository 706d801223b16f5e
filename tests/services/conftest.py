from __future__ import annotations

import pytest

from shared.adapters.clock import ManualClock
from shared.bootstrap import Container
from shared.config import Settings
from tests.services.flow import DECISIONS_ONLY, signup_body


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
def container(tmp_path, clock) -> Container:
    c = Container.build(Settings.from_env(DECISIONS_ONLY, data_dir=tmp_path), clock=clock)
    yield c
    for adapter in (c.store, c.queue, c.sales):
        adapter.close()


@pytest.fixture
def body():
    return signup_body()
