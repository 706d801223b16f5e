"""Order checks and reservations per second through the local host, beside intake through the same host in the
same run; then the credit ledger's read of one partner with 10,000 movements.

One local host (SALES_MODE=none, no timers or queue polling) with partner tokens from a local issuer
(tests/auth_keys.py: RSA keys, a JWKS on loopback). An approved partner with a large credit line is set up
in-process on the host's state; then, alternating, N signups (POST /api/signups), N order checks (POST
/api/orders/check) and N reservations (POST /api/orders/{id}/reserve: the check, the hold and its ledger entry
in one unit of work) go through the same client: fixed threads, each keeping one connection alive (a
storefront back end does). Prints requests/s, p50/p99 and the ratios against intake (the baseline).

Then the partner's ledger is topped up to 10,000 movements (payments, in-process through the service) and read
through the host (back-office key): its first page (50 entries) against the first page of a partner with a
short ledger of 60 (the baseline: a page should cost the page, not the ledger), and the whole ledger as CSV.
Checks every answer; asserts no timing.

    python bench/bench_orders.py [-n 2000] [--threads 8] [--rounds 3] [--movements 10000] [--azurite]

With --azurite the state is Azure Tables on Azurite (the ledger rows in the partner's partition) instead of
SQLite.
"""
from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
import uuid
from contextlib import ExitStack
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "bench")]

from bench_intake import _percentile, check, post_all, print_best, signup_bodies, start_local_host  # noqa: E402

KEY = "bench-orders-backoffice-key-0123456789"
SHORT_LEDGER = 60  # the baseline partner's movements: more than one page, so both read a full page of 50
LIMIT = "100000000.00"  # reservations of 1.00 never run out of credit: each one holds and writes its entry


def approved_partner(c, n: int, limit: str = LIMIT) -> tuple[str, str]:
    """Signup ``n`` approved by the back office with a credit line in EUR: (hierarchy id, admin email)."""
    from shared.demo import demo_signup

    body = demo_signup(f"Bench{n} Partner AB", "Anna", "Berg", "sv-SE", "SE", "111 22")  # anna@bench<n>.example
    c.intake.submit(body)
    c.channel_sync.run()
    email = body["contact"]["email"]
    prospect = next(p for p in c.operator.prospects() if p.request.contact.email.lower() == email.lower())
    hierarchy = c.back_office.approve(prospect.number, "bench").hierarchy_id
    c.credit.set_line(hierarchy, {"limit": limit, "currency": "EUR"})
    return hierarchy, email


def check_bodies(n: int, hierarchy: str, user_id: str, tag: str) -> list[bytes]:
    # Amounts at, under and over the credit: the decision is computed either way.
    amounts = ["125.50", LIMIT, "100000000.01"]
    return [json.dumps({"hierarchyId": hierarchy, "userId": user_id, "orderId": f"SO-{tag}{i}",
                        "amount": amounts[i % 3], "currency": "EUR"}).encode() for i in range(n)]


def reservations(base_url: str, n: int, hierarchy: str, user_id: str, tag: str) -> tuple[list[str], list[bytes]]:
    body = json.dumps({"hierarchyId": hierarchy, "userId": user_id, "amount": "1.00", "currency": "EUR"}).encode()
    return [f"{base_url}/api/orders/R-{tag}{i}/reserve" for i in range(n)], [body] * n


def expect(server, result: dict, status: int, n: int, what: str) -> None:
    if result["statuses"] != {status: n}:
        raise SystemExit(f"{what}: expected {n} x {status}, got {result['statuses']} (log: {server.log_path})")


def get_all(url: str, n: int, threads: int, headers: dict[str, str]) -> dict:
    """GET ``url`` n times with keep-alive clients: requests/s and p50/p99, every answer checked 200."""
    import threading
    from concurrent.futures import ThreadPoolExecutor

    import requests

    local, sessions = threading.local(), []

    def get(_: int) -> tuple[float, int]:
        session = getattr(local, "session", None)
        if session is None:
            session = local.session = requests.Session()
            sessions.append(session)
        started = time.perf_counter()
        response = session.get(url, headers=headers, timeout=120)
        return time.perf_counter() - started, response.status_code

    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=threads) as pool:
        results = list(pool.map(get, range(n)))
    wall = time.perf_counter() - started
    for session in sessions:
        session.close()
    latencies = sorted(r[0] for r in results)
    statuses: dict[int, int] = {}
    for _, status in results:
        statuses[status] = statuses.get(status, 0) + 1
    return {"wall": wall, "rps": n / wall, "p50": _percentile(latencies, 0.5), "p99": _percentile(latencies, 0.99),
            "statuses": statuses}


