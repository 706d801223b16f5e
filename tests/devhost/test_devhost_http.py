"""The local host's HTTP connections: keep-alive without the Nagle/delayed-ACK stall, bounded body reads."""
import http.client
import socket
import time
from pathlib import Path

import pytest

from devhost import http_server
from devhost.host import LocalHost
from memory_queue import MemoryQueue

pytestmark = pytest.mark.e2e

SAMPLE_DIR = Path(__file__).parent / "sample_app"
SETTINGS = {"SAMPLE_QUEUE": "sample-items", "SAMPLE_SCHEDULE": "0 0 0 1 1 *", "DEVHOST_FUNCTION_KEY": "k"}


@pytest.fixture(scope="module")
def host():
    with pytest.MonkeyPatch.context() as patch:
        for name, value in SETTINGS.items():
            patch.setenv(name, value)
        host = LocalHost(SAMPLE_DIR, module="sample_function_app", port=0, queue=MemoryQueue(), timers=False,
                         local_settings=False).start()
        try:
            yield host
        finally:
            host.stop()


class RecordingSocket(socket.socket):
    """The server's end of a connection, keeping every write the server makes to it."""

    def __init__(self, accepted: socket.socket):
        super().__init__(accepted.family, accepted.type, accepted.proto, fileno=accepted.detach())
        self.writes: list[bytes] = []

    # Kept before the bytes leave: the client may read them (and the test look) before send() returns.
    def send(self, data, *args) -> int:
        self.writes.append(bytes(data))
        sent = super().send(data, *args)
        self.writes[-1] = self.writes[-1][:sent]
        return sent

    def sendall(self, data, *args) -> None:
        self.writes.append(bytes(data))
        super().sendall(data, *args)


@pytest.fixture
def server_sockets(monkeypatch) -> list[RecordingSocket]:
    """The server's end of each connection accepted from now on."""
    accepted: list[RecordingSocket] = []
    original = http_server._Server.get_request

    def get_request(server):
        connection, address = original(server)
        recording = RecordingSocket(connection)
        accepted.append(recording)
        return recording, address

    monkeypatch.setattr(http_server._Server, "get_request", get_request)
    return accepted


def test_keep_alive_responses_leave_in_one_write_with_nagle_off(host, server_sockets):
    # Head and body in two small writes made Nagle hold the body until the client's delayed ACK of the
    # head, ~40 ms later, on every request of a keep-alive connection.
    client = http.client.HTTPConnection("127.0.0.1", host.port, timeout=10)
    try:
        for number in range(5):
            client.request("GET", f"/api/signups/{number}")
            response = client.getresponse()
            assert response.status == 200
            assert response.read().startswith(b'{"id": "%d"' % number)
        client.request("POST", "/api/signups", body=b'{"n": 1}', headers={"Content-Type": "application/json"})
        response = client.getresponse()
        assert (response.status, response.read()) == (201, b"accepted")
        [server_end] = server_sockets  # all six requests on one connection
        assert server_end.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY)
    finally:
        client.close()
    assert len(server_end.writes) == 6
    for write in server_end.writes:
        head, blank_line, body = write.partition(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 20") and blank_line and body


def test_expect_100_continue_is_answered_before_the_body(host):
    with socket.create_connection(("127.0.0.1", host.port), timeout=5) as client:
        client.sendall(b"PUT /api/hello/Ann/x HTTP/1.1\r\nHost: test\r\nContent-Length: 2\r\n"
                       b"Expect: 100-continue\r\n\r\n")
        assert client.recv(1024).startswith(b"HTTP/1.1 100 Continue\r\n")  # before any body was sent
        client.sendall(b"hi")
        assert b"\r\n\r\nAnn|x" in _receive_until(client, b"Ann|x")


def _receive_until(client: socket.socket, marker: bytes) -> bytes:
    received = b""
    while marker not in received:
        part = client.recv(4096)
        if not part:
            break
        received += part
    return received


def _read_all(client: socket.socket) -> bytes:
    received = b""
    while part := client.recv(4096):
        received += part
    return received


@pytest.fixture
def short_body_deadline(monkeypatch):
    monkeypatch.setattr(http_server, "BODY_GRACE_SECONDS", 0.5)
    return 0.5


def test_a_body_shorter_than_its_content_length_gets_408_in_time(host, short_body_deadline):
    with socket.create_connection(("127.0.0.1", host.port), timeout=10) as client:
        client.sendall(b"POST /api/signups HTTP/1.1\r\nHost: test\r\nContent-Length: 100\r\n\r\n" + b"x" * 10)
        started = time.monotonic()
        answer = _read_all(client)  # ends when the server closes the connection
        waited = time.monotonic() - started
    assert answer.startswith(b"HTTP/1.1 408 ")
    assert b"Connection: close" in answer
    assert waited < 5  # the idle timeout is 30 s; the body's deadline is 0.5 s


def test_a_trickling_body_gets_408_at_its_deadline(host, short_body_deadline):
    # Each byte arrives well inside any per-read timeout: only a deadline for the whole body stops it.
    with socket.create_connection(("127.0.0.1", host.port), timeout=10) as client:
        client.sendall(b"POST /api/signups HTTP/1.1\r\nHost: test\r\nTransfer-Encoding: chunked\r\n\r\n")
        client.setblocking(False)
        started, answer = time.monotonic(), b""
        while time.monotonic() - started < 5 and not answer:
            try:
                client.sendall(b"1\r\nx\r\n")
            except OSError:
                break  # the server closed: its answer is waiting to be read
            time.sleep(0.05)
            try:
                answer = client.recv(4096)
            except BlockingIOError:
                pass
        waited = time.monotonic() - started
        client.setblocking(True)
        if not answer:
            answer = client.recv(4096)
    assert answer.startswith(b"HTTP/1.1 408 ")
    assert waited < 5


def test_stalled_bodies_do_not_hold_the_host(host, short_body_deadline):
    stalled = [socket.create_connection(("127.0.0.1", host.port), timeout=10) for _ in range(4)]
    try:
        for client in stalled:
            client.sendall(b"POST /api/signups HTTP/1.1\r\nHost: test\r\nContent-Length: 50\r\n\r\n{")
        check = http.client.HTTPConnection("127.0.0.1", host.port, timeout=10)
        check.request("GET", "/api/signups/1")
        assert check.getresponse().status == 200
        check.close()
        for client in stalled:
            assert _read_all(client).startswith(b"HTTP/1.1 408 ")
    finally:
        for client in stalled:
            client.close()


def test_a_chunked_body_within_its_deadline_reaches_the_function(host, short_body_deadline):
    with socket.create_connection(("127.0.0.1", host.port), timeout=10) as client:
        client.sendall(b"PUT /api/hello/Ann/a HTTP/1.1\r\nHost: test\r\nTransfer-Encoding: chunked\r\n\r\n"
                       b"3;ext=1\r\nabc\r\n0\r\nX-Trailer: 1\r\n\r\n")
        assert b"\r\n\r\nAnn|a" in _receive_until(client, b"Ann|a")


@pytest.mark.parametrize("size_line", [b"-1", b"1_0", b"zz"])
def test_a_malformed_chunk_size_is_400(host, size_line):
    with socket.create_connection(("127.0.0.1", host.port), timeout=10) as client:
        client.sendall(b"PUT /api/hello/Ann/a HTTP/1.1\r\nHost: test\r\nTransfer-Encoding: chunked\r\n\r\n"
                       + size_line + b"\r\nabc\r\n0\r\n\r\n")
        assert _read_all(client).startswith(b"HTTP/1.1 400 ")
