"""Intake requests/s through the local host against a bare WSGI + SQLite insert baseline, same run.

Both servers run in their own process and get the same N valid signups (JSON, as `shared.demo.demo_signup`
builds them) from the same client: a fixed number of threads posting with `requests`, in two connection
modes, each measured on both servers:

- `close`: every request sends `Connection: close`, so it opens a new TCP connection on both sides;
- `keep-alive`: each client thread keeps one persistent HTTP/1.1 connection (a `requests.Session`), as a
  storefront back end, a browser or a proxy does.

Each server is warmed up first. Prints requests/s with p50/p99 latency for each, and the ratios: the
local host with keep-alive clients against the baseline with `Connection: close` (the baseline the issue
quotes; target >= 1.0x), against the baseline with keep-alive clients, against a bare HTTP/1.1 baseline
that keeps connections alive, and `close` against `close`. Checks that every request was answered 202
and stored, and makes no assertion on timings.

    python bench/bench_intake.py [-n 2000] [--threads 8] [--rounds 3] [--host-env LOG_LEVEL=WARNING]

The baseline is a stdlib `wsgiref` server made threading with `socketserver.ThreadingMixIn`; it reads the
body, `json.loads` it and inserts it into a SQLite table (WAL, one connection per thread), answering
202 with a JSON id. It runs from this file: `python bench/bench_intake.py --serve-baseline PORT DB`.
`wsgiref` answers HTTP/1.0 and closes every connection, so its keep-alive clients reconnect for each
request: that figure is printed as measured. The HTTP/1.1 baseline (`--keep-alive`) does the same
insert behind `http.server` with persistent connections, each answer in one write with TCP_NODELAY:
what a bare server gains from keep-alive, to compare the host's keep-alive figure with honestly.
"""
from __future__ import annotations

import argparse
import json
import os
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

# The local host with keep-alive clients against the baseline with `Connection: close` (issue 14).
TARGET_RATIO = 1.0
CLOSE, KEEP_ALIVE = "close", "keep-alive"
# What the local host needs besides DATA_DIR (as tests/e2e/conftest.py FAST_HOST gives it); timers and
# queue polling are switched off on the command line, so only the HTTP functions run.
HOST_SETTINGS = {
    "CHANNEL_SYNC_SCHEDULE": "0 * * * * *",
    "LEAD_BATCH_SCHEDULE": "*/10 * * * * *",
    "RETENTION_SCHEDULE": "0 30 2 * * *",
    "OPERATOR_DIGEST_SCHEDULE": "0 0 7 * * *",
    "LEAD_QUEUE": "b2b-leads",
    "OUTCOME_QUEUE": "b2b-sales-outcomes",
    "EMAIL_QUEUE": "b2b-emails",
    # The intake's defenses off: every request here comes from one address, far over the per-minute limit.
    # Their cost is bench_intake_defenses.py's figure.
    "INTAKE_RATE_LIMIT_PER_MINUTE": "0",
    "INTAKE_DOMAIN_RATE_LIMIT_PER_HOUR": "0",
}


# --- the baseline server -----------------------------------------------------------------------------

_BASELINE_SCHEMA = "CREATE TABLE IF NOT EXISTS signups (id TEXT PRIMARY KEY, received_at REAL NOT NULL, data TEXT NOT NULL)"


