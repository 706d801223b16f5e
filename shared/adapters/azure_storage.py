"""Connections to Azure Storage, configured exactly as the Functions host reads AzureWebJobsStorage.

A connection string (Azurite, local development) or identity-based service URIs with
``__credential=managedidentity`` and an optional ``__clientId`` (a user-assigned identity)."""
from __future__ import annotations

from typing import Any

from shared.adapters.azure_credentials import managed_identity_credential
from shared.config import Settings


def storage_credential(settings: Settings) -> Any:
    """The azure-identity credential for identity-based connections (SDK imported only when used)."""
    if settings.storage_credential.lower() == "managedidentity":
        from azure.identity import ManagedIdentityCredential

        return ManagedIdentityCredential(client_id=settings.storage_client_id or None)
    return managed_identity_credential(settings.storage_client_id)


def uses_connection_string(settings: Settings) -> bool:
    return not (settings.storage_queue_uri and settings.storage_table_uri)


def queue_service_client(settings: Settings):
    from azure.storage.queue import QueueServiceClient

    if uses_connection_string(settings):
        return QueueServiceClient.from_connection_string(settings.storage_connection_string)
    return QueueServiceClient(settings.storage_queue_uri, credential=storage_credential(settings))


def table_service_client(settings: Settings):
    from azure.data.tables import TableServiceClient

    if uses_connection_string(settings):
        return TableServiceClient.from_connection_string(settings.storage_connection_string)
    return TableServiceClient(endpoint=settings.storage_table_uri, credential=storage_credential(settings))
