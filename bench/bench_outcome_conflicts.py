"""Optimistic-concurrency conflicts of outcome processing on Azurite, per 1,000 outcomes, before and after.

A prospect's outcomes come in pairs seconds apart ("qualified" then "won" or "lost"), so one queue batch
usually holds both and the host runs them side by side: both read the prospect and the later commit fails
its ETag. Before, each such conflict sent the message back to the queue for host.json's visibilityTimeout
(10 s). Now the outcomes of one prospect take turns in-process (ProspectLocks) and a conflict that still
happens (another instance) is run again at once with jitter (bounded attempts).

N signups are decided in the embedded Sales (a third each won, disqualified, lost), and their outcome
messages are processed by the local host's own queue poller (devhost.queues.QueuePoller) with host.json's
batchSize and newBatchThreshold, on a fresh table and queues per variant, all in one run:

  before        no per-prospect turns, one attempt (the old code path)
  retry only    no per-prospect turns, in-process retry
  after         per-prospect turns and in-process retry (what the app wires)

For each: message retries (a lost race that went back to the queue: 10 s each in the host) and commits
that lost a race (absorbed by the in-process retry, or not), per 1,000 outcomes, and the ratio to before.
Retried messages become visible again after --retry-delay seconds instead of the 10 s: the bench counts
retries, it does not wait them out."""
from __future__ import annotations

import argparse
import logging
import sys
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from bench_azurite import azure_environ  # noqa: E402
from devhost.azurite import AzuriteProcess  # noqa: E402
from devhost.queues import QueuePoller  # noqa: E402
from devhost.settings import QueueOptions, load_host_config, queue_options  # noqa: E402
from shared.adapters.azure_table_store import TableUnitOfWork  # noqa: E402
from shared.bootstrap import Container  # noqa: E402
from shared.config import Settings  # noqa: E402
from shared.domain.errors import ConcurrencyConflict  # noqa: E402
from shared.queue_worker import QueueRules, QueueWorker, poison_queue_name  # noqa: E402
from shared.services.propagation import CONFLICT_ATTEMPTS, OutcomePropagation, ProspectLocks  # noqa: E402
from signups import decide_in_thirds, numbered_signup  # noqa: E402

VARIANTS = {
    "before": {"locks": None, "conflict_attempts": 1},
    "retry only": {"locks": None, "conflict_attempts": CONFLICT_ATTEMPTS},
    "after": {"locks": "per prospect", "conflict_attempts": CONFLICT_ATTEMPTS},
}


class Counter:
    def __init__(self):
        self._lock = threading.Lock()
        self.value = 0

    def add(self) -> None:
        with self._lock:
            self.value += 1


LOST_COMMITS = Counter()  # every commit on the table store that failed as a lost race, in this process


def _counting_commits() -> None:
    """Count each commit that loses a race (the store raises ConcurrencyConflict), whoever retries it."""
    commit = TableUnitOfWork.commit

    def counted(self) -> None:
        try:
            commit(self)
        except ConcurrencyConflict:
            LOST_COMMITS.add()
            raise

    TableUnitOfWork.commit = counted


@dataclass
class Result:
    outcomes: int
    message_retries: int
    lost_commits: int
    poisoned: int
    seconds: float

    def per_thousand(self, count: int) -> float:
        return 1000 * count / self.outcomes


def decided(c: Container, n: int) -> int:
    """``n`` signups, synced, their leads created, decided in Sales; returns the outcome messages waiting."""
    for i in range(n):
        c.intake.submit(numbered_signup(i))
    c.channel_sync.run()
    QueueWorker(c.queue, c.settings.lead_queue, lambda m: c.lead_creation.handle(m.body),
                QueueRules(batch_size=32)).drain()
    decide_in_thirds(c.sales)
    return c.queue.count(c.settings.outcome_queue)


def run_variant(azurite, n: int, options: QueueOptions, variant: dict, folder: Path) -> Result:
    environ = {**azure_environ(azurite, uuid.uuid4().hex[:8]), "SALES_MODE": "embedded", "LOG_LEVEL": "ERROR"}
    c = Container.build(Settings.from_env(environ, data_dir=folder / uuid.uuid4().hex[:8], sync_batch_size=500))
    outcomes = decided(c, n)
    locks = ProspectLocks() if variant["locks"] else None
    propagation = OutcomePropagation(c.store, c.sales, c.clock, c.relay, c.decision_effects, locks=locks,
                                     conflict_attempts=variant["conflict_attempts"])
    retries, done = Counter(), Counter()

    def handle(message) -> None:
        try:
            propagation.handle(message.body)
        except ConcurrencyConflict:
            retries.add()
            raise
        done.add()

    class OutcomePoller(QueuePoller):
        """The host's poller, running the service directly instead of through the function's invoker."""

        def handle(self, message) -> None:
            handle(message)

    plan = SimpleNamespace(spec=SimpleNamespace(name="propagate_sales_outcome"))
    poller = OutcomePoller(plan, c.settings.outcome_queue, c.queue, options, invoker=None)
    poison = poison_queue_name(c.settings.outcome_queue)
    lost_before = LOST_COMMITS.value
    start = time.perf_counter()
    poller.start()
    try:
        while done.value + c.queue.count(poison) < outcomes:
            time.sleep(0.05)
    finally:
        poller.stop(timeout=60)
    elapsed = time.perf_counter() - start
    result = Result(outcomes, retries.value, LOST_COMMITS.value - lost_before, c.queue.count(poison), elapsed)
    for adapter in (c.store, c.queue, c.sales):
        adapter.close()
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("-n", type=int, default=600, help="signups (about 5/3 outcomes each: 600 -> 1,000)")
    parser.add_argument("--retry-delay", type=float, default=1.0,
                        help="seconds a retried message stays invisible (the host waits host.json's 10 s)")
    args = parser.parse_args()
    logging.getLogger().setLevel(logging.ERROR)  # each lost race logs a warning; the bench counts them
    host = queue_options(load_host_config(ROOT, {}))
    options = QueueOptions(rules=QueueRules(batch_size=host.rules.batch_size,
                                            max_dequeue_count=host.rules.max_dequeue_count,
                                            visibility_timeout=args.retry_delay),
                           new_batch_threshold=host.new_batch_threshold,
                           max_polling_interval=0.2)
    _counting_commits()
    results: dict[str, Result] = {}
    with tempfile.TemporaryDirectory(prefix="b2b-bench-conflicts-") as folder, \
            AzuriteProcess(Path(folder) / "azurite") as azurite:
        for name, variant in VARIANTS.items():
            print(f"{name}: deciding {args.n} signups, then their outcomes ...", file=sys.stderr, flush=True)
            results[name] = run_variant(azurite, args.n, options, variant, Path(folder))
    print(f"{args.n} signups; outcomes through the host's poller: batchSize {host.rules.batch_size}, "
          f"newBatchThreshold {host.new_batch_threshold} (up to {host.rules.batch_size + host.new_batch_threshold} "
          f"at once)")
    base = results["before"]
    for name, r in results.items():
        retries, lost = r.per_thousand(r.message_retries), r.per_thousand(r.lost_commits)
        ratio = (f"{r.message_retries / base.message_retries:.2f}x before" if base.message_retries else "n/a")
        print(f"{name:<11} {r.outcomes:5d} outcomes: {retries:6.1f} message retries per 1,000 ({ratio}), "
              f"{lost:6.1f} commits lost a race per 1,000, {r.poisoned} poisoned, {r.seconds:5.1f} s")


if __name__ == "__main__":
    main()
