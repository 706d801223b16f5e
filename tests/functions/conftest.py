from __future__ import annotations

import pytest

from functions._runtime import container, reset_container


@pytest.fixture
def app_container(tmp_path, monkeypatch):
    """The functions' own container, on a fresh state folder."""
    monkeypatch.setenv("DATA_DIR", str(tmp_path))
    reset_container()
    yield container()
    c = container()
    for adapter in (c.store, c.queue, c.sales):
        adapter.close()
    reset_container()
