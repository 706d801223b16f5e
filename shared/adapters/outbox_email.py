"""The EmailTransport port as a folder of .eml files: nothing leaves the machine, and you can read it."""
from __future__ import annotations

import os
import re
import tempfile
from email.message import EmailMessage
from email.parser import Parser
from email.policy import default as default_policy
from email.headerregistry import Address
from email.utils import format_datetime, parsedate_to_datetime
from datetime import datetime, timezone
from pathlib import Path

from shared.domain.errors import NotFound
from shared.ports import OutgoingEmail

# A message id as the outbox names its file or blob (a uuid): anything else, a path above all, is no email of it.
SAFE_MESSAGE_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")

# 998 is the RFC 5322 line limit: folding a UTF-8 header earlier makes Python write a value that
# reads back with a leading space.
_UTF8_HEADERS = default_policy.clone(utf8=True, max_line_length=998)


def mime_message(email: OutgoingEmail, sent_at: datetime | None = None) -> EmailMessage:
    """The MIME form of an email, shared by every transport that speaks MIME."""
    # SMTPUTF8: an internationalized address stays UTF-8; the default policy would write RFC 2047
    # encoded-words inside it, which no mail server reads as the same address.
    message = EmailMessage(policy=_UTF8_HEADERS)
    message["From"] = Address(display_name=email.sender_name, addr_spec=email.sender_address)
    message["To"] = email.to
    message["Subject"] = email.subject
    message["Message-ID"] = f"<{email.message_id}@b2b-onboarding>"
    message["Date"] = format_datetime(sent_at or datetime.now(timezone.utc))
    message["Content-Language"] = email.language
    # Quoted-printable keeps the bodies 7-bit: any relay carries them, whatever the language.
    message.set_content(email.text_body, cte="quoted-printable")
    message.add_alternative(email.html_body, subtype="html", cte="quoted-printable")
    return message


def parse_eml(data: bytes, headers_only: bool = False) -> EmailMessage:
    """Read an .eml back. Its headers may be UTF-8 (internationalized addresses), which the bytes
    parser would turn into surrogates, so the text is decoded first."""
    return Parser(policy=default_policy).parsestr(data.decode("utf-8", "surrogateescape"), headersonly=headers_only)


def kept_email_summary(message_id: str, to: str, subject: str, date: str, where: str) -> dict:
    """One line of an outbox listing (the folder's and the storage account's alike)."""
    return {"id": message_id, "to": to, "subject": subject, "date": date, "path": where}


def oldest_first(summaries) -> list[dict]:
    """Summaries in the order they were written (by their Date header, read as a time, not as text)."""
    def when(summary: dict) -> datetime:
        try:
            return parsedate_to_datetime(summary["date"])
        except (TypeError, ValueError):
            return datetime.min.replace(tzinfo=timezone.utc)

    return sorted(summaries, key=when)


class OutboxFolderTransport:
    def __init__(self, folder: Path | str):
        self.folder = Path(folder)

    def send(self, email: OutgoingEmail) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        target = self.folder / f"{email.message_id}.eml"
        if target.exists():
            return  # the same message id was delivered already
        data = mime_message(email).as_bytes()
        # Write then rename: a reader never sees half a file, and a crash leaves no partial email.
        handle, temporary = tempfile.mkstemp(dir=self.folder, suffix=".tmp")
        with os.fdopen(handle, "wb") as file:
            file.write(data)
        os.replace(temporary, target)

    def list(self) -> list[dict]:
        if not self.folder.is_dir():
            return []
        return oldest_first(self._summary(path) for path in self.folder.glob("*.eml"))

    def read(self, message_id: str) -> EmailMessage:
        return parse_eml(self.read_bytes(message_id))

    def read_bytes(self, message_id: str) -> bytes:
        path = self.folder / f"{message_id}.eml"
        if not SAFE_MESSAGE_ID.fullmatch(message_id) or not path.is_file():
            raise NotFound(f"no email {message_id} in the outbox")
        return path.read_bytes()

    def delete(self, message_id: str) -> bool:
        path = self.folder / f"{message_id}.eml"
        if not SAFE_MESSAGE_ID.fullmatch(message_id):
            return False
        try:
            path.unlink()
        except FileNotFoundError:
            return False
        return True

    def _summary(self, path: Path) -> dict:
        headers = parse_eml(path.read_bytes(), headers_only=True)
        return kept_email_summary(path.stem, str(headers["To"]), str(headers["Subject"]), str(headers["Date"]),
                                  str(path))
