"""What the intake's defenses cost: intake requests/s through the local host with them off and on, same run.

Two local hosts (each its own process and state folder) get the same valid JSON signups from the same
keep-alive client (8 threads, one persistent connection each, as bench_intake.py measures):

- `off`: INTAKE_RATE_LIMIT_PER_MINUTE=0 and INTAKE_DOMAIN_RATE_LIMIT_PER_HOUR=0, no CAPTCHA;
- `on`: both limits on (set high enough that every request is counted and none refused, so the run measures
  the counting, not refusals): each request reads the client's address from X-Forwarded-For, counts it in its
  minute's window and its email domain in its hour's, in the store, before the intake keeps it.
- `form off` / `form on`: the storefront form's post (303), without and with its checks: the signed stamp's
  HMAC and the honeypot besides the two windows (INTAKE_MIN_FILL_SECONDS=0 so the bench's instant posts pass).

Rounds alternate the order; the best round of each is compared, and the median of each round's on/off pair. Prints requests/s with p50/p99 and the ratios
on/off (target: the defenses cost at most 10 %, ratio >= 0.90). Checks that every request was accepted and
makes no assertion on timings. The load of other processes moves wall-clock rounds a lot on a shared machine,
so it also prints the host's own CPU time per request (from /proc) with the defenses off and on. A CAPTCHA is left out: its cost is the provider's round trip, not ours.

    python bench/bench_intake_defenses.py [-n 500] [--threads 8] [--rounds 8]
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path
from urllib.parse import urlencode

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_intake import check, post_all, print_best, signup_bodies, start_local_host  # noqa: E402

TARGET_RATIO = 0.90
# Both hosts sign form stamps with the same key, so one stamp serves both (the form's stamp is always checked).
OFF = {"INTAKE_RATE_LIMIT_PER_MINUTE": "0", "INTAKE_DOMAIN_RATE_LIMIT_PER_HOUR": "0", "INTAKE_MIN_FILL_SECONDS": "0",
       "INTAKE_SIGNING_SECRET": "bench"}
ON = {"INTAKE_RATE_LIMIT_PER_MINUTE": "1000000000", "INTAKE_DOMAIN_RATE_LIMIT_PER_HOUR": "1000000000",
      "INTAKE_MIN_FILL_SECONDS": "0", "INTAKE_SIGNING_SECRET": "bench"}


def form_bodies(n: int, tag: str, stamp: str) -> list[bytes]:
    from signups import numbered_signup

    bodies = []
    for i in range(n):
        signup = numbered_signup(i, tag)
        company, contact = signup["company"], signup["contact"]
        fields = {"company.name": company["name"], "company.phone": company["phone"],
                  "company.address.street": company["address"]["street"], "company.address.city": company["address"]["city"],
                  "company.address.zip_code": company["address"]["zip_code"],
                  "company.address.country": company["address"]["country"],
                  "contact.first_name": contact["first_name"], "contact.last_name": contact["last_name"],
                  "contact.email": contact["email"], "contact.phone": contact["phone"], "channel_id": "b2b-web",
                  "form_key": f"{tag}{i}", "form_stamp": stamp, "website": ""}
        bodies.append(urlencode(fields).encode())
    return bodies


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds the process (and its threads) used so far, from /proc (Linux)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def stamp_for(secret: str) -> str:
    """A form stamp as the host signs it (INTAKE_SIGNING_SECRET), issued a minute ago."""
    from datetime import datetime, timedelta, timezone

    from shared.domain.intake_defenses import issue_stamp

    return issue_stamp(secret.encode(), datetime.now(timezone.utc) - timedelta(minutes=1))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("-n", type=int, default=500, help="signups per measured run (default 500)")
    parser.add_argument("--threads", type=int, default=8, help="client threads (default 8)")
    parser.add_argument("--warmup", type=int, default=200, help="signups sent to each host first (default 200)")
    parser.add_argument("--rounds", type=int, default=8, help="measured runs per host, alternating (default 8)")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="b2b-bench-defenses-") as folder:
        folder_path = Path(folder)
        hosts = {}
        try:
            for name, settings in (("off", OFF), ("on", ON)):
                hosts[name] = start_local_host(folder_path / name, folder_path / f"{name}.log", settings)
            stamp = stamp_for(ON["INTAKE_SIGNING_SECRET"])
            for name, host in hosts.items():
                check(host, post_all(host.intake_url, signup_bodies(1, "first"), 1), 1, "first request")
                check(host, post_all(host.intake_url, signup_bodies(args.warmup, "warm"), args.threads,
                                     keep_alive=True), args.warmup, "warm-up")
            runs = [("json", "off"), ("json", "on"), ("form", "off"), ("form", "on")]
            results: dict[str, list[dict]] = {f"{kind} {name}": [] for kind, name in runs}
            for round_number in range(args.rounds):
                for kind, name in runs if round_number % 2 == 0 else runs[::-1]:
                    host, tag = hosts[name], f"r{round_number}-{kind}-{name}-"
                    bodies = signup_bodies(args.n, tag) if kind == "json" else \
                        form_bodies(args.n, tag, stamp)
                    cpu_before = cpu_seconds(host.process.pid)
                    if kind == "json":
                        result = post_all(host.intake_url, bodies, args.threads, keep_alive=True)
                        check(host, result, args.n, f"{kind} {name}")
                    else:
                        result = post_all(f"{host.base_url}/api/signup", bodies, args.threads, keep_alive=True,
                                          headers={"Content-Type": "application/x-www-form-urlencoded"})
                        if result["statuses"] != {303: args.n}:
                            raise SystemExit(f"form posts: expected {args.n} x 303, got {result['statuses']}")
                    result["cpu_per_request"] = (cpu_seconds(host.process.pid) - cpu_before) / args.n
                    results[f"{kind} {name}"].append(result)
        finally:
            for host in hosts.values():
                host.stop()

    print(f"intake defenses: {args.n} signups x {args.rounds} rounds per host and route, {args.threads} keep-alive "
          f"client threads (after {args.warmup} warm-up requests each)")
    best = print_best(results)
    for kind in ("json", "form"):
        ratio = best[f"{kind} on"]["rps"] / best[f"{kind} off"]["rps"]
        # Each round's on against the off run next to it, too: on a shared machine a neighbour's load moves whole
        # rounds, and the median of paired ratios is what that moves least.
        paired = sorted(on["rps"] / off["rps"] for on, off in zip(results[f"{kind} on"], results[f"{kind} off"]))
        median = paired[len(paired) // 2] if len(paired) % 2 else sum(paired[len(paired) // 2 - 1:][:2]) / 2
        print(f"  {kind}: defenses on / off: {ratio:.2f}x best rounds, {median:.2f}x median of paired rounds "
              f"(target >= {TARGET_RATIO:.2f}x: they cost {max(0.0, 1 - ratio) * 100:.1f} %)")
        # The host's own CPU time per request (user + system, from /proc): what the defenses add to each request's
        # work, which other processes on the machine do not move as they move wall-clock throughput.
        cpu = {name: sorted(r["cpu_per_request"] for r in results[f"{kind} {name}"]) for name in ("off", "on")}
        low = {name: values[len(values) // 2] * 1000 for name, values in cpu.items()}
        print(f"  {kind}: host CPU per request (median round): off {low['off']:.2f} ms, on {low['on']:.2f} ms: "
              f"throughput the CPU allows, on / off {low['off'] / low['on']:.2f}x")


if __name__ == "__main__":
    main()
