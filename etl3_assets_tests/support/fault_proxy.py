"""S3's bad days on loopback: an asyncio HTTP/1.1 proxy between boto3 and SeaweedFS.

Clients reach it through the standard endpoint setting (``endpoint_url``); it forwards
each request unchanged (the Host header too, so SigV4 signatures stay valid) over a
keep-alive connection of its own to the upstream, and injects, by a seeded draw per
request:

* ``503 SlowDown`` and ``500 InternalError`` answers on a share of the requests (after
  reading the body, before forwarding; boto3 retries both);
* connection resets mid-upload: it reads part of a request's body, then closes the
  connection with an RST (``SO_LINGER`` 0), as a dropped connection does;
* slow responses: a share of the requests waits ``slow_seconds`` before it is forwarded;
* an outage: for ``outage_seconds`` (configurable, so a test can use a short one) every
  connection is reset as it arrives or sends a request; it starts after
  ``outage_after`` requests matching ``outage_match`` (or with ``start_outage``).

Loopback only, bounded: at most ``max_connections`` client connections at once, bodies
of at most ``max_body_bytes``, idle connections closed after ``idle_seconds``. It runs
its own event loop in a daemon thread, so a test (or a benchmark) uses it as a context
manager beside the code under test.
"""

from __future__ import annotations

import asyncio
import random
import socket
import struct
import threading
import time
from dataclasses import dataclass, field

HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "expect", "proxy-connection", "te", "upgrade"}


@dataclass
class Faults:
    """What goes wrong, as shares of the requests (each drawn independently)."""

    slow_down: float = 0.0  # 503 SlowDown
    internal_error: float = 0.0  # 500 InternalError
    reset_mid_upload: float = 0.0  # of requests with a body: RST after part of it
    slow: float = 0.0  # wait slow_seconds before forwarding
    slow_seconds: float = 0.5
    outage_after: int | None = None  # requests matching outage_match before the outage starts
    outage_match: str = ""  # substring of the request target that counts toward outage_after
    outage_seconds: float = 60.0
    methods: tuple[str, ...] = ("PUT", "POST", "DELETE", "GET", "HEAD")


@dataclass
class Counts:
    requests: int = 0
    forwarded: int = 0
    slow_down: int = 0
    internal_error: int = 0
    resets: int = 0
    slowed: int = 0
    refused_in_outage: int = 0
    by_method: dict[str, int] = field(default_factory=dict)


