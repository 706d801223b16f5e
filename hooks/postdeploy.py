"""azd's postdeploy hook: does the deployed app take a signup to a prospect? (azure.yaml `hooks`)

1. GET /api/health until it answers 200. A refused mode or settings that do not load fail at once (they will
   not mend themselves); anything else (the app starting, role assignments still spreading) is waited out.
2. POST /api/signups one signup marked as this check's (an Idempotency-Key of its own).
3. GET its status URL until the channel sync has made it a prospect.
Then it prints the status URL and the back office's console URL. Any failure ends it with exit code 1 and
one line saying what is wrong: the app out of reach, the health check's failing checks, a refused signup,
or the time it waited for the prospect.

Python's standard library only: azd runs it with the machine's python3, outside the project's venv.
The base URL is azd's output SERVICE_API_URI (azd puts the environment's values in a hook's environment),
or --base-url; the same script runs against the local host in the tests (tests/e2e/test_postdeploy_hook.py).
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
import urllib.error
import urllib.request
import uuid
from typing import Callable

# Checks whose failure waiting cannot mend: the configuration itself (shared/services/health.py names them).
PERMANENT_CHECKS = frozenset({"settings", "mode"})
STILL_RECEIVED = "received"  # the status before the channel sync makes a prospect of it
REQUEST_TIMEOUT = 30.0

# A signup anyone reading the back office recognises as this check's, with an address nobody receives mail at.
SIGNUP = {
    "company": {"name": "azd postdeploy check", "phone": "+46 8 000 000 00",
                "address": {"street": "Deployment road 1", "city": "Stockholm", "zip_code": "111 22", "country": "SE"}},
    "contact": {"first_name": "Deployment", "last_name": "Check", "email": "postdeploy-check@example.com",
                "phone": "+46 70 000 00 00", "preferred_language": "en"},
    "comments": "Posted by the azd postdeploy hook (hooks/postdeploy.py) to check the deployment: reject it.",
    "channel_id": "b2b-web",
}


class CheckFailed(Exception):
    """What is wrong, in one line for the person who ran azd."""


def request(method: str, url: str, body: dict | None = None, headers: dict[str, str] | None = None
            ) -> tuple[int, dict | None]:
    """(status, JSON body or None); raises urllib.error.URLError when the app cannot be reached."""
    data = json.dumps(body).encode() if body is not None else None
    sent = urllib.request.Request(url, data=data, method=method, headers={
        "Accept": "application/json", **({"Content-Type": "application/json"} if data else {}), **(headers or {})})
    try:
        with urllib.request.urlopen(sent, timeout=REQUEST_TIMEOUT) as answer:
            return answer.status, _json(answer.read())
    except urllib.error.HTTPError as refused:
        return refused.code, _json(refused.read())


def _json(data: bytes) -> dict | None:
    try:
        value = json.loads(data)
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


def _failing(report: dict) -> str:
    return "; ".join(f"{check['name']}: {check['detail']}" for check in report.get("checks", []) if not check["ok"])


def wait_until_healthy(base: str, deadline: float, say: Callable[[str], None], pause: float) -> dict:
    url = f"{base}/api/health"
    last = "no answer yet"
    while True:
        try:
            status, report = request("GET", url)
        except (urllib.error.URLError, OSError) as error:
            last = f"the app is unreachable at {url}: {getattr(error, 'reason', error)}"
        else:
            is_report = isinstance(report, dict) and "checks" in report
            if status == 200 and is_report:
                return report
            if status == 503 and is_report:
                last = f"GET /api/health answers 503: {_failing(report)}"
                if PERMANENT_CHECKS & set(report.get("failing", [])):
                    raise CheckFailed(last)
            else:  # the platform's own answer while the app starts (or an app without /api/health)
                last = f"GET {url} answers {status}"
        if time.monotonic() >= deadline:
            raise CheckFailed(f"not healthy in time; last: {last}")
        say(f"waiting for the app: {last}")
        time.sleep(pause)


def post_signup(base: str) -> dict:
    try:
        status, receipt = request("POST", f"{base}/api/signups", SIGNUP,
                                  {"Idempotency-Key": f"azd-postdeploy-{uuid.uuid4()}"})
    except (urllib.error.URLError, OSError) as error:
        raise CheckFailed(f"the app is unreachable at {base}/api/signups: {getattr(error, 'reason', error)}")
    if status != 202 or not receipt or "status_url" not in receipt:
        detail = (receipt or {}).get("detail", "no problem+json body")
        raise CheckFailed(f"POST /api/signups answers {status}: {detail}")
    return receipt


def wait_for_prospect(receipt: dict, deadline: float, say: Callable[[str], None], pause: float) -> str:
    url = receipt["status_url"]
    while True:
        try:
            status, view = request("GET", url)
        except (urllib.error.URLError, OSError) as error:
            raise CheckFailed(f"the app is unreachable at {url}: {getattr(error, 'reason', error)}")
        if status != 200 or not view:
            raise CheckFailed(f"GET {url} answers {status}")
        if view.get("status") != STILL_RECEIVED:
            return view["status"]
        if time.monotonic() >= deadline:
            raise CheckFailed(f"timed out waiting for signup {receipt['id']} to become a prospect: still "
                              f"'{STILL_RECEIVED}'. The channel_sync timer makes prospects (CHANNEL_SYNC_SCHEDULE); "
                              "look for its failures in Application Insights")
        say(f"waiting for signup {receipt['id']} to become a prospect (the channel sync runs every minute)")
        time.sleep(pause)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--base-url", default=os.environ.get("SERVICE_API_URI", ""),
                        help="the app's URL (default: azd's SERVICE_API_URI)")
    parser.add_argument("--timeout", type=float, default=float(os.environ.get("POSTDEPLOY_TIMEOUT_SECONDS", 600)),
                        help="seconds to wait in all, for the app and for the prospect (default 600)")
    parser.add_argument("--pause", type=float, default=5.0, help="seconds between two tries (default 5)")
    args = parser.parse_args(argv)
    base = args.base_url.strip().rstrip("/")

    def say(line: str) -> None:
        print(f"postdeploy: {line}", flush=True)

    if not base.startswith(("https://", "http://")):
        print("postdeploy: FAILED: no app URL: run it from azd (SERVICE_API_URI) or give --base-url",
              file=sys.stderr)
        return 1
    deadline = time.monotonic() + args.timeout
    try:
        report = wait_until_healthy(base, deadline, say, args.pause)
        say(f"healthy ({report.get('environment')}): " +
            "; ".join(f"{check['name']}: {check['detail']}" for check in report["checks"]))
        receipt = post_signup(base)
        say(f"signup {receipt['id']} accepted")
        reached = wait_for_prospect(receipt, deadline, say, args.pause)
    except CheckFailed as failed:
        print(f"postdeploy: FAILED: {failed}", file=sys.stderr, flush=True)
        return 1
    say(f"signup {receipt['id']} is {reached}: the deployment takes signups to prospects")
    print(f"  status:  {receipt['status_url']}")
    print(f"  console: {base}/api/console")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
