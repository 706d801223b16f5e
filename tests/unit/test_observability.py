"""Structured logs: JSON lines, a correlation id per request, no personal data."""
from __future__ import annotations

import io
import json
import logging

import pytest

from shared.observability import JsonFormatter, configure_logging, correlation, current_correlation_id, redact


@pytest.mark.parametrize("text, expected", [
    ("mail anna.svensson@example.com now", "mail [email] now"),
    ("<Anna.Svensson+b2b@sub.example.co.uk>", "<[email]>"),
    ("a@b.se and c@d.se", "[email] and [email]"),
    ("call +46 70 123 45 67 today", "call [phone] today"),
    ("call (08) 555-000 00", "call ([phone]"),
    ("tel: 070-1234567.", "tel: [phone]."),
    ("0701234567", "[phone]"),
    ("+1 (555) 010-9999, or +44 20 7946 0958", "[phone], or [phone]"),
])
def test_redact_removes_emails_and_phone_numbers(text, expected):
    assert redact(text) == expected


@pytest.mark.parametrize("address", ["anna@bücher.de", "Åsa.Öberg@example.com", "åsa@example.com", "anna@例え.jp"])
def test_redact_removes_internationalized_emails(address):
    assert redact(f"sent to {address} ok") == "sent to [email] ok"


@pytest.mark.parametrize("text", [
    "prospect PRO-000123 approved",
    "hierarchy H-000042 created",
    "lead 3f2504e0-4f89-11d3-9a0c-0305e82c3301 created",
    "dequeue_count 5 of 5",
    "took 1234 ms",
    "sha 9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
    "",
])
def test_redact_leaves_ids_and_small_numbers(text):
    assert redact(text) == text


def _format(record_kwargs: dict | None = None, message: str = "hello %s", args=("world",), exc_info=None) -> dict:
    logger = logging.getLogger("b2b.test")
    record = logger.makeRecord("b2b.test", logging.INFO, __file__, 1, message, args, exc_info,
                               extra=record_kwargs or None)
    return json.loads(JsonFormatter().format(record))


def test_json_line_with_the_basics():
    entry = _format()
    assert entry["message"] == "hello world"
    assert entry["level"] == "INFO"
    assert entry["logger"] == "b2b.test"
    assert entry["time"].endswith("+00:00")
    assert "correlation_id" not in entry


def test_correlation_id_inside_correlation():
    with correlation("req-123") as value:
        assert value == "req-123"
        assert current_correlation_id() == "req-123"
        assert _format()["correlation_id"] == "req-123"
    assert current_correlation_id() is None
    assert "correlation_id" not in _format()


def test_correlation_generates_an_id_and_nests():
    with correlation() as outer:
        assert outer and current_correlation_id() == outer
        with correlation("inner") as inner:
            assert _format()["correlation_id"] == inner == "inner"
        assert _format()["correlation_id"] == outer
    assert current_correlation_id() is None


def test_correlation_resets_after_an_exception():
    with pytest.raises(RuntimeError):
        with correlation("boom"):
            raise RuntimeError
    assert current_correlation_id() is None


def test_extra_fields_are_kept_and_string_ones_redacted():
    entry = _format({"prospect": "PRO-000001", "to": "anna@example.com", "attempt": 3, "ok": True})
    assert entry["prospect"] == "PRO-000001"
    assert entry["to"] == "[email]"
    assert entry["attempt"] == 3 and entry["ok"] is True


def test_message_and_exception_are_redacted():
    try:
        raise ValueError("no customer with email anna@example.com, phone +46 70 123 45 67")
    except ValueError:
        import sys
        entry = _format(message="failed for %s", args=("bo@example.org",), exc_info=sys.exc_info())
    assert entry["message"] == "failed for [email]"
    assert "anna@example.com" not in entry["exception"]
    assert "+46 70 123 45 67" not in entry["exception"]
    assert "ValueError" in entry["exception"]


def test_unicode_is_kept_readable():
    entry_line = JsonFormatter().format(logging.makeLogRecord({"msg": "Åsa Öberg – 商店", "levelname": "INFO"}))
    assert "Åsa Öberg – 商店" in entry_line
    assert "\n" not in entry_line


def test_non_json_values_do_not_break_the_line():
    entry = _format({"when": object()})
    assert isinstance(entry["when"], str)


@pytest.fixture
def clean_root_logger():
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    root.handlers[:] = []  # start from no handler, whatever earlier tests configured
    yield root
    root.handlers[:] = handlers
    root.setLevel(level)


def test_configure_logging_is_idempotent(clean_root_logger):
    stream = io.StringIO()
    configure_logging("debug", stream=stream)
    configure_logging("info", stream=io.StringIO())
    ours = [h for h in clean_root_logger.handlers if getattr(h, "_b2b_json", False)]
    assert len(ours) == 1
    assert clean_root_logger.level == logging.INFO
    with correlation("c-1"):
        logging.getLogger("b2b.x").warning("sent to %s", "anna@example.com")
    line = json.loads(stream.getvalue().strip().splitlines()[-1])
    assert line["message"] == "sent to [email]"
    assert line["correlation_id"] == "c-1"


@pytest.mark.parametrize("text", ["http://127.0.0.1:7071/api", "at 2026-01-01 12:00", "2026-11-25T14:27:36+00:00"])
def test_addresses_and_dates_are_not_taken_for_phone_numbers(text):
    assert redact(text) == text


def test_a_dotted_phone_number_is_still_redacted():
    assert "123" not in redact("call 070.123.45.67")
