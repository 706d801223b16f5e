"""The local host's HTTP connections: keep-alive without the Nagle/delayed-ACK stall."""
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

    def send(self, data, *args) -> int:
        sent = super().send(data, *args)
        self.writes.append(bytes(data[:sent]))
        return sent

    def sendall(self, data, *args) -> None:
        super().sendall(data, *args)
        self.writes.append(bytes(data))


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