def serve_baseline(port: int, db_path: str, keep_alive: bool = False) -> None:
    """A bare threading server that stores each posted JSON body in SQLite; prints its port, then serves.

    By default `wsgiref` (HTTP/1.0: one request per connection). With `keep_alive`, `http.server` speaking
    HTTP/1.1 with persistent connections, each response in one write with TCP_NODELAY: the bare
    counterpart of what the local host does for keep-alive clients."""
    import socketserver
    import uuid
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
    from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

    local = threading.local()

    def connection() -> sqlite3.Connection:
        db = getattr(local, "db", None)
        if db is None:
            db = sqlite3.connect(db_path, timeout=60, isolation_level=None)
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=NORMAL")
            db.execute("PRAGMA busy_timeout=60000")
            local.db = db
        return db

    def store(body: bytes) -> tuple[str, bytes]:
        """The status line's text and the answer's JSON for one posted signup."""
        try:
            payload = json.loads(body)
        except ValueError:
            return "400 Bad Request", b'{"error": "bad JSON"}'
        signup_id = str(uuid.uuid4())
        connection().execute("INSERT INTO signups (id, received_at, data) VALUES (?, ?, ?)",
                             (signup_id, time.time(), json.dumps(payload)))
        return "202 Accepted", json.dumps({"id": signup_id, "status": "pending"}).encode()

    def app(environ, start_response):
        if environ["REQUEST_METHOD"] != "POST" or environ["PATH_INFO"] != "/api/signups":
            start_response("404 Not Found", [("Content-Type", "text/plain")])
            return [b"Not Found"]
        status, body = store(environ["wsgi.input"].read(int(environ.get("CONTENT_LENGTH") or 0)))
        start_response(status, [("Content-Type", "application/json"), ("Content-Length", str(len(body)))])
        return [body]

    class ConnectionPerThread:
        daemon_threads = True

        def process_request_thread(self, request, client_address):
            try:
                super().process_request_thread(request, client_address)
            finally:  # one connection per thread, closed with its thread
                db = getattr(local, "db", None)
                if db is not None:
                    db.close()
                    local.db = None

    class Server(ConnectionPerThread, socketserver.ThreadingMixIn, WSGIServer):
        pass

    class QuietHandler(WSGIRequestHandler):
        def log_message(self, *args) -> None:
            pass

    class KeepAliveServer(ConnectionPerThread, ThreadingHTTPServer):
        request_queue_size = 512

    class KeepAliveHandler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        disable_nagle_algorithm = True
        wbufsize = 64 * 1024

        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            status, answer = store(body) if self.path == "/api/signups" else ("404 Not Found", b"{}")
            self.wfile.write(f"HTTP/1.1 {status}\r\nContent-Type: application/json\r\n"
                             f"Content-Length: {len(answer)}\r\n\r\n".encode() + answer)

        def log_message(self, *args) -> None:
            pass

    setup = sqlite3.connect(db_path)
    setup.execute("PRAGMA journal_mode=WAL")
    setup.execute(_BASELINE_SCHEMA)
    setup.commit()
    setup.close()
    if keep_alive:
        server = KeepAliveServer(("127.0.0.1", port), KeepAliveHandler)
    else:
        server = make_server("127.0.0.1", port, app, server_class=Server, handler_class=QuietHandler)
    print(f"listening on {server.server_address[1]}", flush=True)
    server.serve_forever(poll_interval=0.2)


# --- starting the servers ------------------------------------------------------------------------

class Server:
    def __init__(self, name: str, process: subprocess.Popen, base_url: str, log_path: Path):
        self.name, self.process, self.base_url, self.log_path = name, process, base_url, log_path

    @property
    def intake_url(self) -> str:
        return f"{self.base_url}/api/signups"

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


def _start(name: str, command: list[str], env: dict[str, str], log_path: Path, ready_prefix: str,
           to_url) -> Server:
    # Output goes to a file: a pipe nobody reads would block the host once its request log fills it.
    log = open(log_path, "w")
    process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, text=True)
    log.close()
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        for line in log_path.read_text(errors="replace").splitlines():
            if line.startswith(ready_prefix):
                return Server(name, process, to_url(line), log_path)
        if process.poll() is not None:
            break
        time.sleep(0.05)
    process.kill()
    raise SystemExit(f"{name} did not start:\n{log_path.read_text(errors='replace')}")


def start_local_host(data_dir: Path, log_path: Path, extra_env: dict[str, str]) -> Server:
    env = {**os.environ, **HOST_SETTINGS, "DATA_DIR": str(data_dir), "PYTHONUNBUFFERED": "1", **extra_env}
    return _start("local host", [sys.executable, "-m", "devhost", "--app-dir", str(ROOT), "--port", "0",
                                 "--no-local-settings", "--no-timers", "--no-queues"],
                  env, log_path, "Host listening on ", lambda line: line.split()[-1])


def start_baseline(db_path: Path, log_path: Path, keep_alive: bool = False) -> Server:
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    command = [sys.executable, str(Path(__file__).resolve()), "--serve-baseline", "0", str(db_path)]
    return _start("HTTP/1.1 baseline" if keep_alive else "baseline", command + (["--keep-alive"] if keep_alive else []),
                  env, log_path, "listening on ", lambda line: f"http://127.0.0.1:{line.split()[-1]}")


# --- the client ----------------------------------------------------------------------------------------

def signup_bodies(n: int, tag: str) -> list[bytes]:
    from signups import numbered_signup

    return [json.dumps(numbered_signup(i, tag)).encode() for i in range(n)]


