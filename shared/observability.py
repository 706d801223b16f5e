"""Structured JSON logs with a correlation id per request or message, and no personal data.

Services never put names, emails or phone numbers in log records; the redaction here is the net under
that rule, for text that comes from elsewhere (exception messages, third-party libraries)."""
from __future__ import annotations

import contextvars
import json
import logging
import re
import sys
import uuid
from contextlib import contextmanager
from datetime import datetime, timezone
from typing import Iterator

_correlation_id: contextvars.ContextVar[str | None] = contextvars.ContextVar("correlation_id", default=None)

_EMAIL = re.compile(r"[\w.!#$%&'*+/=?^`{|}~-]+@[\w-]+(?:\.[\w-]+)+")  # \w: internationalized addresses too
_PHONE = re.compile(r"(?<![\w-])\+?\d[\d ()./-]{5,}\d(?![\w-])")
_STANDARD = set(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {"message", "asctime", "taskName"}


# Number runs that are not phone numbers and that logs are full of: addresses, dates, times.
_OCTET = r"(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)"
_NOT_A_PHONE = re.compile(rf"^({_OCTET}\.){{3}}{_OCTET}$|^\d{{4}}-\d{{2}}-\d{{2}}")


def _phone(match: re.Match) -> str:
    return match.group(0) if _NOT_A_PHONE.match(match.group(0)) else "[phone]"


def redact(text: str) -> str:
    return _PHONE.sub(_phone, _EMAIL.sub("[email]", text))


def current_correlation_id() -> str | None:
    return _correlation_id.get()


@contextmanager
def correlation(correlation_id: str | None = None) -> Iterator[str]:
    value = correlation_id or uuid.uuid4().hex
    token = _correlation_id.set(value)
    try:
        yield value
    finally:
        _correlation_id.reset(token)


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": datetime.fromtimestamp(record.created, timezone.utc).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": redact(record.getMessage()),
        }
        correlation_id = current_correlation_id()
        if correlation_id:
            entry["correlation_id"] = correlation_id
        for key, value in vars(record).items():
            if key not in _STANDARD and not key.startswith("_"):
                entry[key] = redact(value) if isinstance(value, str) else value
        if record.exc_info:
            entry["exception"] = redact(self.formatException(record.exc_info))
        return json.dumps(entry, default=str, ensure_ascii=False)


def configure_logging(level: str = "INFO", stream=None) -> None:
    """JSON logs on one handler of the root logger; idempotent, so every entry point may call it."""
    root = logging.getLogger()
    for handler in root.handlers:
        if getattr(handler, "_b2b_json", False):
            break
    else:
        handler = logging.StreamHandler(stream or sys.stderr)
        handler._b2b_json = True  # type: ignore[attr-defined]
        handler.setFormatter(JsonFormatter())
        root.addHandler(handler)
    root.setLevel(level.upper())
    # The Azure SDK logs every HTTP request and response with its headers at INFO: noise, not events.
    logging.getLogger("azure").setLevel(max(logging.WARNING, root.level))
