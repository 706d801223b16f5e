"""The EmailTransport port as blobs in Azure Storage: the outbox of a deployed app that has no mail server yet.

Each email is kept whole, as the .eml an SMTP server would have received (``<message id>.eml``,
``message/rfc822``), in one container of the AzureWebJobsStorage account. Unlike a folder on an instance's
disk, every instance writes to and reads from the same place, and it outlives the instance: the back office
and ``b2b outbox`` list and read them. The SDK (azure-storage-blob) is imported when the client is built.

Why metadata: a listing of the outbox (to, subject, date) comes from one List Blobs request per 5,000 emails
instead of one download per email. Metadata travels as HTTP headers, so its values are percent-encoded
(a subject or an internationalized address is not ASCII)."""
from __future__ import annotations

from email.message import EmailMessage
from email.utils import format_datetime
from typing import Any, Callable
from urllib.parse import quote, unquote

from shared.adapters.outbox_email import SAFE_MESSAGE_ID, kept_email_summary, mime_message, oldest_first, parse_eml
from shared.domain.errors import NotFound
from shared.ports import OutgoingEmail

EML = "message/rfc822"


class BlobOutboxTransport:
    def __init__(self, container_client: Callable[[], Any]):
        """``container_client`` builds the SDK's ContainerClient on first use (a cold start builds nothing)."""
        self._container_client = container_client
        self._container: Any = None

    @classmethod
    def from_settings(cls, settings) -> BlobOutboxTransport:
        """In EMAIL_OUTBOX_CONTAINER of the AzureWebJobsStorage account, connected as the host connects."""
        from shared.adapters.azure_storage import blob_service_client

        return cls(lambda: blob_service_client(settings).get_container_client(settings.email_outbox_container))

    # the port

    def send(self, email: OutgoingEmail) -> None:
        from azure.core.exceptions import ResourceExistsError, ResourceNotFoundError
        from azure.storage.blob import ContentSettings

        data = mime_message(email).as_bytes()
        metadata = {"to": quote(email.to), "subject": quote(email.subject)}
        blob = self._client().get_blob_client(f"{email.message_id}.eml")
        upload = dict(overwrite=False, metadata=metadata, content_settings=ContentSettings(content_type=EML))
        try:
            try:
                blob.upload_blob(data, **upload)
            except ResourceNotFoundError:  # the first email: the container is made with it
                self._create_container()
                blob.upload_blob(data, **upload)
        except ResourceExistsError:
            return  # the same message id was kept already: one email, as the outbox folder keeps it
        # A blob is written whole or not at all (one Put Blob): a reader never sees half an email.

    # reading it back: the back office and `b2b outbox`

    def list(self) -> list[dict]:
        from azure.core.exceptions import ResourceNotFoundError

        container = self._client()
        try:
            blobs = list(container.list_blobs(include=["metadata"]))
        except ResourceNotFoundError:
            return []  # no email was kept yet
        return oldest_first(self._summary(container, blob) for blob in blobs if blob.name.endswith(".eml"))

    def read(self, message_id: str) -> EmailMessage:
        return parse_eml(self.read_bytes(message_id))

    def read_bytes(self, message_id: str) -> bytes:
        from azure.core.exceptions import ResourceNotFoundError

        if not SAFE_MESSAGE_ID.fullmatch(message_id):
            raise NotFound(f"no email {message_id} in the outbox")
        try:
            return self._client().download_blob(f"{message_id}.eml").readall()
        except ResourceNotFoundError:
            raise NotFound(f"no email {message_id} in the outbox") from None

    def delete(self, message_id: str) -> bool:
        from azure.core.exceptions import ResourceNotFoundError

        if not SAFE_MESSAGE_ID.fullmatch(message_id):
            return False
        try:
            self._client().delete_blob(f"{message_id}.eml", delete_snapshots="include")
        except ResourceNotFoundError:
            return False
        return True

    def describe(self) -> str:
        """Where the emails are kept (the health check shows it): the container, and whether it exists yet."""
        container = self._client()
        state = "" if container.exists() else " (created with the first email)"
        return f"kept as blobs in the container {container.container_name}{state}"

    # the rest

    def _client(self) -> Any:
        if self._container is None:
            self._container = self._container_client()
        return self._container

    def _create_container(self) -> None:
        from azure.core.exceptions import ResourceExistsError

        try:
            self._client().create_container()
        except ResourceExistsError:
            pass  # another instance made it first

    @staticmethod
    def _summary(container: Any, blob: Any) -> dict:
        metadata = blob.metadata or {}
        date = format_datetime(blob.creation_time) if blob.creation_time else ""  # when it was kept
        return kept_email_summary(blob.name.removesuffix(".eml"), unquote(metadata.get("to", "")),
                                  unquote(metadata.get("subject", "")), date, f"{container.url}/{blob.name}")
