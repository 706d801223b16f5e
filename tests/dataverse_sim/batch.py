"""``$batch`` bodies (OData 4.0 multipart/mixed): parsing requests, writing responses."""
from __future__ import annotations

import re
import uuid
from dataclasses import dataclass, field

from tests.dataverse_sim.odata import INVALID_ARGUMENT, ODataError

_BOUNDARY = re.compile(r'boundary="?([^";]+)"?', re.IGNORECASE)


def boundary_of(content_type: str) -> str:
    match = _BOUNDARY.search(content_type or "")
    if not match:
        raise ODataError(400, INVALID_ARGUMENT,
                         "The batch request must have a multipart/mixed Content-Type with a boundary.")
    return match.group(1)


def _headers_and_rest(text: str) -> tuple[dict[str, str], str]:
    """Split ``Header: value`` lines from what follows the first blank line (CRLF or LF)."""
    empty = re.match(r"\r?\n", text)
    if empty:  # no headers at all: the blank line comes first
        return {}, text[empty.end():]
    match = re.search(r"\r?\n\r?\n", text)
    head, rest = (text[: match.start()], text[match.end():]) if match else (text, "")
    headers: dict[str, str] = {}
    for line in re.split(r"\r?\n", head):
        if ":" in line:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
    return headers, rest


def split_parts(body: str, boundary: str) -> list[str]:
    delimiter = "--" + boundary
    if delimiter + "--" not in body:
        raise ODataError(400, INVALID_ARGUMENT, f"The batch body does not end with '{delimiter}--'.")
    inner = body.split(delimiter + "--", 1)[0]
    parts = inner.split(delimiter)[1:]
    return [re.sub(r"^\r?\n", "", part) for part in parts]


@dataclass
class InnerRequest:
    method: str
    target: str
    headers: dict[str, str]
    body: str
    content_id: str | None = None


@dataclass
class BatchItem:
    """A single request, or a changeset (``changeset`` set) of requests that stand or fall together."""

    request: InnerRequest | None = None
    changeset: list[InnerRequest] = field(default_factory=list)
    changeset_boundary: str | None = None


def _inner_request(part: str) -> InnerRequest:
    part_headers, http = _headers_and_rest(part)
    if part_headers.get("content-type", "").split(";")[0].strip() != "application/http":
        raise ODataError(400, INVALID_ARGUMENT,
                         "Each batch part must be application/http or a multipart/mixed changeset.")
    request_line, _, remainder = http.lstrip("\r\n").partition("\n")
    pieces = request_line.strip().split(" ")
    if len(pieces) < 2:
        raise ODataError(400, INVALID_ARGUMENT, f"Bad request line in batch part: {request_line!r}")
    headers, body = _headers_and_rest(remainder)
    return InnerRequest(pieces[0].upper(), pieces[1], headers, body.rstrip("\r\n"), part_headers.get("content-id"))


def parse_batch(body: str, content_type: str) -> list[BatchItem]:
    items: list[BatchItem] = []
    for part in split_parts(body, boundary_of(content_type)):
        headers, rest = _headers_and_rest(part)
        kind = headers.get("content-type", "")
        if kind.lower().startswith("multipart/mixed"):
            inner_boundary = boundary_of(kind)
            requests = [_inner_request(inner) for inner in split_parts(rest, inner_boundary)]
            for request in requests:
                if request.method == "GET":
                    raise ODataError(400, INVALID_ARGUMENT, "GET requests are not allowed inside a changeset.")
            items.append(BatchItem(changeset=requests, changeset_boundary=inner_boundary))
        else:
            items.append(BatchItem(request=_inner_request(part)))
    return items


_REASONS = {200: "OK", 201: "Created", 204: "No Content", 400: "Bad Request", 401: "Unauthorized", 404: "Not Found",
            412: "Precondition Failed", 429: "Too Many Requests", 500: "Internal Server Error", 503: "Service Unavailable"}


def http_part(status: int, headers: dict[str, str], body: bytes, content_id: str | None = None) -> str:
    lines = ["Content-Type: application/http", "Content-Transfer-Encoding: binary"]
    if content_id is not None:
        lines.append(f"Content-ID: {content_id}")
    lines += ["", f"HTTP/1.1 {status} {_REASONS.get(status, 'Status')}"]
    lines += [f"{name}: {value}" for name, value in headers.items()]
    lines += ["", body.decode("utf-8")]
    return "\r\n".join(lines)


def multipart(parts: list[str], prefix: str) -> tuple[str, str]:
    """Join parts under a fresh boundary; returns (boundary, body)."""
    boundary = f"{prefix}_{uuid.uuid4()}"
    body = "".join(f"--{boundary}\r\n{part}\r\n" for part in parts) + f"--{boundary}--\r\n"
    return boundary, body


def changeset_part(parts: list[str]) -> str:
    boundary, body = multipart(parts, "changesetresponse")
    return f"Content-Type: multipart/mixed; boundary={boundary}\r\n\r\n{body}"
