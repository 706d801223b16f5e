"""Log hygiene where the host owns the handlers (Azure: the Functions worker's): redacted message and
exception text, the correlation id in the text, LOG_LEVEL applied, the Azure SDK quiet."""
from __future__ import annotations

import io
import logging

import pytest

from shared.observability import JsonFormatter, LogHygiene, configure_logging, correlation, install_log_hygiene


@pytest.fixture
def plain_root():
    """The root logger with one plain handler, like the worker's; everything restored afterwards."""
    root, azure = logging.getLogger(), logging.getLogger("azure")
    saved = list(root.handlers), root.level, azure.level
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logging.Formatter("%(levelname)s %(name)s %(message)s"))
    root.handlers[:] = [handler]
    yield root, handler, stream
    for other in {*root.handlers, *saved[0]}:  # pytest's capture handlers join during the test: clean them
        for hygiene in [f for f in other.filters if isinstance(f, LogHygiene)]:
            other.removeFilter(hygiene)
    root.handlers[:] = saved[0]
    root.setLevel(saved[1])
    azure.setLevel(saved[2])


def test_messages_are_redacted_and_carry_the_correlation_id(plain_root):
    root, handler, stream = plain_root
    install_log_hygiene("INFO")
    with correlation("corr-12345678"):
        logging.getLogger("b2b.x").warning("sent to %s at %s", "anna@example.com", "+46 70 123 45 67")
    logging.getLogger("b2b.x").warning("no request here")
    first, second = stream.getvalue().splitlines()
    assert first == "WARNING b2b.x sent to [email] at [phone] [correlation_id=corr-12345678]"
    assert second == "WARNING b2b.x no request here"


def test_a_correlation_id_of_digits_is_not_taken_for_a_phone_number(plain_root):
    root, handler, stream = plain_root
    install_log_hygiene("INFO")
    with correlation("4670123456789"):
        logging.getLogger("b2b.x").warning("done")
    assert stream.getvalue().strip() == "WARNING b2b.x done [correlation_id=4670123456789]"


def test_exception_text_and_extras_are_redacted(plain_root):
    root, handler, stream = plain_root
    records = []
    handler.addFilter(lambda record: records.append(record) or True)
    install_log_hygiene("INFO")
    try:
        raise RuntimeError("Dataverse says: duplicate contact anna@example.com, phone 070-123 45 67")
    except RuntimeError:
        with correlation("corr-abcdefgh"):
            logging.getLogger("b2b.sales").exception("lead failed", extra={"who": "bo@example.com"})
    text = stream.getvalue()
    assert "anna@example.com" not in text and "123 45 67" not in text
    assert "RuntimeError: Dataverse says: duplicate contact [email], phone [phone]" in text
    assert "Traceback (most recent call last)" in text
    [record] = records
    assert record.who == "[email]" and record.correlation_id == "corr-abcdefgh"


def test_idempotent_and_a_record_is_rewritten_once(plain_root):
    root, handler, stream = plain_root
    second_stream = io.StringIO()
    second = logging.StreamHandler(second_stream)
    root.addHandler(second)
    install_log_hygiene("INFO")
    install_log_hygiene("INFO")
    assert [type(f) for f in handler.filters] == [LogHygiene] == [type(f) for f in second.filters]
    with correlation("corr-12345678"):
        logging.getLogger("b2b.x").warning("one %s", "a@b.se")
    assert stream.getvalue().strip().endswith("one [email] [correlation_id=corr-12345678]")
    assert second_stream.getvalue().strip() == "one [email] [correlation_id=corr-12345678]"


def test_the_json_handler_is_left_to_its_formatter(plain_root):
    root, handler, stream = plain_root
    root.handlers[:] = []
    json_stream = io.StringIO()
    configure_logging("INFO", stream=json_stream)
    install_log_hygiene("INFO")
    [json_handler] = root.handlers
    assert isinstance(json_handler.formatter, JsonFormatter) and not json_handler.filters


@pytest.mark.parametrize("level, expected", [("debug", logging.DEBUG), ("WARNING", logging.WARNING),
                                             ("INFO", logging.INFO), ("loud", logging.INFO), ("", logging.INFO)])
def test_the_level_is_applied_and_the_azure_sdk_stays_at_warning(plain_root, level, expected):
    root, handler, stream = plain_root
    install_log_hygiene(level)
    assert root.level == expected
    assert logging.getLogger("azure").level == max(logging.WARNING, expected)
    logging.getLogger("azure.core.pipeline.policies.http_logging_policy").info("Request URL: https://x")
    assert "Request URL" not in stream.getvalue()
