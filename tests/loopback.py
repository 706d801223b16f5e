"""An HTTP server on 127.0.0.1 at a free port, served from a daemon thread: the shape every test server
here has (the JWKS issuer, the Dataverse simulator, the webhook front)."""
from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class LoopbackServer:
    """``attributes`` are set on the server object, where handlers find them as ``self.server.<name>``."""

    def __init__(self, handler: type[BaseHTTPRequestHandler], name: str, **attributes: object):
        self._handler, self._name, self._attributes = handler, name, attributes
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> LoopbackServer:
        server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler)
        server.daemon_threads = True
        for attribute, value in self._attributes.items():
            setattr(server, attribute, value)
        # A short poll interval: shutdown() waits for the serving loop to notice it.
        self._thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05},
                                        name=self._name, daemon=True)
        self._server = server
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def __enter__(self) -> LoopbackServer:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    @property
    def url(self) -> str:
        """``http://127.0.0.1:<port>``, without a trailing slash."""
        assert self._server is not None, f"start() the {self._name} server first"
        return f"http://127.0.0.1:{self._server.server_address[1]}"