class FaultInjectingProxy:
    def __init__(
        self,
        upstream: str,
        faults: Faults = Faults(),
        *,
        seed: int = 0,
        max_connections: int = 64,
        max_body_bytes: int = 256 * 1024 * 1024,
        idle_seconds: float = 30.0,
    ):
        host, _, port = upstream.removeprefix("http://").rstrip("/").partition(":")
        if host not in ("127.0.0.1", "localhost"):
            raise ValueError(f"the proxy forwards to loopback only, not {upstream!r}")
        self.upstream = ("127.0.0.1", int(port or 80))
        self.faults = faults
        self.random = random.Random(seed)
        self.max_body_bytes = max_body_bytes
        self.idle_seconds = idle_seconds
        self.counts = Counts()
        self._matched = 0
        self._outage_until = 0.0
        self._lock = threading.Lock()
        self._loop = asyncio.new_event_loop()
        self._slots = asyncio.Semaphore(max_connections)
        self._server: asyncio.AbstractServer | None = None
        self._tasks: set[asyncio.Task] = set()
        self._thread = threading.Thread(target=self._loop.run_forever, name="fault-proxy", daemon=True)
        self.endpoint = ""

    # -- control, from any thread --------------------------------------------------------

    def start_outage(self, seconds: float | None = None) -> None:
        with self._lock:
            self._outage_until = time.monotonic() + (self.faults.outage_seconds if seconds is None else seconds)

    def in_outage(self) -> bool:
        return time.monotonic() < self._outage_until

    def outage_over(self) -> float:
        """Seconds until the outage ends (0 when there is none)."""
        return max(0.0, self._outage_until - time.monotonic())

    def __enter__(self) -> FaultInjectingProxy:
        self._thread.start()
        future = asyncio.run_coroutine_threadsafe(self._start(), self._loop)
        port = future.result(timeout=10)
        self.endpoint = f"http://127.0.0.1:{port}"
        return self

    def __exit__(self, *exc) -> None:
        asyncio.run_coroutine_threadsafe(self._stop(), self._loop).result(timeout=10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=10)

    async def _start(self) -> int:
        self._server = await asyncio.start_server(self._client, "127.0.0.1", 0)
        return self._server.sockets[0].getsockname()[1]

    async def _stop(self) -> None:
        """Stop accepting, then end the open connections (idle keep-alives included)."""
        if self._server is not None:
            self._server.close()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._server is not None:
            await self._server.wait_closed()

    # -- one client connection ------------------------------------------------------------

    def _draw(self, method: str, target: str, has_body: bool) -> str | None:
        """The fault for one request: None, or its kind."""
        f = self.faults
        with self._lock:
            self.counts.requests += 1
            self.counts.by_method[method] = self.counts.by_method.get(method, 0) + 1
            if f.outage_after is not None and f.outage_match in target:
                self._matched += 1
                if self._matched == f.outage_after:
                    self._outage_until = time.monotonic() + f.outage_seconds
            if time.monotonic() < self._outage_until:
                self.counts.refused_in_outage += 1
                return "outage"
            if method not in f.methods:
                return None
            for kind, share in (
                ("reset", f.reset_mid_upload if has_body else 0.0),
                ("slow_down", f.slow_down),
                ("internal_error", f.internal_error),
                ("slow", f.slow),
            ):
                if share and self.random.random() < share:
                    return kind
        return None

    async def _client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        self._tasks.add(task)
        try:
            await self._serve(reader, writer)
        finally:
            self._tasks.discard(task)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if self.in_outage():
            self._reset(writer)
            return
        async with self._slots:
            upstream: tuple[asyncio.StreamReader, asyncio.StreamWriter] | None = None
            try:
                while True:
                    head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), self.idle_seconds)
                    method, target, headers = _parse_head(head)
                    length = int(headers.get("content-length", "0") or 0)
                    if length > self.max_body_bytes or "chunked" in headers.get("transfer-encoding", ""):
                        await _answer(writer, 413, "EntityTooLarge", "the test proxy takes bodies up to its bound")
                        return
                    fault = self._draw(method, target, length > 0)
                    if fault == "outage":
                        self._reset(writer)
                        return
                    if headers.get("expect", "").lower() == "100-continue":
                        writer.write(b"HTTP/1.1 100 Continue\r\n\r\n")
                    if fault == "reset":
                        await reader.readexactly(length // 2)
                        self.counts.resets += 1
                        self._reset(writer)
                        return
                    body = await reader.readexactly(length) if length else b""
                    if fault in ("slow_down", "internal_error"):
                        setattr(self.counts, fault, getattr(self.counts, fault) + 1)
                        await _answer(writer, *_ERRORS[fault])
                        continue
                    if fault == "slow":
                        self.counts.slowed += 1
                        await asyncio.sleep(self.faults.slow_seconds)
                    if upstream is None:
                        upstream = await asyncio.open_connection(*self.upstream)
                    if not await self._forward(upstream, writer, method, target, headers, head, body):
                        upstream[1].close()
                        upstream = None
            except (asyncio.IncompleteReadError, asyncio.TimeoutError, ConnectionError, asyncio.LimitOverrunError):
                pass
            finally:
                if upstream is not None:
                    upstream[1].close()
                if not writer.is_closing():
                    writer.close()

    async def _forward(self, upstream, writer, method, target, headers, head: bytes, body: bytes) -> bool:
        """Forward one request and its answer; whether the upstream connection stays open."""
        up_reader, up_writer = upstream
        lines = head.split(b"\r\n")
        kept = [lines[0]] + [
            line for line in lines[1:] if line and line.split(b":", 1)[0].strip().lower().decode() not in HOP_BY_HOP
        ]
        up_writer.write(b"\r\n".join(kept) + b"\r\n\r\n" + body)
        await up_writer.drain()
        status_head = await up_reader.readuntil(b"\r\n\r\n")
        _, _, response_headers = _parse_head(status_head, response=True)
        status = int(status_head.split(b" ", 2)[1])
        if method == "HEAD" or status in (204, 304) or 100 <= status < 200:
            payload = b""
        elif "chunked" in response_headers.get("transfer-encoding", ""):
            payload = await _read_chunked(up_reader)
        elif "content-length" in response_headers:
            payload = await up_reader.readexactly(int(response_headers["content-length"]))
        else:
            payload = await up_reader.read()
        out = [status_head.split(b"\r\n")[0]]
        for line in status_head.split(b"\r\n")[1:]:
            if line and line.split(b":", 1)[0].strip().lower().decode() not in HOP_BY_HOP | {"content-length"}:
                out.append(line)
        length = response_headers.get("content-length") if method == "HEAD" else str(len(payload))
        if length is not None:
            out.append(f"Content-Length: {length}".encode())
        writer.write(b"\r\n".join(out) + b"\r\n\r\n" + payload)
        await writer.drain()
        with self._lock:
            self.counts.forwarded += 1
        return response_headers.get("connection", "").lower() != "close"

    @staticmethod
    def _reset(writer: asyncio.StreamWriter) -> None:
        """Close with an RST, as a dropped connection does (not an orderly FIN)."""
        sock = writer.get_extra_info("socket")
        if sock is not None:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        writer.transport.abort()


_ERRORS = {
    "slow_down": (503, "SlowDown", "Please reduce your request rate."),
    "internal_error": (500, "InternalError", "We encountered an internal error. Please try again."),
}


def _parse_head(head: bytes, response: bool = False) -> tuple[str, str, dict[str, str]]:
    lines = head.decode("latin-1").split("\r\n")
    first = lines[0].split(" ")
    headers = {}
    for line in lines[1:]:
        if ":" in line:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
    if response:
        return "", "", headers
    return first[0], first[1] if len(first) > 1 else "", headers


async def _answer(writer: asyncio.StreamWriter, status: int, code: str, message: str) -> None:
    payload = (
        f'<?xml version="1.0" encoding="UTF-8"?><Error><Code>{code}</Code>'
        f"<Message>{message}</Message><RequestId>etl3-fault-proxy</RequestId></Error>"
    ).encode()
    reason = {503: "Slow Down", 500: "Internal Server Error", 413: "Request Entity Too Large"}[status]
    writer.write(
        f"HTTP/1.1 {status} {reason}\r\nContent-Type: application/xml\r\nContent-Length: {len(payload)}\r\n\r\n".encode()
        + payload
    )
    await writer.drain()


async def _read_chunked(reader: asyncio.StreamReader) -> bytes:
    parts = []
    while True:
        size = int((await reader.readuntil(b"\r\n")).split(b";")[0].strip(), 16)
        if size == 0:
            while (await reader.readuntil(b"\r\n")) != b"\r\n":  # trailers
                pass
            return b"".join(parts)
        parts.append(await reader.readexactly(size))
        await reader.readexactly(2)
