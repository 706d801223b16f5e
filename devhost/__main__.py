"""``python -m devhost``: run the app like ``func start`` does (from the app directory)."""
from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
import threading
from pathlib import Path

from devhost.host import HostError, LocalHost
from devhost.settings import ConfigError, load_local_settings, local_http_port
from shared.observability import configure_logging

DEFAULT_PORT = 7071


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m devhost",
        description="Run the Functions app locally, as 'func start' does. It runs in the app directory and "
                    "reads local.settings.json and host.json there.")
    parser.add_argument("--app-dir", default=".", help="the directory with host.json and the app module (default: .)")
    parser.add_argument("--module", default="function_app", help="the app module (default: function_app)")
    parser.add_argument("--host", default="127.0.0.1", help="the address to listen on (default: 127.0.0.1)")
    parser.add_argument("--port", type=int, default=None,
                        help=f"the HTTP port; 0 picks a free one (default: local.settings.json "
                             f"Host.LocalHttpPort, else {DEFAULT_PORT})")
    parser.add_argument("--no-local-settings", action="store_true",
                        help="take settings from the environment only, not from local.settings.json (a test's or "
                             "a benchmark's host must not pick up a developer's settings)")
    parser.add_argument("--no-timers", action="store_true", help="do not run timer triggers on their schedules")
    parser.add_argument("--no-queues", action="store_true", help="do not poll queues for queue triggers")
    parser.add_argument("--function", dest="functions", nargs="+", action="extend", metavar="NAME",
                        help="run only these functions (repeatable)")
    parser.add_argument("--azurite", action="store_true",
                        help="start the project's Azurite (data in DATA_DIR/azurite) and run on the Azure backend "
                             "(Storage Queues and Tables) against it")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    app_dir = Path(args.app_dir).resolve()
    if not app_dir.is_dir():
        print(f"devhost: error: {app_dir} is not a directory", file=sys.stderr)
        return 2
    # func start runs in the app directory, so relative paths in settings (DATA_DIR) mean the same here.
    os.chdir(app_dir)

    try:
        if not args.no_local_settings:
            load_local_settings(app_dir)
        port = args.port if args.port is not None else (
            None if args.no_local_settings else local_http_port(app_dir)) or DEFAULT_PORT
    except ConfigError as error:
        print(f"devhost: error: {error}", file=sys.stderr)
        return 1
    level = os.environ.get("LOG_LEVEL", "INFO").upper()
    # JSON lines with the correlation id, the same records the app's own logs are.
    configure_logging(level if isinstance(logging.getLevelName(level), int) else "INFO")

    azurite = None
    if args.azurite:
        azurite = _start_azurite()
        if azurite is None:
            return 1
    try:
        return _serve(args, app_dir, port)
    finally:
        if azurite is not None:
            azurite.stop()


def _serve(args: argparse.Namespace, app_dir: Path, port: int) -> int:
    stop = threading.Event()

    def request_stop(signum: int, _frame: object) -> None:
        # A second Ctrl+C while stopping interrupts the wait for running invocations.
        signal.signal(signal.SIGINT, signal.default_int_handler)
        stop.set()

    signal.signal(signal.SIGINT, request_stop)
    signal.signal(signal.SIGTERM, request_stop)

    host = LocalHost(app_dir, module=args.module, host=args.host, port=port, timers=not args.no_timers,
                     queues=not args.no_queues, functions=args.functions, local_settings=not args.no_local_settings)
    try:
        host.start()
    except HostError as error:
        print(f"devhost: error: {error}", file=sys.stderr)
        return 1
    except OSError as error:
        print(f"devhost: error: cannot listen on {args.host}:{port}: {error.strerror or error}", file=sys.stderr)
        return 1
    print("\n".join(host.startup_lines()), flush=True)
    while not stop.wait(1.0):
        pass
    print("Stopping host...", flush=True)
    host.stop()
    return 0


def _start_azurite():
    """Azurite for this run, and the settings that point the app (and its triggers) at it."""
    from devhost.azurite import AzuriteProcess, missing_reason

    reason = missing_reason()
    if reason:
        print(f"devhost: error: {reason}", file=sys.stderr)
        return None
    process = AzuriteProcess(Path(os.environ.get("DATA_DIR", ".data")) / "azurite")
    running = process.__enter__()
    os.environ["STATE_BACKEND"] = "azure"
    os.environ["AzureWebJobsStorage"] = running.connection_string
    print(f"Azurite: queues {running.queue_endpoint}, tables {running.table_endpoint}", flush=True)
    return process


if __name__ == "__main__":
    sys.exit(main())