def top_up(c, hierarchy: str, movements: int) -> int:
    """Payments through the service until the partner's ledger has ``movements`` entries; returns how many."""
    line = c.credit.line(hierarchy)
    for i in range(line.movements, movements):
        c.ledger.record_payment(hierarchy, {"paymentId": f"BANK-{i}", "amount": "1.00", "currency": "EUR",
                                            "operator": "bench", "reference": f"Invoice {i}"})
    return c.credit.line(hierarchy).movements


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("-n", type=int, default=2000, help="requests per measured run (default 2000)")
    parser.add_argument("--threads", type=int, default=8, help="client threads (default 8)")
    parser.add_argument("--warmup", type=int, default=200, help="requests of each kind first (default 200)")
    parser.add_argument("--rounds", type=int, default=3, help="measured runs of each kind, alternating (default 3)")
    parser.add_argument("--movements", type=int, default=10_000, help="the ledger read's partner (default 10000)")
    parser.add_argument("--pages", type=int, default=200, help="first-page reads of each partner (default 200)")
    parser.add_argument("--azurite", action="store_true", help="Azure Tables on Azurite instead of SQLite")
    args = parser.parse_args()

    from shared.bootstrap import Container
    from shared.config import Settings
    from shared.domain.partners import user_id_for
    from tests.auth_keys import LocalIssuer

    with ExitStack() as stack:
        issuer = stack.enter_context(LocalIssuer())
        folder = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="b2b-bench-orders-")))
        data_dir = folder / "data"
        env = {**issuer.settings_env(), "SALES_MODE": "none", "SEND_RECEIVED_EMAIL": "false"}
        backend = "SQLite"
        if args.azurite:
            from devhost.azurite import AzuriteProcess

            azurite = stack.enter_context(AzuriteProcess(folder / "azurite"))
            suffix = uuid.uuid4().hex[:10]
            env.update({"STATE_BACKEND": "azure", "AzureWebJobsStorage": azurite.connection_string,
                        "STATE_TABLE": f"orders{suffix}", "LEAD_QUEUE": f"leads-{suffix}",
                        "OUTCOME_QUEUE": f"outcomes-{suffix}", "EMAIL_QUEUE": f"emails-{suffix}"})
            backend = "Azure Tables (Azurite)"
        c = Container.build(Settings.from_env(env, data_dir=data_dir))
        stack.callback(c.queue.close)
        stack.callback(c.store.close)
        hierarchy, admin_email = approved_partner(c, 1)
        small, _ = approved_partner(c, 2)
        user_id = user_id_for(admin_email)
        # One token for the run, as a storefront session would reuse it (lifetime covers the run).
        auth = {"Authorization": issuer.header_for(admin_email, lifetime_seconds=3600)}
        host = start_local_host(data_dir, folder / "host.log", {**env, "LOG_LEVEL": "WARNING",
                                                                "DEVHOST_FUNCTION_KEY": KEY})
        stack.callback(host.stop)
        base = host.base_url
        check_url = f"{base}/api/orders/check"

        def run(kind: str, n: int, tag: str) -> dict:
            if kind == "intake":
                result = post_all(host.intake_url, signup_bodies(n, tag), args.threads, keep_alive=True)
                check(host, result, n)
            elif kind == "order checks":
                result = post_all(check_url, check_bodies(n, hierarchy, user_id, tag), args.threads, auth,
                                  keep_alive=True)
                expect(host, result, 200, n, kind)
            else:
                urls, bodies = reservations(base, n, hierarchy, user_id, tag)
                result = post_all(urls, bodies, args.threads, auth, keep_alive=True)
                expect(host, result, 201, n, kind)
            return result

        kinds = ["intake", "order checks", "reservations"]
        for kind in kinds:
            run(kind, 1, "first")
            run(kind, args.warmup, "warm")
        results: dict[str, list[dict]] = {kind: [] for kind in kinds}
        for round_number in range(args.rounds):
            for kind in kinds[round_number % 3:] + kinds[:round_number % 3]:
                results[kind].append(run(kind, args.n, f"r{round_number}-"))

        print(f"order checks and reservations vs intake through one local host on {backend}: {args.n} requests x "
              f"{args.rounds} rounds each, {args.threads} keep-alive client threads (after {args.warmup} warm-up "
              "each)")
        best = print_best(results)
        for kind in ("order checks", "reservations"):
            print(f"  ratio {kind} / intake: {best[kind]['rps'] / best['intake']['rps']:.2f}x")
        print(f"  JWKS fetches by the host over the whole run: {issuer.fetches} (keys are cached)")

        before = c.credit.line(hierarchy).movements
        started = time.perf_counter()
        movements = top_up(c, hierarchy, args.movements)
        top_up_seconds = time.perf_counter() - started
        few = top_up(c, small, SHORT_LEDGER)
        key = {"x-functions-key": KEY}
        ledger_url = f"{base}/api/backoffice/partners/{{}}/ledger"
        for partner in (hierarchy, small):
            expect(host, get_all(ledger_url.format(partner), 20, args.threads, key), 200, 20, "ledger warm-up")
        pages = {f"first page, {movements} movements": get_all(ledger_url.format(hierarchy), args.pages,
                                                                args.threads, key),
                 f"first page, {few} movements": get_all(ledger_url.format(small), args.pages, args.threads, key)}
        for what, result in pages.items():
            expect(host, result, 200, args.pages, what)
        import requests

        exports = []
        for _ in range(3):
            started = time.perf_counter()
            response = requests.get(ledger_url.format(hierarchy) + "?format=csv", headers=key, timeout=300)
            exports.append(time.perf_counter() - started)
            rows = response.text.count("\n") - 1
            if response.status_code != 200 or rows != movements:
                raise SystemExit(f"CSV export: {response.status_code}, {rows} rows of {movements}")
        print(f"the credit ledger through the host ({args.pages} reads of each first page, {args.threads} keep-alive "
              f"threads; {movements - before} of the {movements} movements were payments recorded in-process "
              f"first, in {top_up_seconds:.1f} s, {(movements - before) / top_up_seconds:.0f}/s):")
        best_pages = print_best({what: [result] for what, result in pages.items()})
        long, short = best_pages.values()
        print(f"  ratio first page of the long ledger / of the short one: {long['rps'] / short['rps']:.2f}x "
              "(1.0x: a page costs the page, not the ledger)")
        print(f"  whole ledger as CSV ({movements} rows, {len(response.content) / 1e6:.1f} MB): best "
              f"{min(exports):.2f} s (runs: {', '.join(f'{s:.2f}' for s in exports)}), "
              f"{movements / min(exports):.0f} rows/s")


if __name__ == "__main__":
    main()
