"""The Azure backend on Azurite: queue throughput through the local host against the raw SDK, and the
end-to-end flow on Azurite against the same flow on SQLite.

1. Raw SDK: put N messages (base64, as the app sends them), then receive them in batches of 32 and
   delete each: messages per second.
2. Through the local host: N create-lead messages waiting on the lead queue (from N signups synced
   in this process), then the host started with its queue triggers only: messages per second until
   every lead exists in Sales and the queue is empty.
3. 1,000 signups through sync, leads, decisions and emails, on Azurite and on SQLite (bench_flow)."""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from bench_flow import run as run_flow  # noqa: E402
from devhost.azurite import AzuriteProcess  # noqa: E402
from shared.bootstrap import Container  # noqa: E402
from shared.config import Settings  # noqa: E402
from signups import numbered_signup  # noqa: E402


def azure_environ(azurite, suffix: str) -> dict[str, str]:
    return {
        "STATE_BACKEND": "azure", "AzureWebJobsStorage": azurite.connection_string, "STATE_TABLE": f"bench{suffix}",
        "LEAD_QUEUE": f"leads-{suffix}", "OUTCOME_QUEUE": f"outcomes-{suffix}", "EMAIL_QUEUE": f"emails-{suffix}",
        "CHANNEL_SYNC_SCHEDULE": "0 0 0 1 1 *", "LEAD_BATCH_SCHEDULE": "0 0 0 1 1 *",
        "RETENTION_SCHEDULE": "0 0 0 1 1 *", "OPERATOR_DIGEST_SCHEDULE": "0 0 0 1 1 *",
    }


def raw_sdk(azurite, n: int) -> float:
    from azure.storage.queue import QueueClient, TextBase64DecodePolicy, TextBase64EncodePolicy

    client = QueueClient.from_connection_string(azurite.connection_string, f"raw-{uuid.uuid4().hex[:8]}",
                                                message_encode_policy=TextBase64EncodePolicy(),
                                                message_decode_policy=TextBase64DecodePolicy())
    client.create_queue()
    body = '{"schema":"create-lead","version":1,"prospect_id":"%s"}'
    start = time.perf_counter()
    for i in range(n):
        client.send_message(body % i)
    taken = 0
    while taken < n:
        for message in client.receive_messages(messages_per_page=32, max_messages=32, visibility_timeout=60):
            client.delete_message(message)
            taken += 1
    elapsed = time.perf_counter() - start
    client.delete_queue()
    return n / elapsed


def through_host(azurite, n: int) -> float:
    suffix = uuid.uuid4().hex[:8]
    with tempfile.TemporaryDirectory(prefix="b2b-bench-host-") as folder:
        environ = {**azure_environ(azurite, suffix), "DATA_DIR": folder, "LOG_LEVEL": "WARNING"}
        c = Container.build(Settings.from_env(environ))
        for i in range(n):
            c.intake.submit(numbered_signup(i))
        c.channel_sync.run()
        lead_queue = c.settings.lead_queue
        assert c.queue.count(lead_queue) == n
        host = subprocess.Popen([sys.executable, "-m", "devhost", "--port", "0", "--no-local-settings", "--no-timers"], cwd=ROOT,
                                env={**os.environ, **environ}, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                                text=True)
        try:
            start = None
            for line in host.stdout:
                if line.startswith("Host listening on "):
                    start = time.perf_counter()
                    break
            assert start is not None, "the local host did not start"
            while len(c.sales.b2b_leads()) < n or c.queue.count(lead_queue) > 0:
                time.sleep(0.05)
            return n / (time.perf_counter() - start)
        finally:
            host.terminate()
            host.wait(30)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("-n", type=int, default=1000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="b2b-bench-azurite-") as folder, AzuriteProcess(Path(folder)) as azurite:
        sdk = raw_sdk(azurite, args.n)
        host = through_host(azurite, args.n)
        print(f"queue, raw SDK put + get + delete:        {sdk:7.0f} messages/s")
        print(f"queue, through the local host (leads):     {host:7.0f} messages/s  ({host / sdk:.2f}x the raw SDK)")
        on_azurite = run_flow(args.n, azure_environ(azurite, uuid.uuid4().hex[:8]))
        on_sqlite = run_flow(args.n)
    for name, result in (("Azurite", on_azurite), ("SQLite", on_sqlite)):
        detail = ", ".join(f"{k} {v:.1f}s" for k, v in result.items() if k != "total")
        print(f"{args.n} signups end to end on {name:<8} {result['total']:6.1f} s ({detail})")
    print(f"Azurite / SQLite time ratio: {on_azurite['total'] / on_sqlite['total']:.1f}x")


if __name__ == "__main__":
    main()
