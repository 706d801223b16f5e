"""The channel a form is for: what the intake accepts as a channel id, else the storefront's default."""
from __future__ import annotations

import pytest

from shared.web.storefront import DEFAULT_CHANNEL, form_channel


@pytest.mark.parametrize("requested", ["b2b-web.se_1", "shop", "x" * 64])
def test_a_valid_channel_is_kept(requested):
    assert form_channel(requested) == requested


@pytest.mark.parametrize("requested", [None, "", "x" * 65, "b2b web", "b2b/web", "<script>", "åland"])
def test_anything_else_gives_the_default(requested):
    assert form_channel(requested) == DEFAULT_CHANNEL == "b2b-web"