def post_all(url: str | list[str], bodies: list[bytes], threads: int, headers: dict[str, str] | None = None,
             keep_alive: bool = False) -> dict:
    """POST every body with `threads` client threads: a new TCP connection for each request, or with
    `keep_alive` one persistent connection per thread (a `requests.Session` reuses it). `url` is one for all,
    or one per body (an order's reservation is posted to its own address)."""
    import requests

    local = threading.local()
    headers = {"Content-Type": "application/json", **({} if keep_alive else {"Connection": "close"}),
               **(headers or {})}
    sessions: list = []

    def post(url: str, body: bytes) -> tuple[float, int, str | None]:
        session = getattr(local, "session", None)
        if session is None:  # one Session per thread; `Connection: close` still makes each request connect anew
            session = local.session = requests.Session()
            sessions.append(session)
        started = time.perf_counter()
        # Not following redirects: a form post's 303 is its answer (bench_intake_defenses.py posts the form).
        response = session.post(url, data=body, headers=headers, timeout=60, allow_redirects=False)
        elapsed = time.perf_counter() - started
        signup_id = response.json().get("id") if response.status_code == 202 else None
        return elapsed, response.status_code, signup_id

    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=threads) as pool:
        results = list(pool.map(post, url if isinstance(url, list) else [url] * len(bodies), bodies))
    wall = time.perf_counter() - started
    for session in sessions:
        session.close()
    latencies = sorted(r[0] for r in results)
    statuses: dict[int, int] = {}
    for _, status, _ in results:
        statuses[status] = statuses.get(status, 0) + 1
    return {
        "wall": wall,
        "rps": len(bodies) / wall,
        "p50": _percentile(latencies, 0.50),
        "p99": _percentile(latencies, 0.99),
        "statuses": statuses,
        "ids": [r[2] for r in results if r[2]],
    }


def print_best(results: dict[str, list[dict]]) -> dict[str, dict]:
    """One line per kind of run: its best round's requests/s, every round's, and the best round's p50/p99."""
    best = {}
    width = max(len(name) for name in results) + 2
    for name, runs in results.items():
        best[name] = max(runs, key=lambda r: r["rps"])
        rates = ", ".join(f"{r['rps']:.0f}" for r in runs)
        print(f"  {name + ':':<{width}} {best[name]['rps']:7.0f} requests/s (rounds: {rates})   best round: "
              f"p50 {best[name]['p50'] * 1000:5.1f} ms, p99 {best[name]['p99'] * 1000:5.1f} ms")
    return best


def _percentile(ordered: list[float], q: float) -> float:
    return ordered[min(len(ordered) - 1, max(0, round(q * len(ordered)) - 1))]


# --- checking what was stored --------------------------------------------------------------------------

def host_stored_ids(data_dir: Path) -> set[str]:
    from shared.bootstrap import build_store
    from shared.config import Settings

    store = build_store(Settings.from_env({}, data_dir=data_dir))
    try:
        with store.unit_of_work(read_only=True) as uow:
            return {signup.id for signup in uow.pending_signups(10**7)}
    finally:
        store.close()


def baseline_stored_ids(db_path: Path) -> set[str]:
    db = sqlite3.connect(db_path)
    try:
        return {row[0] for row in db.execute("SELECT id FROM signups")}
    finally:
        db.close()


def check(server: Server, result: dict, n: int, what: str = "run") -> None:
    """Every request answered 202 with its own id; else the server's own errors, to see why."""
    if result["statuses"] == {202: n} and len(set(result["ids"])) == n:
        return
    errors: dict[str, int] = {}
    for line in server.log_path.read_text(errors="replace").splitlines():
        try:
            exception = json.loads(line).get("exception") if line.startswith("{") else None
        except ValueError:
            continue
        if exception:
            last = exception.strip().splitlines()[-1]
            errors[last] = errors.get(last, 0) + 1
    raise SystemExit(f"{server.name}: {what}: expected {n} x 202 with distinct ids, got {result['statuses']}"
                     + "".join(f"\n  {count} x {error}" for error, count in errors.items()))


def open_fds(pid: int) -> int | None:
    try:
        return len(os.listdir(f"/proc/{pid}/fd"))
    except OSError:
        return None


# --- main ----------------------------------------------------------------------------------------------

