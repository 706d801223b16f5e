"""The Azure backend connects the way the Functions host reads AzureWebJobsStorage (no network here)."""
from __future__ import annotations

import pytest

from shared.adapters.azure_storage import queue_service_client, table_service_client
from shared.config import Settings

IDENTITY = {
    "STATE_BACKEND": "azure",
    "AzureWebJobsStorage__queueServiceUri": "https://acct.queue.core.windows.net",
    "AzureWebJobsStorage__tableServiceUri": "https://acct.table.core.windows.net",
    "AzureWebJobsStorage__credential": "managedidentity",
    "AzureWebJobsStorage__clientId": "00000000-0000-0000-0000-000000000042",
}


def test_identity_based_settings_use_the_managed_identity_and_the_service_uris():
    from azure.identity import ManagedIdentityCredential

    settings = Settings.from_env(IDENTITY)
    queues, tables = queue_service_client(settings), table_service_client(settings)
    assert queues.url.startswith("https://acct.queue.core.windows.net")
    assert tables.url.startswith("https://acct.table.core.windows.net")
    assert isinstance(queues.credential, ManagedIdentityCredential)
    assert isinstance(tables.credential, ManagedIdentityCredential)


def test_a_connection_string_is_used_as_given():
    settings = Settings.from_env({"STATE_BACKEND": "azure", "AzureWebJobsStorage": "UseDevelopmentStorage=true"})
    assert queue_service_client(settings).url.startswith("http://127.0.0.1:10001/devstoreaccount1")
    assert table_service_client(settings).url.startswith("http://127.0.0.1:10002/devstoreaccount1")


def test_the_azure_backend_without_a_connection_is_refused_clearly():
    with pytest.raises(ValueError, match="AzureWebJobsStorage"):
        Settings.from_env({"STATE_BACKEND": "azure"})
