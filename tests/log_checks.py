"""Logging at DEBUG where a failing log call cannot pass unseen (used by tests/conftest.py's autouse fixture).

Two ways a log call fails, and neither stops a test by itself: ``Logger.makeRecord`` raises ``KeyError`` for an
``extra=`` key that is a LogRecord attribute (at the call site, where the code under test may swallow it in an
``except Exception``), and a handler that cannot format a record hands the error to
``logging.Handler.handleError``, which prints it to stderr and goes on. Both are collected here."""
from __future__ import annotations

import logging
from contextlib import contextmanager
from typing import Iterator

from shared.observability import JsonFormatter


class FormatEveryRecord(logging.Handler):
    """Formats every record as the hosts do (JsonFormatter, which also renders the message with its
    arguments) and keeps what failed, instead of handleError's print."""

    def __init__(self, failures: list[str]):
        super().__init__(logging.DEBUG)
        self.setFormatter(JsonFormatter())
        self.failures = failures

    def emit(self, record: logging.LogRecord) -> None:
        try:
            self.format(record)
        except Exception as error:  # noqa: BLE001 - every failure is reported to the caller
            self.failures.append(f"{record.pathname}:{record.lineno} {record.msg!r}: cannot be formatted: {error!r}")


@contextmanager
def debug_logging_that_reports_errors(logger: logging.Logger | None = None) -> Iterator[list[str]]:
    """``logger`` (the root by default) at DEBUG with a FormatEveryRecord handler, ``makeRecord`` watched and
    ``logging.raiseExceptions`` on; yields the list of failures, filled as they happen. The root only by default:
    the app's loggers (b2b.*) have no level of their own and follow it, so a test that sets a level itself still
    works. (pytest's own capture handler raises for a record it cannot format, too: see its handleError.)"""
    failures: list[str] = []
    make_record = logging.Logger.makeRecord

    def watched_make_record(self, *args, **kwargs):
        try:
            return make_record(self, *args, **kwargs)
        except KeyError as error:  # "Attempt to overwrite 'created' in LogRecord"
            failures.append(f"logger {self.name}: a log call raised KeyError: {error}")
            raise

    root = logger or logging.getLogger()
    saved = root.level, logging.raiseExceptions
    handler = FormatEveryRecord(failures)
    logging.Logger.makeRecord = watched_make_record  # type: ignore[method-assign]
    logging.raiseExceptions = True
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    try:
        yield failures
    finally:
        root.removeHandler(handler)
        root.setLevel(saved[0])
        logging.raiseExceptions = saved[1]
        logging.Logger.makeRecord = make_record  # type: ignore[method-assign]
