"""Reading a request body within a deadline, so that a slow or stalled client cannot hold a worker.

A socket timeout alone bounds each read, not the body: a client that declares a longer Content-Length
than it sends waits out the whole timeout, and one that trickles a byte now and then never runs out of
it. Here every read waits at most for what is left of one deadline for the whole body: a grace period
plus the time the body takes at a minimum rate (the idea of Kestrel's MinRequestBodyDataRate).
"""
from __future__ import annotations

import re
import socket
import time
from typing import BinaryIO, Callable


_HEX = re.compile(rb"[0-9A-Fa-f]{1,16}")


class BodyTimeout(Exception):
    """The body did not arrive by its deadline (answer 408 and close the connection)."""


class BodyTooLarge(Exception):
    """The body is over the host's limit (answer 413 and close the connection)."""


class BadChunkedBody(ValueError):
    """The chunked encoding is malformed (answer 400 and close the connection)."""


class ClientGone(Exception):
    """The client closed the connection before the end of the body: nobody is left to answer."""


class DeadlineReader:
    """Reads from a handler's buffered ``rfile`` with the connection's timeout set to the time left."""

    _CHUNK = 64 * 1024

    def __init__(self, rfile: BinaryIO, connection: socket.socket, *, grace_seconds: float,
                 min_bytes_per_second: float, clock: Callable[[], float] = time.monotonic):
        self._rfile = rfile
        self._connection = connection
        self._clock = clock
        self._min_rate = min_bytes_per_second
        self._deadline = clock() + grace_seconds

    def allow(self, size: int) -> None:
        """Extend the deadline by the time ``size`` more bytes take at the minimum rate."""
        self._deadline += size / self._min_rate

    def read_exactly(self, size: int) -> bytes:
        parts, missing = [], size
        while missing:
            part = self._wait(self._rfile.read1, min(missing, self._CHUNK))  # one socket read at most
            if not part:
                raise ClientGone()
            parts.append(part)
            missing -= len(part)
        return b"".join(parts)

    def readline(self, limit: int) -> bytes:
        """A line up to ``limit`` bytes (shorter without its end when the limit is reached)."""
        line = b""
        while len(line) < limit:
            buffered = self._wait(self._rfile.peek, 1)  # what is buffered, after one socket read if nothing is
            if not buffered:
                raise ClientGone()
            end = buffered.find(b"\n", 0, limit - len(line))
            take = end + 1 if end >= 0 else min(len(buffered), limit - len(line))
            line += self._rfile.read(take)  # from the buffer: never waits
            if end >= 0:
                break
        return line

    def _wait(self, read: Callable[[int], bytes], size: int) -> bytes:
        left = self._deadline - self._clock()
        if left <= 0:
            raise BodyTimeout()
        self._connection.settimeout(left)
        try:
            return read(size)
        except TimeoutError:
            raise BodyTimeout() from None


def read_chunked(reader: DeadlineReader, max_bytes: int) -> bytes:
    """The body of ``Transfer-Encoding: chunked`` (trailers are read and dropped)."""
    chunks, total = [], 0
    while True:
        size_line = reader.readline(1024).split(b";", 1)[0].strip()
        if not _HEX.fullmatch(size_line):  # int() alone would take "-1", "+1" and "1_0"
            raise BadChunkedBody("Bad chunked body")
        size = int(size_line, 16)
        if size == 0:
            while reader.readline(8192).strip():  # trailers
                pass
            return b"".join(chunks)
        total += size
        if total > max_bytes:
            raise BodyTooLarge()
        reader.allow(size)
        chunks.append(reader.read_exactly(size))
        if reader.readline(8).strip():
            raise BadChunkedBody("Bad chunked body")
