"""Bounded HTTP: no answer takes more memory or more time than the capture allows.

A hostile or broken server can send a small compressed body that inflates to gigabytes,
drip one byte at a time so that no single read ever times out, or simply hang. Every
request of a capture goes through `HttpGuard.get`, which

* streams the body and inflates gzip/deflate itself in bounded steps, so at most
  `max_body_bytes` (+ one step) are ever held; a bigger answer raises `BodyTooLarge`
  (an operational failure, exit 3); with `spill_from`, a body that grows past it goes on
  to an unnamed temp file instead (`body_file`), so a large answer is never in memory;
* enforces a whole-request deadline: the read timeouts never exceed the time left, the
  deadline is checked after every chunk, and a watchdog shuts the request's socket when
  the deadline passes while the server is still sending (or dripping) its headers; an
  exceeded deadline is an `httpx.ReadTimeout`, retried like any timeout;
* `cancel_all()` (Ctrl-C, SIGTERM) shuts every socket the guard has seen, so threads
  blocked in a read wake up at once instead of waiting out their timeout.

Sockets are learnt from httpcore's `trace` extension (connect and TLS events); a client
that does not report them (httpx.MockTransport) still gets the size cap and the
per-chunk deadline.
"""

from __future__ import annotations

import contextlib
import socket
import tempfile
import threading
import time
import zlib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import IO, Any

import httpx

from verifier.errors import OperationalError

DEFAULT_MAX_BODY_BYTES = 256 * 1024 * 1024
BODY_FILE = "verify_body_file"  # the response extension holding a spilled body
_STEP = 1024 * 1024  # inflate at most this much per step
_GZIP_OR_ZLIB = 32 + zlib.MAX_WBITS  # auto-detect gzip or zlib header
_SOCKET_EVENTS = ("connection.connect_tcp.complete", "connection.start_tls.complete")


class BodyTooLarge(OperationalError):
    """A server sent a body bigger than the configured cap (after decompression)."""


class Cancelled(Exception):
    """The guard was cancelled while a request was under way."""


def _inflater(encoding: str) -> Any:
    if encoding in ("gzip", "x-gzip"):
        return zlib.decompressobj(_GZIP_OR_ZLIB)
    if encoding == "deflate":
        return zlib.decompressobj(_GZIP_OR_ZLIB)
    return None


def _bounded_inflate(raw: Iterator[bytes], encoding: str, limit: int) -> Iterator[bytes]:
    """Inflate a gzip/deflate stream in steps; never more than `limit` + 1 bytes out."""
    inflater = _inflater(encoding)
    produced = 0
    for chunk in raw:
        data = chunk
        while data:
            out = inflater.decompress(data, _STEP)
            produced += len(out)
            if produced > limit:
                raise _Overflow
            yield out
            data = inflater.unconsumed_tail
            if inflater.eof and inflater.unused_data:  # a further gzip member
                data = inflater.unused_data
                inflater = _inflater(encoding)
    yield inflater.flush()


class _Overflow(Exception):
    pass


