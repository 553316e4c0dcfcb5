"""A loopback HTTP server that misbehaves on purpose, for the hardening tests and
`scripts/hostile_server_check.py`: decompression bombs, dripping bodies and headers,
hanging, connection resets and redirect games. Only ever binds 127.0.0.1."""

from __future__ import annotations

import contextlib
import gzip
import socket
import struct
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import cast

BOMB_INFLATED_BYTES = 16 * 1024 * 1024
_BOMB = gzip.compress(b"\0" * BOMB_INFLATED_BYTES, compresslevel=9)
DRIP_BYTES = 25
DRIP_INTERVAL = 0.2
HANG_SECONDS = 30.0


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    seen_authorization: list[str | None]  # set per server
    stop: threading.Event

    def log_message(self, format: str, *args: object) -> None:
        pass

    def handle(self) -> None:
        with contextlib.suppress(OSError):  # the client gave up first: that is the point
            super().handle()

    def do_GET(self) -> None:
        self.seen_authorization.append(self.headers.get("Authorization"))
        route = self.path.split("?")[0].strip("/").split("/", 1)[0]
        handler = getattr(self, f"_route_{route.replace('-', '_')}", self._route_ok)
        handler()

    def _send_head(self, status: int, headers: dict[str, str]) -> None:
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name, value)
        self.end_headers()

    def _route_ok(self) -> None:
        body = b'{"object": "list", "data": [], "has_more": false}'
        self._send_head(200, {"Content-Type": "application/json", "Content-Length": str(len(body))})
        self.wfile.write(body)

    def _route_bomb(self) -> None:
        self._send_head(
            200,
            {
                "Content-Type": "application/json",
                "Content-Encoding": "gzip",
                "Content-Length": str(len(_BOMB)),
            },
        )
        self.wfile.write(_BOMB)

    def _route_drip(self) -> None:
        self._send_head(
            200, {"Content-Type": "application/json", "Content-Length": str(DRIP_BYTES)}
        )
        for _ in range(DRIP_BYTES):
            if self.stop.wait(DRIP_INTERVAL):
                return
            self.wfile.write(b" ")
            self.wfile.flush()

    def _route_drip_headers(self) -> None:
        for char in b"HTTP/1.1 200 OK\r\nX-Slow: " + b"a" * DRIP_BYTES:
            if self.stop.wait(DRIP_INTERVAL):
                return
            self.wfile.write(bytes([char]))
            self.wfile.flush()

    def _route_hang(self) -> None:
        self.stop.wait(HANG_SECONDS)

    def _route_reset(self) -> None:
        # Drop the connection without an answer (SO_LINGER 0: a reset where the platform
        # sends one once the last reference closes).
        self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.connection.shutdown(socket.SHUT_RDWR)
        self.close_connection = True

    def _route_elsewhere(self) -> None:
        port = cast(ThreadingHTTPServer, self.server).server_port
        location = f"http://localhost:{port}/ok/v1"
        self._send_head(302, {"Location": location, "Content-Length": "0"})

    def _route_loop(self) -> None:
        self._send_head(302, {"Location": self.path, "Content-Length": "0"})


@contextmanager
def hostile_server() -> Iterator[tuple[str, list[str | None]]]:
    """(base URL, Authorization headers seen) of a running hostile server."""
    seen: list[str | None] = []
    stop = threading.Event()
    handler = type("Handler", (_Handler,), {"seen_authorization": seen, "stop": stop})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}", seen
    finally:
        stop.set()
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
        time.sleep(0)  # let the handler threads see `stop`
