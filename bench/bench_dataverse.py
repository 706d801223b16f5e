"""Lead creation through DataverseSales against the Dataverse simulator with a scaled-down service-protection
window: how close the gateway gets to the ceiling the window allows.

Each scenario starts a fresh simulator (``tests/dataverse_sim``) whose sliding window admits ``--limit``
requests per ``--window`` seconds for the integration user. The gateway runs as the app would at volume:
``--workers`` threads share one ``DataverseSales`` and call ``create_leads`` on chunks of ``--chunk`` drafts
(``$batch`` of ``--batch-size`` leads, one changeset per lead), waiting out 429 ``Retry-After`` with the real
``time.sleep``. Scenarios:

1. batch, operations counted (``batch_counts_operations=True``, what the issue asks for): every lead in a
   ``$batch`` costs one toward the window, so the ceiling is limit/window lead operations per second.
2. batch, documented mode (``batch_counts_operations=False``: Microsoft documents a ``$batch`` as one request
   toward the request-count limit): the ceiling is limit/window requests per second, times the batch size.
3. batch, service protection off: what the simulator and gateway manage at all on this machine.
4. one lead per request (``create_lead``), operations counted, on ``--single-n`` leads.

5. the app path (``--app-n`` leads): create-lead messages on the lead queue (the sync puts them there for
   signups, on the SQLite default), drained by the batch consumer (``LeadBatchCreation``, what the
   ``create_lead_batches`` timer runs with SALES_MODE=dataverse; ``--lead-batch`` messages per batch, one
   thread as the timer is one) into the simulator, operations counted. Also: messages poisoned or left.

For each: wall time, lead operations/s and its fraction of the ceiling, failed leads (results not OK, or a
chunk whose call raised), duplicates (simulator lead count against distinct ids, and a re-submit of
``--resubmit`` created drafts that must not add leads), HTTP round trips per lead (counted by a transport
adapter mounted on the gateway's ``requests.Session``), 429s received and the time spent waiting them out.
Prints figures; makes no assertion on timings.

    python bench/bench_dataverse.py [-n 5000] [--window 5] [--limit 600] [--workers 4] [--batch-size 10]
"""
from __future__ import annotations

import argparse
import logging
import math
import queue
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Sequence

import requests
from requests.adapters import HTTPAdapter

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from shared.adapters.dataverse_sales import DataverseError, DataverseSales  # noqa: E402
from shared.bootstrap import Container  # noqa: E402
from shared.config import Settings  # noqa: E402
from signups import numbered_signup  # noqa: E402
from shared.domain.sales import LeadDraft  # noqa: E402
from shared.ports import LeadResult  # noqa: E402
from shared.queue_worker import poison_queue_name  # noqa: E402
from tests.contract.factories import lead_draft  # noqa: E402
from tests.dataverse_sim import DataverseSimulator  # noqa: E402

TARGET_FRACTION = 0.9


