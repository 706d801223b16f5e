"""`make run` keeps local.settings.json complete without touching the developer's own values."""
from __future__ import annotations

import json

from devhost.example_settings import complete


def test_created_from_the_example_then_completed_with_new_settings_only(tmp_path):
    example, settings = tmp_path / "example.json", tmp_path / "local.settings.json"
    example.write_text(json.dumps({"IsEncrypted": False, "Values": {"A": "1", "B": "2"}}))
    assert complete(example, settings) == []
    assert json.loads(settings.read_text())["Values"] == {"A": "1", "B": "2"}

    ours = json.loads(settings.read_text())
    ours["Values"]["A"] = "mine"
    settings.write_text(json.dumps(ours))
    example.write_text(json.dumps({"IsEncrypted": False, "Values": {"A": "1", "B": "2", "C": "3"}}))
    assert complete(example, settings) == ["C"]
    assert json.loads(settings.read_text())["Values"] == {"A": "mine", "B": "2", "C": "3"}
    assert complete(example, settings) == []
