"""Logs with a correlation id per request or message, and no personal data: JSON lines where the app owns
the handler (the local host, the CLI: ``configure_logging``), and the same redaction and correlation id on
the handlers of a host that owns them (the Azure Functions worker: ``install_log_hygiene``).

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


_PLAIN = logging.Formatter()


class LogHygiene(logging.Filter):
    """The net of JsonFormatter for a handler that formats records its own way: the Azure Functions
    worker's, which ships each record's formatted text to Application Insights. It rewrites the record in
    place (a filter cannot hand on a copy before Python 3.12): the message redacted, with the correlation id
    appended as ``[correlation_id=…]`` so that traces can be searched for it (and as an attribute); the
    exception text redacted (``logging.Formatter`` prints ``exc_text`` when it is set); string extras
    redacted. A record is rewritten once, however many handlers it passes."""

    def filter(self, record: logging.LogRecord) -> bool:
        if getattr(record, "_b2b_clean", False):
            return True
        try:
            message = redact(record.getMessage())
        except Exception:  # a record whose arguments do not fit its format: the handler reports it
            return True
        for key, value in list(vars(record).items()):
            if key not in _STANDARD and not key.startswith("_") and isinstance(value, str):
                setattr(record, key, redact(value))
        if record.exc_info or record.exc_text:
            record.exc_text = redact(record.exc_text or _PLAIN.formatException(record.exc_info))
        correlation_id = current_correlation_id()  # added after redaction: an id is never taken for a phone
        if correlation_id:
            message += f" [correlation_id={correlation_id}]"
            if not hasattr(record, "correlation_id"):
                record.correlation_id = correlation_id
        record.msg, record.args = message, None
        record._b2b_clean = True
        return True


def _level(level: str) -> int:
    value = logging.getLevelName(str(level).strip().upper())
    return value if isinstance(value, int) else logging.INFO


def install_log_hygiene(level: str = "INFO") -> None:
    """Where the host owns logging (Azure: the worker's handler on the root logger): LogHygiene on each root
    handler that is not our JSON one, the root logger at ``level`` (LOG_LEVEL; INFO if it is no level name)
    and the Azure SDK's logger at WARNING. Idempotent; handlers added later are not covered."""
    root = logging.getLogger()
    for handler in root.handlers:
        if not getattr(handler, "_b2b_json", False) and not any(isinstance(f, LogHygiene) for f in handler.filters):
            handler.addFilter(LogHygiene())
    root.setLevel(_level(level))
    logging.getLogger("azure").setLevel(max(logging.WARNING, root.level))


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
