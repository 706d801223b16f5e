"""Order checks per second through the local host, against intake through the same host in the same run.

One local host (embedded default, SALES_MODE=none, no timers or queue polling) with partner tokens from a
local issuer (tests/auth_keys.py: RSA keys, a JWKS on loopback). An approved partner with a credit line is
set up in-process on the host's state folder; then, alternating, N signups (POST /api/signups) and N order
checks (POST /api/orders/check with the partner admin's bearer token: token verification, the user and
credit-line reads, the decision) go through the same client: fixed threads, a new connection per request.
Prints requests/s, the ratio checks/intake and p50/p99 latency; checks every answer; asserts no timing.

    python bench/bench_orders.py [-n 2000] [--threads 8] [--rounds 3]
"""
from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "bench")]

from bench_intake import check, post_all, print_best, signup_bodies, start_local_host  # noqa: E402


def approved_partner(data_dir: Path, issuer_env: dict[str, str]) -> tuple[str, str]:
    """A signup approved by the back office with a 1,000,000.00 EUR credit line: (hierarchy id, admin email)."""
    from shared.bootstrap import Container
    from shared.config import Settings
    from shared.demo import demo_signup

    c = Container.build(Settings.from_env({**issuer_env, "SALES_MODE": "none"}, data_dir=data_dir))
    try:
        body = demo_signup("Bench Partner AB", "Anna", "Berg", "sv-SE", "SE", "111 22")
        c.intake.submit(body)
        c.channel_sync.run()
        prospect = c.operator.prospects()[0]
        hierarchy = c.back_office.approve(prospect.number, "bench").hierarchy_id
        c.credit.set_line(hierarchy, {"limit": "1000000.00", "currency": "EUR"})
        return hierarchy, body["contact"]["email"]
    finally:
        for adapter in (c.store, c.queue):
            adapter.close()


def check_bodies(n: int, hierarchy: str, user_id: str, tag: str) -> list[bytes]:
    # Amounts at, under and over the credit: the decision is computed either way.
    amounts = ["125.50", "1000000.00", "1000000.01"]
    return [json.dumps({"hierarchyId": hierarchy, "userId": user_id, "orderId": f"SO-{tag}{i}",
                        "amount": amounts[i % 3], "currency": "EUR"}).encode() for i in range(n)]


def checked_orders(server, result: dict, n: int) -> None:
    if result["statuses"] != {200: n}:
        raise SystemExit(f"order checks: expected {n} x 200, got {result['statuses']} (log: {server.log_path})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("-n", type=int, default=2000, help="requests per measured run (default 2000)")
    parser.add_argument("--threads", type=int, default=8, help="client threads (default 8)")
    parser.add_argument("--warmup", type=int, default=200, help="requests of each kind first (default 200)")
    parser.add_argument("--rounds", type=int, default=3, help="measured runs of each kind, alternating (default 3)")
    args = parser.parse_args()

    from shared.domain.partners import user_id_for
    from tests.auth_keys import LocalIssuer

    with LocalIssuer() as issuer, tempfile.TemporaryDirectory(prefix="b2b-bench-orders-") as folder:
        data_dir = Path(folder) / "data"
        hierarchy, admin_email = approved_partner(data_dir, issuer.settings_env())
        user_id = user_id_for(admin_email)
        # One token for the run, as a storefront session would reuse it (lifetime covers the run).
        auth = {"Authorization": issuer.header_for(admin_email, lifetime_seconds=3600)}
        host = start_local_host(data_dir, Path(folder) / "host.log",
                                {**issuer.settings_env(), "SALES_MODE": "none", "LOG_LEVEL": "WARNING"})
        orders_url = f"{host.base_url}/api/orders/check"
        try:
            check(host, post_all(host.intake_url, signup_bodies(1, "first"), 1), 1, "first request")
            checked_orders(host, post_all(orders_url, check_bodies(1, hierarchy, user_id, "first"), 1, auth), 1)
            check(host, post_all(host.intake_url, signup_bodies(args.warmup, "warm"), args.threads), args.warmup)
            checked_orders(host, post_all(orders_url, check_bodies(args.warmup, hierarchy, user_id, "warm"),
                                          args.threads, auth), args.warmup)
            results: dict[str, list[dict]] = {"intake": [], "order checks": []}
            for round_number in range(args.rounds):
                kinds = ("intake", "order checks") if round_number % 2 == 0 else ("order checks", "intake")
                for kind in kinds:
                    if kind == "intake":
                        result = post_all(host.intake_url, signup_bodies(args.n, f"r{round_number}-"), args.threads)
                        check(host, result, args.n)
                    else:
                        bodies = check_bodies(args.n, hierarchy, user_id, f"r{round_number}-")
                        result = post_all(orders_url, bodies, args.threads, auth)
                        checked_orders(host, result, args.n)
                    results[kind].append(result)
            jwks_fetches = issuer.fetches
        finally:
            host.stop()

    print(f"order checks vs intake through one local host: {args.n} requests x {args.rounds} rounds each, "
          f"{args.threads} client threads, a new connection per request (after {args.warmup} warm-up each)")
    best = print_best(results)
    print(f"  ratio order checks / intake: {best['order checks']['rps'] / best['intake']['rps']:.2f}x")
    print(f"  JWKS fetches by the host over the whole run: {jwks_fetches} (keys are cached)")


if __name__ == "__main__":
    main()