class CountingAdapter(HTTPAdapter):
    """Counts every HTTP round trip the gateway makes, by kind and by answer status."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self._lock = threading.Lock()
        self.kinds: Counter[str] = Counter()
        self.statuses: Counter[int] = Counter()
        self.retry_after: Counter[str] = Counter()

    def send(self, request, *args, **kwargs):
        response = super().send(request, *args, **kwargs)
        path = request.path_url.split("?")[0].rsplit("/", 1)[-1]
        kind = f"{request.method} {'$batch' if path == '$batch' else 'leads(id)' if path.startswith('leads(') else path}"
        with self._lock:
            self.kinds[kind] += 1
            self.statuses[response.status_code] += 1
            if response.status_code == 429:
                self.retry_after[response.headers.get("Retry-After", "-")] += 1
        return response

    @property
    def total(self) -> int:
        with self._lock:
            return sum(self.kinds.values())

    def reset(self) -> None:
        with self._lock:
            self.kinds.clear()
            self.statuses.clear()
            self.retry_after.clear()


class SleepMeter:
    """The real ``time.sleep``, adding up how long the gateway waited (Retry-After and backoff)."""

    def __init__(self):
        self._lock = threading.Lock()
        self.calls = 0
        self.seconds = 0.0

    def __call__(self, seconds: float) -> None:
        with self._lock:
            self.calls += 1
            self.seconds += seconds
        time.sleep(seconds)


def run_scenario(drafts: Sequence[LeadDraft], *, window: float, limit: int, counts_operations: bool,
                 protection: bool, batch: bool, workers: int, batch_size: int, chunk: int,
                 resubmit: int) -> dict:
    with DataverseSimulator(max_requests=limit, window_seconds=window,
                            batch_counts_operations=counts_operations) as sim:
        sim.protection.enabled = protection
        token = sim.issue_token()
        session = requests.Session()
        adapter = CountingAdapter(pool_connections=1, pool_maxsize=max(workers, 1))
        session.mount("http://", adapter)
        sleeper = SleepMeter()
        sales = DataverseSales(sim.url, lambda: token, session=session, batch_size=batch_size, sleep=sleeper,
                               timeout=(5.0, 60.0))
        size = chunk if batch else 1
        work: queue.Queue[list[LeadDraft]] = queue.Queue()
        for start in range(0, len(drafts), size):
            work.put(list(drafts[start:start + size]))
        results: list[LeadResult] = []
        raised: Counter[str] = Counter()
        lock = threading.Lock()

        def worker() -> None:
            while True:
                try:
                    piece = work.get_nowait()
                except queue.Empty:
                    return
                try:
                    if batch:
                        got = sales.create_leads(piece)
                    else:
                        got = [LeadResult(piece[0].lead_id, snapshot=sales.create_lead(piece[0]))]
                except DataverseError as error:  # the whole call failed: every lead in it is a failed lead
                    got = [LeadResult(d.lead_id, error=error) for d in piece]
                    with lock:
                        raised[type(error).__name__] += 1
                with lock:
                    results.extend(got)

        threads = [threading.Thread(target=worker, name=f"bench-{i}") for i in range(workers)]
        start = time.perf_counter()
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        wall = time.perf_counter() - start

        trips, kinds = adapter.total, dict(adapter.kinds)
        sleeps, slept = sleeper.calls, sleeper.seconds
        statuses, retry_after = dict(adapter.statuses), dict(adapter.retry_after)
        failed = [r for r in results if not r.ok]
        errors = Counter(f"{type(r.error).__name__} {r.error.status}" for r in failed)
        distinct = {r.snapshot.lead_id for r in results if r.ok}
        count_after_run = sim.lead_count()
        expected_ids = {d.lead_id for d in drafts}
        stray = {row_id for row_id in sim.store.rows["leads"]} - expected_ids

        # Re-submit drafts that were created: they must come back as the existing leads, no new rows.
        again = [d for d in drafts if d.lead_id in distinct][:resubmit]
        adapter.reset()
        again_start = time.perf_counter()
        again_results = sales.create_leads(again) if batch else [
            LeadResult(d.lead_id, snapshot=sales.create_lead(d)) for d in again]
        again_wall = time.perf_counter() - again_start
        again_trips, again_kinds = adapter.total, dict(adapter.kinds)
        again_throttled = adapter.statuses.get(429, 0)
        count_after_again = sim.lead_count()
        sales.close()
        session.close()

    n = len(drafts)
    created = len(distinct)
    return {
        "n": n, "wall": wall, "created": created, "rate": created / wall, "failed": len(failed),
        "errors": dict(errors), "raised": dict(raised), "sim_leads": count_after_run,
        "duplicates": count_after_run - created, "stray": len(stray), "trips": trips, "kinds": kinds,
        "statuses": statuses, "retry_after": retry_after, "sleeps": sleeps, "slept": slept,
        "resubmitted": len(again), "resubmit_ok": sum(r.ok for r in again_results),
        "resubmit_growth": count_after_again - count_after_run, "resubmit_trips": again_trips,
        "resubmit_kinds": again_kinds, "resubmit_wall": again_wall, "resubmit_429": again_throttled,
    }


def run_app_scenario(n: int, *, window: float, limit: int, batch_size: int, lead_batch: int) -> dict:
    """Messages on the queue → ``LeadBatchCreation.drain`` → the simulator; the messages are made first."""
    with tempfile.TemporaryDirectory(prefix="b2b-bench-dv-") as folder, \
            DataverseSimulator(max_requests=limit, window_seconds=window, batch_counts_operations=True) as sim:
        token = sim.issue_token()
        session = requests.Session()
        adapter = CountingAdapter(pool_connections=1, pool_maxsize=4)
        session.mount("http://", adapter)
        sleeper = SleepMeter()
        sales = DataverseSales(sim.url, lambda: token, session=session, batch_size=batch_size, sleep=sleeper,
                               timeout=(5.0, 60.0))
        settings = Settings.from_env({"SALES_MODE": "dataverse", "DATAVERSE_URL": "https://bench.crm4.dynamics.com",
                                      "LEAD_BATCH_SIZE": str(lead_batch)}, data_dir=Path(folder), sync_batch_size=1000)
        c = Container.build(settings, sales=sales)
        for i in range(n):
            c.intake.submit(numbered_signup(i))
        while c.channel_sync.run().prospects_created:
            pass
        queued = c.queue.count(settings.lead_queue)
        adapter.reset()
        start = time.perf_counter()
        done = c.lead_batches.drain(max_batches=10 ** 6)
        wall = time.perf_counter() - start
        trips, kinds, statuses = adapter.total, dict(adapter.kinds), dict(adapter.statuses)
        recorded = sum(1 for p in c.operator.prospects(limit=n) if p.lead_created_at is not None)
        left = c.queue.count(settings.lead_queue)
        poisoned = c.queue.count(poison_queue_name(settings.lead_queue))
        sim_leads = sim.lead_count()
        for closable in (c.store, c.queue, sales, session):
            closable.close()
    return {"n": n, "queued": queued, "wall": wall, "created": done.created, "rate": done.created / wall,
            "recorded": recorded, "retried": done.retried, "poisoned": poisoned, "left": left, "sim_leads": sim_leads,
            "duplicates": sim_leads - recorded, "trips": trips, "kinds": kinds, "statuses": statuses,
            "sleeps": sleeper.calls, "slept": sleeper.seconds}


def report_app(r: dict, ceiling_ops: float, window: float, limit: int, lead_batch: int, batch_size: int) -> None:
    print(f"\n== app path: {r['queued']} create-lead messages on the queue -> LeadBatchCreation ({lead_batch} messages "
          f"per batch, $batch of {batch_size}) -> simulator, operations counted")
    best = math.floor((r["n"] - 1) / limit) * window
    print(f"   {r['created']} leads in {r['wall']:.1f} s: {r['rate']:.1f} lead ops/s = {r['rate'] / ceiling_ops:.2f} of the "
          f"ceiling {ceiling_ops:.0f}/s (target >= {TARGET_FRACTION}); the window allows >= {best:.0f} s for {r['n']} "
          f"(that / wall = {best / r['wall']:.2f})")
    print(f"   recorded on prospects: {r['recorded']}; released for retry: {r['retried']}; poisoned: {r['poisoned']} "
          f"(target 0); left on the queue: {r['left']}")
    print(f"   duplicates: {r['duplicates']} (simulator {r['sim_leads']} leads; target 0)")
    print(f"   HTTP round trips: {r['trips']} = {r['trips'] / r['n']:.3f} per lead {r['kinds']}")
    print(f"   429s: {r['statuses'].get(429, 0)}; gateway slept {r['sleeps']} times, {r['slept']:.1f} s; answers {r['statuses']}")


def report(title: str, r: dict, ceiling_ops: float | None, window: float, limit: int, cost_per_lead: float) -> None:
    print(f"\n== {title}")
    print(f"   {r['n']} leads in {r['wall']:.1f} s: {r['rate']:.1f} lead ops/s", end="")
    if ceiling_ops:
        fraction = r["rate"] / ceiling_ops
        # The window starts empty, so the first `limit` operations may go at once and the last of n
        # cannot be admitted before floor((n-1)/limit) windows have passed: the least wall time the window allows.
        best = math.floor((r["n"] * cost_per_lead - 1) / limit) * window
        if r["n"] * cost_per_lead <= limit:
            print(f" (the window never filled: {r['n'] * cost_per_lead:.0f} of {limit} requests; "
                  f"ceiling {ceiling_ops:.0f}/s not reached, so no fraction)")
        else:
            print(f" = {fraction:.2f} of the ceiling {ceiling_ops:.0f}/s (target >= {TARGET_FRACTION}); "
                  f"the window allows >= {best:.0f} s for {r['n']} (that / wall = {best / r['wall']:.2f})")
    else:
        print(" (no ceiling: service protection off)")
    print(f"   failed leads: {r['failed']} (target 0){'  ' + str(r['errors']) if r['errors'] else ''}"
          f"{'  calls raised: ' + str(r['raised']) if r['raised'] else ''}")
    print(f"   duplicates: {r['duplicates']} (simulator {r['sim_leads']} leads, {r['created']} distinct ids, "
          f"{r['stray']} not from a draft; target 0)")
    print(f"   re-submitted {r['resubmitted']} created drafts: {r['resubmit_ok']} OK, lead count grew by "
          f"{r['resubmit_growth']} (target 0); {r['resubmit_trips']} round trips "
          f"({r['resubmit_trips'] / max(r['resubmitted'], 1):.2f}/lead) {r['resubmit_kinds']}, "
          f"{r['resubmit_429']} 429s, in {r['resubmit_wall']:.1f} s")
    print(f"   HTTP round trips: {r['trips']} = {r['trips'] / r['n']:.3f} per lead {r['kinds']}")
    throttled = r["statuses"].get(429, 0)
    print(f"   429s during the run: {throttled} (Retry-After values {r['retry_after'] or '-'}); gateway slept {r['sleeps']} times, "
          f"{r['slept']:.1f} s summed over threads; answers {r['statuses']}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("-n", type=int, default=5000, help="leads per batch scenario")
    parser.add_argument("--window", type=float, default=5.0, help="sliding window length, seconds")
    parser.add_argument("--limit", type=int, default=600, help="requests (operations) admitted per window")
    parser.add_argument("--workers", type=int, default=4, help="threads sharing one gateway")
    parser.add_argument("--batch-size", type=int, default=10, help="leads per $batch (the gateway's batch_size)")
    parser.add_argument("--chunk", type=int, default=50, help="drafts per create_leads call")
    parser.add_argument("--single-n", type=int, default=1200, help="leads for the one-lead-per-request scenario")
    parser.add_argument("--resubmit", type=int, default=200, help="created drafts to send again")
    parser.add_argument("--app-n", type=int, default=5000, help="leads for the app-path scenario")
    parser.add_argument("--lead-batch", type=int, default=100, help="messages per batch of the app's consumer")
    parser.add_argument("--skip", action="append", default=[],
                        choices=["batch", "documented", "unthrottled", "single", "app"],
                        help="leave out a scenario (repeatable)")
    args = parser.parse_args()
    logging.getLogger("b2b.dataverse").setLevel(logging.ERROR)

    ceiling = args.limit / args.window
    print(f"Configuration: window {args.limit} requests per {args.window:g} s per user "
          f"(ceiling {ceiling:.0f} operations/s when each operation counts), {args.workers} worker threads, "
          f"batch_size {args.batch_size}, {args.chunk} drafts per create_leads call, N {args.n}, "
          f"single-request N {args.single_n}, re-submit {args.resubmit}")
    drafts = [lead_draft(i) for i in range(1, max(args.n, args.single_n) + 1)]
    common = dict(window=args.window, limit=args.limit, workers=args.workers, batch_size=args.batch_size,
                  chunk=args.chunk, resubmit=args.resubmit)

    if "batch" not in args.skip:
        r = run_scenario(drafts[:args.n], counts_operations=True, protection=True, batch=True, **common)
        report("create_leads ($batch), operations inside a $batch count toward the window", r, ceiling, args.window,
               args.limit, 1.0)
    if "documented" not in args.skip:
        r = run_scenario(drafts[:args.n], counts_operations=False, protection=True, batch=True, **common)
        report(f"create_leads ($batch), a $batch counts as one request (documented; ceiling {ceiling:.0f} "
               f"requests/s x {args.batch_size} leads)", r, ceiling * args.batch_size, args.window, args.limit,
               1.0 / args.batch_size)
    if "unthrottled" not in args.skip:
        r = run_scenario(drafts[:args.n], counts_operations=True, protection=False, batch=True, **common)
        report("create_leads ($batch), service protection off (simulator + gateway capacity)", r, None,
               args.window, args.limit, 1.0)
    if "single" not in args.skip:
        r = run_scenario(drafts[:args.single_n], counts_operations=True, protection=True, batch=False, **common)
        report("create_lead, one lead per request, operations counted", r, ceiling, args.window, args.limit, 1.0)
    if "app" not in args.skip:
        r = run_app_scenario(args.app_n, window=args.window, limit=args.limit, batch_size=args.batch_size,
                             lead_batch=args.lead_batch)
        report_app(r, ceiling, args.window, args.limit, args.lead_batch, args.batch_size)


if __name__ == "__main__":
    main()
