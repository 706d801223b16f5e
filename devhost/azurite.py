"""Azurite, the Azure Storage emulator: the project's own copy (``node_modules``, which ``make test``
and ``make run-azurite`` install from package.json), started on free loopback ports in a folder of its own.

The tests' ``azurite`` fixture runs one for the whole session; ``python -m devhost --azurite`` runs
the app on one."""
from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
AZURITE_BIN = ROOT / "node_modules" / ".bin" / "azurite"

# The development account that every Azurite serves; its key is published by Microsoft, not a secret.
ACCOUNT_NAME = "devstoreaccount1"
ACCOUNT_KEY = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="

# Asked for port 0, each service listens on a free port that the OS picks, and says which.
_LISTENING = re.compile(r"Azurite (Blob|Queue|Table) service is successfully listening at http://127\.0\.0\.1:(\d+)")


def missing_reason() -> str | None:
    """Why Azurite cannot run here, or None if it can."""
    if shutil.which("node") is None:
        return "Node.js is not installed, so Azurite cannot run (install Node.js 20+, then run `make test`)"
    if not AZURITE_BIN.exists():
        return f"Azurite is not installed ({AZURITE_BIN.relative_to(ROOT)} is missing): `make test` installs it"
    return None


@dataclass(frozen=True)
class Azurite:
    """A running Azurite: its endpoints, and a connection string as AzureWebJobsStorage would hold it."""

    blob_endpoint: str
    queue_endpoint: str
    table_endpoint: str
    location: Path

    @property
    def connection_string(self) -> str:
        return (
            f"DefaultEndpointsProtocol=http;AccountName={ACCOUNT_NAME};AccountKey={ACCOUNT_KEY};"
            f"BlobEndpoint={self.blob_endpoint};QueueEndpoint={self.queue_endpoint};"
            f"TableEndpoint={self.table_endpoint};"
        )

    def queue_service(self):
        from azure.storage.queue import QueueServiceClient

        return QueueServiceClient.from_connection_string(self.connection_string)


class AzuriteProcess:
    """``with AzuriteProcess(folder) as azurite:`` runs Azurite with its data and log in ``folder``."""

    def __init__(self, location: Path, startup_timeout: float = 30.0, in_memory: bool = False):
        self.location = Path(location)
        # In memory only: no periodic save of the whole database to disk (a bench's 100,000s of rows would be
        # written out again and again while it measures).
        self.in_memory = in_memory
        self.startup_timeout = startup_timeout
        self.log_path = self.location / "azurite.log"
        self._process: subprocess.Popen | None = None

    def __enter__(self) -> Azurite:
        reason = missing_reason()
        if reason:
            raise RuntimeError(reason)
        self.location.mkdir(parents=True, exist_ok=True)
        command = [
            str(AZURITE_BIN), "--silent", "--skipApiVersionCheck", "--loose", "--disableTelemetry",
            # Azurite refuses a --location with --inMemoryPersistence (its working folder is still ``location``).
            *(["--inMemoryPersistence"] if self.in_memory else ["--location", str(self.location)]),
            "--blobHost", "127.0.0.1", "--blobPort", "0",
            "--queueHost", "127.0.0.1", "--queuePort", "0",
            "--tableHost", "127.0.0.1", "--tablePort", "0",
        ]
        env = {k: v for k, v in os.environ.items() if k != "AZURITE_ACCOUNTS"}  # only the well-known account
        with open(self.log_path, "wb") as log:
            self._process = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                                             cwd=self.location, env=env, start_new_session=True)
        try:
            ports = self._wait_until_listening()
        except BaseException:
            self.stop()
            raise
        base = "http://127.0.0.1:{}/" + ACCOUNT_NAME
        return Azurite(base.format(ports["Blob"]), base.format(ports["Queue"]), base.format(ports["Table"]),
                       self.location)

    def __exit__(self, *exc_info) -> None:
        self.stop()

    def _wait_until_listening(self) -> dict[str, int]:
        deadline = time.monotonic() + self.startup_timeout
        while time.monotonic() < deadline:
            output = self.log_path.read_text(errors="replace")
            ports = {service: int(port) for service, port in _LISTENING.findall(output)}
            if len(ports) == 3 and all(_accepts(port) for port in ports.values()):
                return ports
            if self._process.poll() is not None:
                raise RuntimeError(f"Azurite exited with {self._process.returncode}:\n{output}")
            time.sleep(0.05)
        raise RuntimeError(f"Azurite did not listen within {self.startup_timeout:.0f} s:\n"
                           f"{self.log_path.read_text(errors='replace')}")

    def stop(self, timeout: float = 10.0) -> None:
        process, self._process = self._process, None
        if process is None or process.poll() is not None:
            return
        process.terminate()
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout)


def _accepts(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1):
            return True
    except OSError:
        return False
