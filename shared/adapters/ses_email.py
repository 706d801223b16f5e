"""The EmailTransport port on Amazon SES: the SESv2 ``SendEmail`` API with ``Content.Raw``.

The raw message is ``mime_message``'s, written 7-bit the way SES requires (SES does not support
SMTPUTF8): internationalized domains as punycode, non-ASCII header text (the sender's name, the
subject) as RFC 2047 encoded-words. An address with a non-ASCII local part cannot be sent through SES
at all and raises ``UnsupportedAddress``. SES replaces the Message-ID and Date headers with its own.

Credentials come from boto3's usual chain (environment, shared config, an assumed role or web identity);
boto3 is imported only when the transport is built without a client.
"""
from __future__ import annotations

from typing import Any

from shared.adapters.smtp_email import UnsupportedAddress, hide_addresses, wire_message
from shared.ports import OutgoingEmail

__all__ = ["SesSendError", "SesTransport", "UnsupportedAddress"]

# SES answers with these when the request itself is wrong or the account may not send: retrying the same
# email does not help (EmailDelivery still retries until it gives up; an operator then looks).
_PERMANENT = {
    "MessageRejected", "MailFromDomainNotVerifiedException", "AccountSuspendedException",
    "SendingPausedException", "BadRequestException", "NotFoundException", "InvalidParameterValue",
    "ConfigurationSetDoesNotExist", "AccessDeniedException", "AccessDenied",
}


class SesSendError(RuntimeError):
    """SES did not take the email. ``code`` is SES's error code when it answered; the message never
    names an address."""

    def __init__(self, message: str, code: str | None = None):
        super().__init__(message)
        self.code = code

    @property
    def permanent(self) -> bool:
        return self.code in _PERMANENT


class SesTransport:
    def __init__(self, *, region: str, client: Any = None, configuration_set: str | None = None):
        if not region and client is None:
            raise ValueError("SES needs a region")
        self.region = region
        self.configuration_set = configuration_set or None
        self._client = client

    def __repr__(self) -> str:
        return f"SesTransport(region={self.region!r}, configuration_set={self.configuration_set!r})"

    @property
    def client(self) -> Any:
        if self._client is None:
            import boto3

            self._client = boto3.client("sesv2", region_name=self.region)
        return self._client

    def send(self, email: OutgoingEmail) -> None:
        wire = wire_message(email, smtputf8_available=False)  # raises before any request for bad addresses
        request: dict[str, Any] = {
            "FromEmailAddress": wire.sender,
            "Destination": {"ToAddresses": list(wire.recipients)},
            "Content": {"Raw": {"Data": wire.data}},
        }
        if self.configuration_set:
            request["ConfigurationSetName"] = self.configuration_set
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            self.client.send_email(**request)
        except ClientError as error:
            details = error.response.get("Error", {})
            code = details.get("Code")
            message = hide_addresses(str(details.get("Message", "")), [email.to, email.sender_address, wire.sender,
                                                                        *wire.recipients])
            # from None: the original error's text names the addresses
            raise SesSendError(f"SES refused the email ({code}): {message}"[:400], code) from None
        except BotoCoreError as error:  # no connection, no credentials, a timeout: no addresses in these
            raise SesSendError(f"SES could not be reached ({type(error).__name__}): {error}"[:400]) from error
