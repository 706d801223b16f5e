"""What the duplicate checks (issue 11) cost at intake and in the channel sync, against the same work without
them, in the same run.

N signups (every fifth a repeat of an earlier requester's email, every seventh an earlier one's organization)
are taken by the intake and made prospects by the sync, on SQLite and on Azurite (when it is installed), once
with the checks (index lookups of hashed keys: one per request at intake; the email, up to three organization
keys and the requester's partner user per prospect in the sync) and once with them replaced by no-ops (the
baseline). Prints seconds and the ratio checks/baseline; asserts no timing.

    python bench/bench_duplicate_checks.py [-n 300] [--azurite]
"""
from __future__ import annotations

import argparse
import sys
import tempfile
import time
import uuid
from contextlib import ExitStack
from pathlib import Path
from unittest import mock

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT)]


def bodies(n: int) -> list[dict]:
    from tests.services.flow import signup_body

    made = []
    for i in range(n):
        body = signup_body(i)
        if i and i % 5 == 0:
            body["contact"]["email"] = f"person{i - 3}@example.com"  # a repeat of an open request's email
        if i and i % 7 == 0:
            body["company"]["name"] = f"Company {i - 2} & Sons"  # an organization that applied before
        made.append(body)
    return made


def run(settings: dict, folder: Path, n: int, checks: bool, requests: dict) -> tuple[float, float, int]:
    """Times intake and sync; on Azure Tables also counts their storage requests into ``requests``."""
    from shared.adapters.clock import ManualClock
    from shared.bootstrap import Container
    from shared.config import Settings

    config = Settings.from_env({"SALES_MODE": "none", "SEND_RECEIVED_EMAIL": "false", **settings},
                               data_dir=folder, sync_batch_size=200)
    adapters = {}
    step = {"name": "setup"}
    if config.state_backend == "azure":
        from azure.data.tables import TableServiceClient

        from shared.adapters.azure_table_store import AzureTableStore

        def count(_request) -> None:
            requests[step["name"]] = requests.get(step["name"], 0) + 1

        tables = TableServiceClient.from_connection_string(config.storage_connection_string, raw_request_hook=count)
        adapters["store"] = AzureTableStore(tables, config.state_table)
    c = Container.build(config, clock=ManualClock(), **adapters)
    with ExitStack() as stack:
        if not checks:
            for module in ("intake", "sync"):
                stack.enter_context(mock.patch(f"shared.services.{module}.first_open_request", lambda *a, **k: None))
            stack.enter_context(mock.patch("shared.services.sync.checked", lambda uow, signup, prospect, memory: prospect))
        step["name"] = "intake"
        started = time.perf_counter()
        for body in bodies(n):
            c.clock.advance(1)
            c.intake.submit(body)
        intake = time.perf_counter() - started
        step["name"] = "sync"
        started = time.perf_counter()
        created = 0
        while (made := c.channel_sync.run().prospects_created):
            created += made
        sync = time.perf_counter() - started
        step["name"] = "after"
    for adapter in (c.store, c.queue):
        adapter.close()
    return intake, sync, created


def measure(label: str, settings_for, n: int) -> None:
    base_requests: dict = {}
    requests: dict = {}
    with tempfile.TemporaryDirectory() as folder:
        base_intake, base_sync, base_made = run(settings_for(), Path(folder) / "baseline", n, False, base_requests)
        intake, sync, made = run(settings_for(), Path(folder) / "checks", n, True, requests)
    print(f"{label:<8} {n} signups: intake {intake:.2f} s vs {base_intake:.2f} s (ratio {intake / base_intake:.2f}), "
          f"sync {sync:.2f} s vs {base_sync:.2f} s (ratio {sync / base_sync:.2f}); prospects {made} with the checks, "
          f"{base_made} without")
    for name in ("intake", "sync") if requests else ():
        print(f"{'':<8} {name} storage requests per signup: {requests[name] / n:.1f} with the checks, "
              f"{base_requests[name] / n:.1f} without (ratio {requests[name] / base_requests[name]:.2f})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", type=int, default=300)
    parser.add_argument("--azurite", action="store_true", help="also on Azure Tables (Azurite, started here)")
    args = parser.parse_args()
    measure("sqlite", dict, args.n)
    if args.azurite:
        from devhost.azurite import AzuriteProcess

        with tempfile.TemporaryDirectory() as folder, AzuriteProcess(Path(folder)) as azurite:
            def azure() -> dict:
                unique = uuid.uuid4().hex[:10]
                return {"STATE_BACKEND": "azure", "AzureWebJobsStorage": azurite.connection_string,
                        "STATE_TABLE": f"bench{unique}", "LEAD_QUEUE": f"leads-{unique}",
                        "OUTCOME_QUEUE": f"outcomes-{unique}", "EMAIL_QUEUE": f"emails-{unique}"}
            measure("azurite", azure, args.n)


if __name__ == "__main__":
    main()
