"""Branding per channel (shared/config.py): defaults from the global settings, overrides from CHANNELS, every value
checked at start with an error that names the setting."""
from __future__ import annotations

import json

import pytest

from shared.config import Settings


def settings(**environ: str) -> Settings:
    return Settings.from_env({"PUBLIC_BASE_URL": "https://b2b.contoso.example", **environ})


def test_a_channel_overrides_only_what_it_names_and_others_get_the_defaults():
    s = settings(STORE_NAME="Contoso B2B", ACCENT_COLOR="#123456", SUPPORT_EMAIL="help@contoso.example",
                 CHANNELS=json.dumps({"nordic-web": {"store_name": "Contoso Norden", "accent_color": "#006644"}}))
    nordic, other = s.branding("nordic-web"), s.branding("b2b-web")
    assert (nordic.store_name, nordic.accent_color, nordic.support_email) == (
        "Contoso Norden", "#006644", "help@contoso.example")
    assert (other.store_name, other.accent_color) == ("Contoso B2B", "#123456")
    assert nordic.channel_id == "nordic-web" and other.channel_id == ""


def test_without_sign_in_url_partners_sign_in_at_this_apps_portal():
    assert settings().branding("b2b-web").sign_in_url == "https://b2b.contoso.example/api/portal"
    assert settings(SIGN_IN_URL="https://shop.contoso.example/sign-in").branding("x").sign_in_url == \
        "https://shop.contoso.example/sign-in"


@pytest.mark.parametrize("colour", ["red", "#12345", "#1234567", "#0b5cad;}body{display:none", "url(x)", ""])
def test_the_accent_colour_must_be_a_hex_colour_so_it_cannot_become_css(colour):
    with pytest.raises(ValueError, match="ACCENT_COLOR must be a hex colour"):
        settings(ACCENT_COLOR=colour)
    with pytest.raises(ValueError, match=r"CHANNELS\['shop'\]\.ACCENT_COLOR"):
        settings(CHANNELS=json.dumps({"shop": {"accent_color": colour}}))


@pytest.mark.parametrize("channels, message", [
    ("{not json", "CHANNELS must be a JSON object"),
    ("[1, 2]", "CHANNELS must be a JSON object"),
    ('{"bad id!": {}}', "is not a channel id"),
    ('{"shop": "Contoso"}', "must be an object of settings"),
    ('{"shop": {"storename": "x"}}', "unknown \\['storename'\\]"),
    ('{"shop": {"store_name": 5}}', "every value must be a string"),
    ('{"shop": {"logo_url": "http://cdn.example/logo.png"}}', "LOGO_URL must be an absolute https:// URL"),
    ('{"shop": {"privacy_policy_url": "javascript:alert(1)"}}', "PRIVACY_POLICY_URL must be an absolute"),
    ('{"shop": {"support_email": "help"}}', "SUPPORT_EMAIL must be an email address"),
    ('{"shop": {"store_time_zone": "Mars/Base"}}', "STORE_TIME_ZONE must be an IANA time zone"),
])
def test_a_wrong_channels_setting_stops_the_app_at_start_naming_what_is_wrong(channels, message):
    with pytest.raises(ValueError, match=message):
        settings(CHANNELS=channels)


def test_send_received_email_is_on_unless_turned_off():
    assert settings().send_received_email is True
    assert settings(SEND_RECEIVED_EMAIL="false").send_received_email is False
