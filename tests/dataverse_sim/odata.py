"""OData plumbing of the simulator: errors, query options ($select, $filter, $expand, $orderby, $top).

``$filter`` takes conditions joined by ``and``: ``column op value`` with op one of eq, ne, gt, ge, lt, le,
values as OData literals (strings, numbers, booleans, null, GUIDs, DateTimeOffsets), and a column that may
be a lookup's column (``originatingleadid/cr_b2bprospectnumber``)."""
from __future__ import annotations

import json
import re
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timezone

# Error codes Dataverse answers with (hex, as the Web API sends them).
DUPLICATE_KEY = "0x80040237"  # "A record with matching key values already exists." (412 on create)
NOT_FOUND = "0x80040217"
INVALID_PROPERTY = "0x80060888"
VALIDATION = "0x80044331"
INVALID_ARGUMENT = "0x80040203"
REQUESTS_LIMIT = "0x80072322"
CONCURRENCY_LIMIT = "0x80072326"
UNEXPECTED = "0x80040216"


class ODataError(Exception):
    """An error answer: ``{"error": {"code": ..., "message": ...}}`` with an HTTP status."""

    def __init__(self, status: int, code: str, message: str, headers: dict[str, str] | None = None):
        super().__init__(f"{status} {code} {message}")
        self.status = status
        self.code = code
        self.message = message
        self.headers = headers or {}

    def body(self) -> dict:
        return {"error": {"code": self.code, "message": self.message}}


def parse_guid(text: str) -> str:
    """A key as Dataverse takes it: a GUID, any case, answered in lower case."""
    try:
        return str(uuid.UUID(text.strip()))
    except ValueError:
        raise ODataError(400, INVALID_ARGUMENT, f"Bad Request - Error in query syntax: '{text}' is not a Guid.") from None


def _split_top_level(text: str, sep: str) -> list[str]:
    parts, depth, current = [], 0, []
    for char in text:
        if char == "(":
            depth += 1
        elif char == ")":
            depth -= 1
        if char == sep and depth == 0:
            parts.append("".join(current))
            current = []
        else:
            current.append(char)
    if current:
        parts.append("".join(current))
    return [part.strip() for part in parts if part.strip()]


@dataclass
class Expansion:
    navigation: str
    select: list[str] | None = None


@dataclass
class Query:
    select: list[str] | None = None
    # (column, value) means "eq"; (column, value, operator) any of ``OPERATORS``. A column may be a lookup's
    # column, ``navigation/column`` (Dataverse filters on the values of single-valued navigation properties).
    filters: list[tuple] = field(default_factory=list)
    expand: list[Expansion] = field(default_factory=list)
    orderby: tuple[str, bool] | None = None  # (attribute, descending)
    top: int | None = None


OPERATORS = ("eq", "ne", "gt", "ge", "lt", "le")
_CONDITION = re.compile(r"^\s*([A-Za-z_]\w*(?:/[A-Za-z_]\w*)?)\s+(eq|ne|gt|ge|lt|le)\s+(.+?)\s*$")
_DATETIME = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:\d{2})$")


def _literal(text: str) -> object:
    if text.startswith("'") and text.endswith("'"):
        return text[1:-1].replace("''", "'")
    if text == "null":
        return None
    if text in ("true", "false"):
        return text == "true"
    if re.fullmatch(r"-?\d+", text):
        return int(text)
    if _DATETIME.match(text):  # a DateTimeOffset literal (unquoted); compared as a moment
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
        return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)
    return parse_guid(text)


def parse_query(options: dict[str, str]) -> Query:
    query = Query()
    for name in options:
        if name.startswith("$") and name not in ("$select", "$filter", "$expand", "$orderby", "$top"):
            raise ODataError(400, INVALID_ARGUMENT, f"The query parameter '{name}' is not supported by the simulator.")
    if "$select" in options:
        query.select = [column.strip() for column in options["$select"].split(",") if column.strip()]
    if "$filter" in options:
        for condition in re.split(r"\s+and\s+", options["$filter"].strip()):
            match = _CONDITION.match(condition)
            if not match:
                raise ODataError(400, INVALID_ARGUMENT, "The simulator only understands 'column op value' filters "
                                 f"joined by 'and' (op: {', '.join(OPERATORS)}): {condition!r}")
            column, operator, value = match.groups()
            query.filters.append((column, _literal(value), operator))
    if "$expand" in options:
        for item in _split_top_level(options["$expand"], ","):
            nav, _, rest = item.partition("(")
            expansion = Expansion(nav.strip())
            if rest:
                for option in _split_top_level(rest.rstrip(")"), ";"):
                    key, _, value = option.partition("=")
                    if key.strip() != "$select":
                        raise ODataError(400, INVALID_ARGUMENT,
                                         f"The simulator only supports $select inside $expand: {option!r}")
                    expansion.select = [column.strip() for column in value.split(",") if column.strip()]
            query.expand.append(expansion)
    if "$orderby" in options:
        column, _, direction = options["$orderby"].strip().partition(" ")
        query.orderby = (column, direction.strip().lower() == "desc")
    if "$top" in options:
        query.top = int(options["$top"])
    return query


def json_bytes(value: object) -> bytes:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
