"""The Azure SDK clients keep as many connections as the host may have requests in flight: under that
concurrency urllib3 never discards a connection ("Connection pool is full"), which cost a new TCP (and
TLS) handshake per request beyond requests' default of 10, and hundreds of warnings per run."""
from __future__ import annotations

import json
import logging
import threading
import uuid
from pathlib import Path

import pytest

from devhost.functions import QUEUE_TRIGGER, load_functions
from shared.adapters.azure_storage import OTHER_CONCURRENCY, QUEUE_TRIGGERS, storage_pool_size
from shared.bootstrap import build_queue, build_store
from shared.config import Settings
from tests.threads import run_in_threads

ROOT = Path(__file__).resolve().parents[2]
POOL_FULL = "Connection pool is full"


def test_the_pool_holds_every_queue_triggers_batch_in_flight_and_http_besides(tmp_path):
    host = json.loads((ROOT / "host.json").read_text())["extensions"]["queues"]
    in_flight = host["batchSize"] + host["newBatchThreshold"]
    assert storage_pool_size({}) == QUEUE_TRIGGERS * in_flight + OTHER_CONCURRENCY
    # app settings override host.json as the host reads them (names in any case)
    overrides = {"AzureFunctionsJobHost__extensions__queues__batchSize": "32",
                 "azurefunctionsjobhost__extensions__queues__NEWBATCHTHRESHOLD": "40"}
    assert storage_pool_size(overrides) == QUEUE_TRIGGERS * 72 + OTHER_CONCURRENCY
    (tmp_path / "host.json").write_text(json.dumps({"version": "2.0"}))
    assert storage_pool_size({}, tmp_path / "host.json") == QUEUE_TRIGGERS * (16 + 8) + OTHER_CONCURRENCY


def test_the_count_of_queue_triggers_is_the_apps():
    specs = load_functions(ROOT, load_settings=False)
    assert QUEUE_TRIGGERS == sum(spec.trigger_type == QUEUE_TRIGGER for spec in specs)


def test_concurrent_storage_calls_discard_no_connection(azurite, tmp_path, caplog):
    suffix = uuid.uuid4().hex[:10]
    settings = Settings.from_env({"STATE_BACKEND": "azure", "AzureWebJobsStorage": azurite.connection_string,
                                  "STATE_TABLE": f"pool{suffix}"}, data_dir=tmp_path)
    store, queue = build_store(settings), build_queue(settings)
    name = f"pool-{suffix}"
    queue.send(name, "warm-up")  # creates the queue before the threads race
    threads = 3 * 16  # every queue trigger's batch at once, as the local host runs them
    start = threading.Barrier(threads)

    def calls() -> None:
        start.wait()
        for _ in range(3):
            with store.unit_of_work(read_only=True) as uow:
                uow.get_prospect(str(uuid.uuid4()))
            queue.send(name, "body")

    caplog.set_level(logging.WARNING, logger="urllib3.connectionpool")
    try:
        run_in_threads([calls] * threads)
    finally:
        store.close()
        queue.close()
    full = [r.getMessage() for r in caplog.records if POOL_FULL in r.getMessage()]
    assert not full, f"{len(full)} connections discarded, e.g. {full[0]}"
