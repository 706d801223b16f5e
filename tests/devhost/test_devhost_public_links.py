"""The local host gives the app its own address as WEBSITE_HOSTNAME (as App Service and Core Tools do), so
the links the app hands out (PUBLIC_BASE_URL unset) name this host on the port it got."""
import os
from pathlib import Path

import pytest

from devhost.host import HOSTNAME_SETTING, LocalHost
from memory_queue import MemoryQueue

pytestmark = pytest.mark.e2e

SAMPLE_DIR = Path(__file__).parent / "sample_app"
SETTINGS = {"SAMPLE_QUEUE": "sample-items", "SAMPLE_SCHEDULE": "0 0 0 1 1 *", "DEVHOST_FUNCTION_KEY": "k"}


@pytest.fixture
def settings(monkeypatch):
    for name, value in SETTINGS.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv(HOSTNAME_SETTING, raising=False)
    return monkeypatch


def test_the_app_gets_this_host_s_address_while_it_runs(settings):
    host = LocalHost(SAMPLE_DIR, module="sample_function_app", port=0, queue=MemoryQueue(), timers=False).start()
    try:
        assert host.port != 0
        assert f"http://{os.environ[HOSTNAME_SETTING]}" == host.base_url
    finally:
        host.stop()
    assert HOSTNAME_SETTING not in os.environ  # the next host in this process gets its own


def test_a_host_name_given_is_kept(settings):
    settings.setenv(HOSTNAME_SETTING, "b2b.local.example:8443")
    with LocalHost(SAMPLE_DIR, module="sample_function_app", port=0, queue=MemoryQueue(), timers=False):
        assert os.environ[HOSTNAME_SETTING] == "b2b.local.example:8443"
    assert os.environ[HOSTNAME_SETTING] == "b2b.local.example:8443"
