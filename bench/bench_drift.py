"""What a drift check costs per prospect, against the Sales reads it cannot avoid, in the same run.

Drift compares each prospect with its lead in Sales (one lead read per prospect checked), so its cost grows with
the prospects it checks — bounded by its limit (100 on the console page and the JSON route), never with the
store. N prospects get leads (a third then decided in Sales with the outcomes lost, so drift finds them); the
check (``DriftCheck.report(limit=N)``) is timed against the bare loop of the same lead reads (the baseline), on
the embedded Sales and on the Dataverse simulator (HTTP per read, as Dataverse is). Prints ms per prospect and
the ratio check/baseline; asserts no timing.

    python bench/bench_drift.py [-n 300] [--rounds 3]
"""
from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT)]


def prepared(container, n: int) -> list[str]:
    """N prospects with leads; every third disqualified in Sales with its outcome message lost."""
    from tests.services.flow import signup_body, take_all, work

    for i in range(n):
        container.intake.submit(signup_body(i))
    while container.channel_sync.run().prospects_created:
        pass
    work(container)
    leads = [p.lead_id for p in container.operator.prospects(limit=n)]
    return leads


def timed(rounds: int, action) -> float:
    best = float("inf")
    for _ in range(rounds):
        started = time.perf_counter()
        action()
        best = min(best, time.perf_counter() - started)
    return best


def measure(label: str, container, n: int, rounds: int, decide) -> None:
    from tests.services.flow import take_all

    leads = prepared(container, n)
    for lead in leads[::3]:
        decide(lead)
    take_all(container, container.settings.outcome_queue)
    report = container.drift.report(limit=n)
    assert report.checked == n and len(report.drifts) == len(leads[::3]), (report.checked, len(report.drifts))
    baseline = timed(rounds, lambda: [container.sales.get_lead(lead) for lead in leads])
    check = timed(rounds, lambda: container.drift.report(limit=n))
    print(f"{label:<22} {n} prospects: drift {check / n * 1000:.2f} ms/prospect, lead reads alone "
          f"{baseline / n * 1000:.2f} ms/prospect, ratio {check / baseline:.2f}; "
          f"the page's 100 ≈ {check / n * 100:.2f} s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", type=int, default=300)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()

    from shared.adapters.clock import ManualClock
    from shared.adapters.dataverse_sales import DataverseSales
    from shared.bootstrap import Container
    from shared.config import Settings
    from tests.dataverse_sim import SalesClient, running_simulator

    with tempfile.TemporaryDirectory() as folder:
        c = Container.build(Settings.from_env({}, data_dir=Path(folder)), clock=ManualClock())
        try:
            measure("embedded Sales", c, args.n, args.rounds, lambda lead: c.sales.disqualify(lead, 5))
        finally:
            for adapter in (c.store, c.queue, c.sales):
                adapter.close()

    with tempfile.TemporaryDirectory() as folder, running_simulator() as sim:
        token = sim.issue_token()
        c = Container.build(Settings.from_env({}, data_dir=Path(folder)), sales=DataverseSales(sim.url, lambda: token))
        salesperson = SalesClient(sim.api_url, sim.issue_token("a salesperson"))
        try:
            measure("Dataverse simulator", c, args.n, args.rounds, lambda lead: salesperson.disqualify(lead, 5))
        finally:
            for adapter in (c.store, c.queue, c.sales):
                adapter.close()


if __name__ == "__main__":
    main()