def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("-n", type=int, default=2000, help="signups per measured run (default 2000)")
    parser.add_argument("--threads", type=int, default=8, help="client threads (default 8)")
    parser.add_argument("--warmup", type=int, default=200, help="signups sent to each server first (default 200)")
    parser.add_argument("--rounds", type=int, default=3,
                        help="measured runs per server and mode, alternating; the best of each is compared (default 3)")
    parser.add_argument("--host-env", action="append", default=[], metavar="NAME=VALUE",
                        help="an extra setting for the local host, e.g. LOG_LEVEL=WARNING (repeatable)")
    parser.add_argument("--serve-baseline", nargs=2, metavar=("PORT", "DB"), help=argparse.SUPPRESS)
    parser.add_argument("--keep-alive", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve_baseline:
        serve_baseline(int(args.serve_baseline[0]), args.serve_baseline[1], keep_alive=args.keep_alive)
        return

    extra_env = dict(item.split("=", 1) for item in args.host_env)
    with tempfile.TemporaryDirectory(prefix="b2b-bench-intake-") as folder:
        folder_path = Path(folder)
        data_dir = folder_path / "data"
        baseline_dbs = {False: folder_path / "baseline.sqlite3", True: folder_path / "baseline-http11.sqlite3"}
        host = start_local_host(data_dir, folder_path / "host.log", extra_env)
        servers = [host]
        try:
            baseline = start_baseline(baseline_dbs[False], folder_path / "baseline.log")
            servers.append(baseline)
            http11 = start_baseline(baseline_dbs[True], folder_path / "baseline-http11.log", keep_alive=True)
            servers.append(http11)
            # The HTTP/1.1 baseline is there for keep-alive clients only (with `close` it is `baseline` again).
            runs = [(host, CLOSE), (baseline, CLOSE), (host, KEEP_ALIVE), (baseline, KEEP_ALIVE), (http11, KEEP_ALIVE)]
            fds_before = open_fds(host.process.pid)
            for server in servers:
                # One request alone first: the app builds its container on first use, and concurrent first
                # requests on a fresh state folder can race there (that is not what this bench measures).
                check(server, post_all(server.intake_url, signup_bodies(1, "first"), 1), 1, "first request")
            for server, mode in runs:
                warm = post_all(server.intake_url, signup_bodies(args.warmup, f"warm-{mode}"), args.threads,
                                keep_alive=mode == KEEP_ALIVE)
                check(server, warm, args.warmup, f"warm-up ({mode})")
            results: dict[str, list[dict]] = {f"{server.name}, {mode}": [] for server, mode in runs}
            accepted: dict[str, list[str]] = {server.name: [] for server in servers}
            for round_number in range(args.rounds):
                # Alternating the order, so that no server or mode always runs first on a busy machine.
                for server, mode in runs if round_number % 2 == 0 else runs[::-1]:
                    result = post_all(server.intake_url, signup_bodies(args.n, f"r{round_number}-{mode}-"),
                                      args.threads, keep_alive=mode == KEEP_ALIVE)
                    check(server, result, args.n, mode)
                    results[f"{server.name}, {mode}"].append(result)
                    accepted[server.name] += result["ids"]
            fds_after = open_fds(host.process.pid)
            # Everything accepted is stored (the host runs no timers, so all of it is still pending).
            stored = {host.name: host_stored_ids(data_dir), baseline.name: baseline_stored_ids(baseline_dbs[False]),
                      http11.name: baseline_stored_ids(baseline_dbs[True])}
            for name, ids in accepted.items():
                missing = set(ids) - stored[name]
                if missing:
                    raise SystemExit(f"{name}: {len(missing)} of {len(ids)} accepted signups are not stored")
        finally:
            for server in servers:
                server.stop()

    print(f"intake: {args.n} signups x {args.rounds} rounds per server and connection mode, {args.threads} client "
          f"threads (after {args.warmup} warm-up requests each)")
    best = print_best(results)

    def ratio(numerator: str, denominator: str) -> str:
        return f"{best[numerator]['rps'] / best[denominator]['rps']:.2f}x"

    host_keep_alive = f"{host.name}, {KEEP_ALIVE}"
    print(f"  local host keep-alive / baseline close:               {ratio(host_keep_alive, f'{baseline.name}, {CLOSE}')}"
          f" (target >= {TARGET_RATIO}x)")
    print(f"  local host keep-alive / baseline keep-alive:          "
          f"{ratio(host_keep_alive, f'{baseline.name}, {KEEP_ALIVE}')} (wsgiref closes each connection)")
    print(f"  local host keep-alive / HTTP/1.1 baseline keep-alive: "
          f"{ratio(host_keep_alive, f'{http11.name}, {KEEP_ALIVE}')} (a bare server that keeps them)")
    print(f"  local host close / baseline close:                    "
          f"{ratio(f'{host.name}, {CLOSE}', f'{baseline.name}, {CLOSE}')}")
    print(f"  every accepted signup of every run is stored ({args.n * args.rounds} per server and mode)")
    if fds_before is not None and fds_after is not None:
        print(f"  local host open file descriptors: {fds_before} before, {fds_after} after "
              f"{args.n * args.rounds * 2 + 2 * args.warmup + 1} requests")
    if extra_env:
        print(f"  local host settings: {extra_env}")


if __name__ == "__main__":
    main()
