"""A scan of everything the app keeps, for an applicant's personal values: every table and row of the state
store (SQLite's tables, or every entity of the Azure table; the SQLite file's bytes: test_sqlite_erasure_file), every queue and its poison queue, and every email
the transport kept (.eml files or blobs, their headers and decoded bodies as well as their raw bytes).

It knows no record type: it reads whatever is there, so a record kind added later (an index keyed by email, a
confirmation request) is scanned too. The erasure tests use it; it must find the values of an applicant who was
not erased (each test checks that too, so a scan that sees nothing cannot pass for one that found nothing)."""
from __future__ import annotations

import re
import sqlite3
from dataclasses import dataclass

from anyascii import anyascii

from shared.adapters.outbox_email import parse_eml
from shared.bootstrap import Container
from shared.queue_worker import poison_queue_name


def looked_for(values: set[str]) -> set[str]:
    """Each value as a store may hold it: as typed, folded (search keys) and, for numbers, without punctuation."""
    forms = set()
    for value in values:
        folded = re.sub(r"\s+", " ", anyascii(value).lower()).strip()
        forms |= {value.casefold(), folded}
        compact = re.sub(r"[^0-9a-z]", "", folded)
        if sum(ch.isdigit() for ch in compact) >= 5:
            forms.add(compact)
    return {form for form in forms if len(form) >= 4}


@dataclass
class Found:
    where: str
    value: str


def scan(c: Container, values: set[str]) -> list[Found]:
    needles = looked_for(values)
    found: list[Found] = []

    def check(where: str, text: str) -> None:
        lowered = text.casefold()
        folded = anyascii(lowered)
        squeezed = re.sub(r"[^0-9a-z]", "", folded)
        for needle in needles:
            if needle in lowered or needle in folded or (needle.isalnum() and needle in squeezed and len(needle) >= 8):
                found.append(Found(where, needle))

    for where, text in _store_texts(c):
        check(where, text)
    for where, text in _queue_texts(c):
        check(where, text)
    for where, text in _kept_email_texts(c):
        check(where, text)
    return found


def _store_texts(c: Container):
    if c.settings.state_backend == "azure":
        for entity in c.store.table.list_entities():
            yield f"table {entity['PartitionKey']}/{entity['RowKey']}", " ".join(str(v) for v in entity.values()) + \
                f" {entity['PartitionKey']} {entity['RowKey']}"
        return
    yield from _sqlite_texts(str(c.settings.data_dir / "state.sqlite3"))


def _sqlite_texts(path: str):
    connection = sqlite3.connect(path)
    try:
        tables = [row[0] for row in connection.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
        for table in tables:
            for row in connection.execute(f'SELECT * FROM "{table}"'):
                yield f"{path}:{table}", " ".join(str(cell) for cell in row)
    finally:
        connection.close()


def _queue_texts(c: Container):
    if c.settings.state_backend != "azure":
        yield from _sqlite_texts(str(c.settings.data_dir / "queues.sqlite3"))
        return
    for base in c.settings.queue_names:
        for name in (base, poison_queue_name(base)):
            for message in c.queue.peek(name, max_messages=32):
                yield f"queue {name}/{message.id}", message.body
            assert c.queue.count(name) <= 32, "the scan peeks 32 messages: keep the test's queues shorter"


def _kept_email_texts(c: Container):
    for summary in c.transport.list():
        raw = c.transport.read_bytes(summary["id"])
        message = parse_eml(raw)
        parts = [raw.decode("utf-8", "replace"), str(message["To"]), str(message["Subject"])]
        parts += [part.get_content() for part in message.walk() if part.get_content_maintype() == "text"]
        yield f"outbox {summary['path']}", " ".join(parts) + " " + " ".join(str(v) for v in summary.values())
