from __future__ import annotations

import logging

import pytest

from functions._runtime import container, reset_container
from shared.observability import LogHygiene


@pytest.fixture(autouse=True)
def restore_logging():
    """Building the functions' container installs log hygiene on the root logger's handlers and sets its
    level, as it must in Azure; in a test run those handlers include pytest's own capture handlers, which
    live for the whole session. Undone after each test, so no other test sees rewritten records."""
    root, azure = logging.getLogger(), logging.getLogger("azure")
    levels = root.level, azure.level
    yield
    for handler in root.handlers:
        for hygiene in [f for f in handler.filters if isinstance(f, LogHygiene)]:
            handler.removeFilter(hygiene)
    root.setLevel(levels[0])
    azure.setLevel(levels[1])


def container_with(tmp_path, monkeypatch, **settings: str):
    """The functions' own container on a fresh state folder with these settings (a fixture's generator)."""
    monkeypatch.setenv("DATA_DIR", str(tmp_path))
    # The intake's defenses off unless a test sets them (tests/functions/test_intake_defenses.py): the others
    # post many signups at once, without a client address, and faster than a person fills a form.
    for name, value in {"INTAKE_RATE_LIMIT_PER_MINUTE": "0", "INTAKE_DOMAIN_RATE_LIMIT_PER_HOUR": "0",
                        "INTAKE_MIN_FILL_SECONDS": "0"}.items():
        monkeypatch.setenv(name, value)
    for name, value in settings.items():
        monkeypatch.setenv(name, value)
    reset_container()
    yield container()
    c = container()
    for adapter in (c.store, c.queue, c.sales):
        adapter.close()
    reset_container()


@pytest.fixture
def app_container(tmp_path, monkeypatch):
    """The functions' own container, on a fresh state folder."""
    yield from container_with(tmp_path, monkeypatch)