@dataclass
class HttpGuard:
    """Size cap, whole-request deadline and cancellation for one capture run."""

    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _sockets: set[socket.socket] = field(default_factory=set)
    _cancelled: threading.Event = field(default_factory=threading.Event)

    def cancel_all(self) -> None:
        """Wake every request blocked on the network now (Ctrl-C, SIGTERM)."""
        self._cancelled.set()
        with self._lock:
            open_sockets = list(self._sockets)
        for sock in open_sockets:
            _shut(sock)

    def get(
        self,
        client: httpx.Client,
        url: str | httpx.URL,
        *,
        headers: Mapping[str, str],
        timeout: float,
        params: Mapping[str, str] | None = None,
        spill_from: int | None = None,
    ) -> httpx.Response:
        """GET `url` within `timeout` seconds in all, body fully read and bounded. A body
        of more than `spill_from` bytes is in a temp file (`body_file`), not `content`."""
        if self._cancelled.is_set():
            raise Cancelled
        deadline = time.monotonic() + timeout
        mine: list[socket.socket] = []

        def trace(event: str, info: Mapping[str, Any]) -> None:
            if event in _SOCKET_EVENTS:
                stream = info.get("return_value")
                sock = stream.get_extra_info("socket") if stream is not None else None
                if isinstance(sock, socket.socket):
                    mine.append(sock)
                    with self._lock:
                        self._sockets.add(sock)

        def expire() -> None:
            for sock in mine:
                _shut(sock)

        watchdog = threading.Timer(timeout, expire)
        watchdog.daemon = True
        watchdog.start()
        try:
            with client.stream(
                "GET",
                url,
                params=dict(params) if params is not None else None,
                headers=dict(headers),
                timeout=httpx.Timeout(timeout),
                extensions={"trace": trace},
            ) as response:
                body = self._read_body(response, deadline, spill_from)
                return _rebuilt(response, body)
        except httpx.TransportError:
            if time.monotonic() >= deadline:
                raise httpx.ReadTimeout("the whole-request deadline passed") from None
            if self._cancelled.is_set():
                raise Cancelled from None
            raise
        finally:
            watchdog.cancel()
            with self._lock:
                self._sockets.difference_update(mine)

    def _read_body(
        self, response: httpx.Response, deadline: float, spill_from: int | None = None
    ) -> bytes | IO[bytes]:
        encoding = response.headers.get("content-encoding", "").strip().lower()
        limit = self.max_body_bytes
        if _inflater(encoding) is not None:
            chunks: Iterator[bytes] = _bounded_inflate(response.iter_raw(), encoding, limit)
        else:
            chunks = response.iter_bytes()
        parts: list[bytes] = []
        spilled: IO[bytes] | None = None
        size = 0
        try:
            for chunk in chunks:
                size += len(chunk)
                if size > limit:
                    raise _Overflow
                if time.monotonic() > deadline:
                    raise httpx.ReadTimeout("the whole-request deadline passed")
                if self._cancelled.is_set():
                    raise Cancelled
                if spilled is None and spill_from is not None and size > spill_from:
                    spilled = tempfile.TemporaryFile()  # noqa: SIM115  # closed by its reader
                    spilled.writelines(parts)
                    parts.clear()
                if spilled is not None:
                    spilled.write(chunk)
                else:
                    parts.append(chunk)
        except _Overflow:
            _close(spilled)
            raise BodyTooLarge(
                f"the server sent a body of more than {limit} bytes (after decompression); "
                "raise --max-body-mb if such answers are expected"
            ) from None
        except zlib.error:
            _close(spilled)
            raise httpx.DecodingError("the compressed body is corrupt") from None
        except BaseException:
            _close(spilled)
            raise
        if spilled is not None:
            spilled.seek(0)
            return spilled
        return b"".join(parts)


def _close(spilled: IO[bytes] | None) -> None:
    if spilled is not None:
        spilled.close()


def body_file(response: httpx.Response) -> IO[bytes] | None:
    """The temp file holding a spilled body (its reader closes it), else None."""
    found: IO[bytes] | None = response.extensions.get(BODY_FILE)
    return found


def _rebuilt(response: httpx.Response, body: bytes | IO[bytes]) -> httpx.Response:
    """A plain response holding the (already inflated) body, or, spilled, pointing at it."""
    headers = [
        (name, value)
        for name, value in response.headers.multi_items()
        if name.lower() not in ("content-encoding", "content-length", "transfer-encoding")
    ]
    if isinstance(body, bytes):
        return httpx.Response(
            response.status_code, headers=headers, content=body, request=response.request
        )
    return httpx.Response(
        response.status_code,
        headers=headers,
        content=b"",
        request=response.request,
        extensions={BODY_FILE: body},
    )


def _shut(sock: socket.socket) -> None:
    with contextlib.suppress(OSError):
        sock.shutdown(socket.SHUT_RDWR)
