"""`make run` keeps local.settings.json complete without touching the developer's own values."""
from __future__ import annotations

import json
import re
from pathlib import Path

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


ROOT = Path(__file__).resolve().parents[2]
EMBEDDED_EXAMPLE = ROOT / "local.settings.json.example"  # what `make run` copies: the local host, SQLite
FUNC_START_EXAMPLE = ROOT / "local.settings.func.json.example"  # what README copies for `func start`


def _values(example: Path) -> dict[str, str]:
    return json.loads(example.read_text("utf-8"))["Values"]


def test_the_func_start_example_keeps_the_queues_where_core_tools_triggers_read_them():
    # Core Tools' queue triggers read the queues of AzureWebJobsStorage (Azurite here). With the embedded
    # example the app wrote its messages to SQLite instead, so no queue-triggered function ever ran.
    from shared.adapters.azure_queue import AzureStorageQueue
    from shared.adapters.azure_storage import queue_service_client, table_service_client
    from shared.bootstrap import build_queue
    from shared.config import Settings

    values = _values(FUNC_START_EXAMPLE)
    settings = Settings.from_env(values)
    assert settings.state_backend == "azure"
    assert values["AzureWebJobsStorage"] == "UseDevelopmentStorage=true"  # the same account the triggers read
    assert isinstance(build_queue(settings), AzureStorageQueue)
    assert queue_service_client(settings).url == "http://127.0.0.1:10001/devstoreaccount1/"  # Azurite's defaults
    assert table_service_client(settings).url == "http://127.0.0.1:10002/devstoreaccount1"


def test_the_two_examples_differ_only_in_the_backend_and_resolve_every_binding_setting():
    embedded, func_start = _values(EMBEDDED_EXAMPLE), _values(FUNC_START_EXAMPLE)
    assert embedded["STATE_BACKEND"] == "sqlite" and func_start["STATE_BACKEND"] == "azure"
    assert {**embedded, "STATE_BACKEND": "azure"} == func_start  # a setting added to one is added to both

    from devhost.functions import load_functions

    bindings = json.dumps([[dict(spec.trigger), *map(dict, spec.bindings)]
                           for spec in load_functions(ROOT, load_settings=False)])
    referenced = set(re.findall(r"%([A-Za-z0-9_.]+)%", bindings))
    assert referenced and referenced <= set(func_start), referenced - set(func_start)
