"""PUBLIC_BASE_URL: the start of every link the app hands out, from a setting or the app's own host name."""
from __future__ import annotations

import pytest

from shared.config import DEFAULT_PUBLIC_BASE_URL, Settings


def base(**environ: str) -> str:
    return Settings.from_env(environ).public_base_url


def test_the_setting_wins_without_its_trailing_slash():
    assert base(PUBLIC_BASE_URL="https://b2b.contoso.com/", WEBSITE_HOSTNAME="app.azurewebsites.net") == (
        "https://b2b.contoso.com")
    assert base(PUBLIC_BASE_URL="https://contoso.com/b2b/") == "https://contoso.com/b2b"  # behind a path prefix


def test_in_azure_the_app_s_host_name_over_https():
    assert base(WEBSITE_HOSTNAME="b2b-api-x1y2.westeurope-01.azurewebsites.net") == (
        "https://b2b-api-x1y2.westeurope-01.azurewebsites.net")


@pytest.mark.parametrize("hostname", ["localhost:7071", "127.0.0.1:50123", "[::1]:8080"])
def test_a_local_host_s_own_address_over_http(hostname):
    assert base(WEBSITE_HOSTNAME=hostname) == f"http://{hostname}"


def test_nothing_set_is_the_documented_local_default():
    assert base() == DEFAULT_PUBLIC_BASE_URL == "http://localhost:7071"


@pytest.mark.parametrize("environ", [
    {"PUBLIC_BASE_URL": "http://b2b.contoso.com"},  # links to a public host go over https
    {"PUBLIC_BASE_URL": "b2b.contoso.com"},
    {"PUBLIC_BASE_URL": "https://b2b.contoso.com/?x=1"},
    {"PUBLIC_BASE_URL": "https://b2b.contoso.com/#top"},
    {"PUBLIC_BASE_URL": "ftp://b2b.contoso.com"},
    {"WEBSITE_HOSTNAME": "evil.example/path"},
    {"WEBSITE_HOSTNAME": "two words"},
])
def test_anything_else_stops_the_app_saying_which_setting(environ):
    with pytest.raises(ValueError, match=next(iter(environ))):
        Settings.from_env(environ)
