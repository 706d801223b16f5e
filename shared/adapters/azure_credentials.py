"""azure-identity credentials for the adapters that reach Azure with the app's identity. The SDK is
imported when a credential is built, so importing this module costs nothing."""
from __future__ import annotations

from typing import Any


def managed_identity_credential(client_id: str | None = None) -> Any:
    """The app's managed identity (user-assigned when ``client_id`` is given), falling back to developer
    sign-ins locally (DefaultAzureCredential)."""
    from azure.identity import DefaultAzureCredential

    return DefaultAzureCredential(managed_identity_client_id=client_id or None)
