"""10,000 signups through sync, lead creation, decisions and emails on the embedded default.

Prints the total seconds for 1,000 and for 10,000 signups and their ratio (linear would be 10×).
Every step runs through the same services and queue rules the host uses; decisions are made in the
embedded Sales (a third each: won, disqualified, lost)."""
from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from shared.bootstrap import Container  # noqa: E402
from shared.config import Settings  # noqa: E402
from signups import decide_in_thirds, numbered_signup  # noqa: E402
from shared.domain.model import ProspectStatus  # noqa: E402
from shared.queue_worker import QueueRules, drain_queues  # noqa: E402

RULES = QueueRules(batch_size=32, visibility_timeout=0)


def run(n: int, environ: dict[str, str] | None = None) -> dict[str, float]:
    """The whole flow for ``n`` signups on the backend that ``environ`` selects (the embedded default)."""
    with tempfile.TemporaryDirectory(prefix="b2b-bench-") as folder:
        c = Container.build(Settings.from_env(environ or {}, data_dir=Path(folder), sync_batch_size=500))
        phases: dict[str, float] = {}
        start = time.perf_counter()

        def phase(name: str) -> None:
            phases[name] = time.perf_counter() - start - sum(phases.values())

        for i in range(n):
            c.intake.submit(numbered_signup(i))
        phase("intake")
        c.channel_sync.run()
        phase("sync")
        drain_queues(c.queue, c.queue_handlers(), RULES)
        phase("leads")
        decide_in_thirds(c.sales)
        phase("decisions")
        drain_queues(c.queue, c.queue_handlers(), RULES)
        phase("outcomes+emails")
        total = time.perf_counter() - start
        decided = sum(len(c.operator.prospects(s, limit=n)) for s in (ProspectStatus.APPROVED, ProspectStatus.REJECTED))
        emails = len(c.operator.emails(limit=n))
        assert decided == n and emails == n, f"{decided} decided, {emails} emails of {n}"
        for adapter in (c.store, c.queue, c.sales):
            adapter.close()
        return {"total": total, **phases}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--small", type=int, default=1000)
    parser.add_argument("--large", type=int, default=10_000)
    args = parser.parse_args()
    small, large = run(args.small), run(args.large)
    for n, result in ((args.small, small), (args.large, large)):
        detail = ", ".join(f"{k} {v:.1f}s" for k, v in result.items() if k != "total")
        print(f"{n:>6} signups end to end: {result['total']:.1f} s ({n / result['total']:.0f}/s; {detail})")
    ratio = large["total"] / small["total"]
    print(f"{args.large}/{args.small} time ratio: {ratio:.2f}x (linear = {args.large / args.small:.0f}x; target <= 11x)")
    print(f"{args.large} signups total: {large['total']:.1f} s (target <= 60 s on 2 cores)")


if __name__ == "__main__":
    main()
