"""Connections to Azure Storage, configured exactly as the Functions host reads AzureWebJobsStorage.

A connection string (Azurite, local development) or identity-based service URIs with
``__credential=managedidentity`` and an optional ``__clientId`` (a user-assigned identity).

Each client's HTTP connection pool holds as many connections as the app may have requests in flight
(``storage_pool_size``). Requests keeps 10 per endpoint by default; under the host's concurrency every
request beyond those opened a connection of its own and threw it away afterwards (urllib3 logging
"Connection pool is full, discarding connection" each time), so the next one paid a new TCP and TLS
handshake."""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Mapping

from shared.adapters.azure_credentials import managed_identity_credential
from shared.config import Settings

HOST_JSON = Path(__file__).resolve().parents[2] / "host.json"  # beside function_app.py, as deployed
# The app's queue-triggered functions (create_lead, propagate_sales_outcome, deliver_email): each runs up
# to host.json's batchSize + newBatchThreshold messages at once (a unit test keeps the count in step).
QUEUE_TRIGGERS = 3
# HTTP requests and timers running beside them; the Python worker's thread pool allows at most 32
# invocations at once (PYTHON_THREADPOOL_THREAD_COUNT), the local host's HTTP server about as many.
OTHER_CONCURRENCY = 32
_QUEUE_OVERRIDE = "azurefunctionsjobhost__extensions__queues__"


def storage_pool_size(environ: Mapping[str, str] | None = None, host_json: Path = HOST_JSON) -> int:
    """Connections a client keeps per endpoint: every queue trigger's messages in flight at once, from
    host.json and its ``AzureFunctionsJobHost__extensions__queues__…`` app-setting overrides (as the
    host reads them, names in any case), plus HTTP requests and timers."""
    environ = os.environ if environ is None else environ
    try:
        queues = json.loads(host_json.read_text(encoding="utf-8")).get("extensions", {}).get("queues", {})
    except FileNotFoundError:
        queues = {}
    overrides = {name.lower().removeprefix(_QUEUE_OVERRIDE): value for name, value in environ.items()
                 if name.lower().startswith(_QUEUE_OVERRIDE)}

    def setting(name: str, default: int) -> int:
        return int(overrides.get(name.lower(), queues.get(name, default)))

    batch_size = setting("batchSize", 16)
    in_flight = batch_size + setting("newBatchThreshold", batch_size // 2)
    return QUEUE_TRIGGERS * in_flight + OTHER_CONCURRENCY


def storage_transport(pool_size: int) -> Any:
    """The SDK's requests transport on a session whose pool holds ``pool_size`` connections per endpoint.
    The SDK retries with its own policy, so urllib3's retries stay off, as the SDK's own session has them."""
    import requests
    from azure.core.pipeline.transport import RequestsTransport
    from urllib3.util.retry import Retry

    session = requests.Session()
    adapter = requests.adapters.HTTPAdapter(pool_maxsize=pool_size,
                                            max_retries=Retry(total=False, redirect=False, raise_on_status=False))
    for scheme in ("http://", "https://"):
        session.mount(scheme, adapter)
    return RequestsTransport(session=session, session_owner=True)


def storage_credential(settings: Settings) -> Any:
    """The azure-identity credential for identity-based connections (SDK imported only when used)."""
    if settings.storage_credential.lower() == "managedidentity":
        from azure.identity import ManagedIdentityCredential

        return ManagedIdentityCredential(client_id=settings.storage_client_id or None)
    return managed_identity_credential(settings.storage_client_id)


def uses_connection_string(settings: Settings) -> bool:
    return not (settings.storage_queue_uri and settings.storage_table_uri)


def queue_service_client(settings: Settings, pool_size: int | None = None):
    from azure.storage.queue import QueueServiceClient

    transport = storage_transport(pool_size or storage_pool_size())
    if uses_connection_string(settings):
        return QueueServiceClient.from_connection_string(settings.storage_connection_string, transport=transport)
    return QueueServiceClient(settings.storage_queue_uri, credential=storage_credential(settings), transport=transport)


def table_service_client(settings: Settings, pool_size: int | None = None):
    from azure.data.tables import TableServiceClient

    transport = storage_transport(pool_size or storage_pool_size())
    if uses_connection_string(settings):
        return TableServiceClient.from_connection_string(settings.storage_connection_string, transport=transport)
    return TableServiceClient(endpoint=settings.storage_table_uri, credential=storage_credential(settings),
                              transport=transport)


def blob_service_client(settings: Settings, pool_size: int | None = None):
    """Blobs of the AzureWebJobsStorage account: identity-based when ``__blobServiceUri`` is set (as in Azure,
    where the account has no keys), else through the connection string (Azurite)."""
    from azure.storage.blob import BlobServiceClient

    transport = storage_transport(pool_size or storage_pool_size())
    if settings.storage_blob_uri:
        return BlobServiceClient(settings.storage_blob_uri, credential=storage_credential(settings), transport=transport)
    return BlobServiceClient.from_connection_string(settings.storage_connection_string, transport=transport)
