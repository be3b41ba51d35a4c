"""A minimal asyncio HTTP/1.1 client with keep-alive, and a reader of server-sent
events: enough to drive the web server from the bench's one process without a
thread per simulated page."""
from __future__ import annotations

import asyncio
import secrets
import string
import time
from dataclasses import dataclass, field
from urllib.parse import urlencode


@dataclass
class Response:
    status: int
    headers: dict[str, str]
    body: bytes

    @property
    def text(self) -> str:
        return self.body.decode("utf-8", "replace")


class Connection:
    def __init__(self, host: str, port: int) -> None:
        self.host, self.port = host, port
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None

    async def request(self, method: str, path: str, headers: dict[str, str], body: bytes = b"", timeout: float = 30) -> Response:
        return await asyncio.wait_for(self._request(method, path, headers, body), timeout)

    async def _request(self, method: str, path: str, headers: dict[str, str], body: bytes) -> Response:
        for attempt in (1, 2):
            if self._writer is None:
                self._reader, self._writer = await asyncio.open_connection(self.host, self.port)
            head = [f"{method} {path} HTTP/1.1", f"Host: {self.host}:{self.port}", f"Content-Length: {len(body)}"]
            head += [f"{k}: {v}" for k, v in headers.items()]
            try:
                self._writer.write(("\r\n".join(head) + "\r\n\r\n").encode() + body)
                await self._writer.drain()
                status_line = await self._reader.readline()
                if len(status_line.split()) < 2:
                    raise ConnectionResetError(f"server closed the connection ({status_line[:40]!r})")
            except (ConnectionError, OSError):
                self.close()
                if attempt == 2:
                    raise
                continue  # a kept-alive connection the server had closed: once more on a new one
            response_headers: dict[str, str] = {}
            while True:
                line = (await self._reader.readline()).decode("latin-1").rstrip("\r\n")
                if not line:
                    break
                name, _, value = line.partition(":")
                response_headers[name.strip().lower()] = value.strip()
            length = int(response_headers.get("content-length", "0"))
            data = await self._reader.readexactly(length) if length else b""
            if response_headers.get("connection", "").lower() == "close":
                self.close()
            return Response(int(status_line.split()[1]), response_headers, data)
        raise AssertionError("unreachable")

    def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
        self._reader = self._writer = None


class Pool:
    """At most `size` kept-alive connections, shared by many simulated pages,
    as a reverse proxy in front of the app server would hold them."""

    def __init__(self, address: str, size: int) -> None:
        host, port = address.rsplit(":", 1)
        self._idle: asyncio.Queue[Connection] = asyncio.Queue()
        for _ in range(size):
            self._idle.put_nowait(Connection(host, int(port)))

    async def request(self, method: str, path: str, headers: dict[str, str], body: bytes = b"") -> Response:
        conn = await self._idle.get()
        try:
            return await conn.request(method, path, headers, body)
        except BaseException:
            conn.close()
            raise
        finally:
            self._idle.put_nowait(conn)

    def close(self) -> None:
        while not self._idle.empty():
            self._idle.get_nowait().close()


@dataclass
class Browser:
    """One logged-in user's cookies and CSRF token, as a browser would send them."""

    session_id: str
    csrf: str = field(default_factory=lambda: "".join(secrets.choice(string.ascii_letters + string.digits) for _ in range(32)))

    def headers(self, *, htmx: bool = True, extra: dict[str, str] | None = None) -> dict[str, str]:
        headers = {"Cookie": f"sessionid={self.session_id}; csrftoken={self.csrf}"}
        if htmx:
            headers["HX-Request"] = "true"
        return {**headers, **(extra or {})}

    def post_headers(self, body: dict[str, str]) -> tuple[dict[str, str], bytes]:
        headers = self.headers(extra={"X-CSRFToken": self.csrf, "Content-Type": "application/x-www-form-urlencoded"})
        return headers, urlencode(body).encode()


@dataclass
class Event:
    """One server-sent event, and when it arrived (time.time(): set beside the database's timestamps)."""

    name: str
    id: str
    data: str
    at: float


async def event_stream(address: str, path: str, headers: dict[str, str], *, connect_timeout: float = 30):
    """The events of one `text/event-stream` response, as an EventSource reads them, until the server ends it.

    Raises on an answer other than 200 text/event-stream. Reads a chunked body
    (what an ASGI server sends for a stream) or a plain one.
    """
    host, port = address.rsplit(":", 1)
    reader, writer = await asyncio.wait_for(asyncio.open_connection(host, int(port)), connect_timeout)
    try:
        head = [f"GET {path} HTTP/1.1", f"Host: {address}", "Accept: text/event-stream", "Cache-Control: no-cache"]
        head += [f"{k}: {v}" for k, v in headers.items()]
        writer.write(("\r\n".join(head) + "\r\n\r\n").encode())
        await writer.drain()
        status_line = await asyncio.wait_for(reader.readline(), connect_timeout)
        response_headers: dict[str, str] = {}
        while line := (await reader.readline()).decode("latin-1").rstrip("\r\n"):
            name, _, value = line.partition(":")
            response_headers[name.strip().lower()] = value.strip()
        parts = status_line.split()
        if len(parts) < 2 or parts[1] != b"200" or not response_headers.get("content-type", "").startswith("text/event-stream"):
            raise RuntimeError(f"stream {path} answered {status_line.decode('latin-1').strip()!r} "
                               f"({response_headers.get('content-type', 'no content type')})")
        name, event_id, data = "message", "", []
        async for line in _lines(reader, chunked="chunked" in response_headers.get("transfer-encoding", "")):
            if not line:
                if data:
                    yield Event(name, event_id, "\n".join(data), time.time())
                name, data = "message", []
                continue
            if line.startswith(":"):
                continue  # a comment: the server's keep-alive
            field_name, _, value = line.partition(":")
            value = value[1:] if value.startswith(" ") else value
            if field_name == "event":
                name = value
            elif field_name == "data":
                data.append(value)
            elif field_name == "id":
                event_id = value
    finally:
        writer.close()


async def _lines(reader: asyncio.StreamReader, *, chunked: bool):
    """The body's lines (without their ends), de-chunked."""
    buffer = b""
    while True:
        if chunked:
            size_line = await reader.readline()
            if not size_line:
                return
            size = int(size_line.split(b";")[0].strip() or b"0", 16)
            if size == 0:
                return
            piece = await reader.readexactly(size + 2)  # the chunk and its CRLF
            buffer += piece[:-2]
        else:
            piece = await reader.read(65536)
            if not piece:
                return
            buffer += piece
        *complete, buffer = buffer.split(b"\n")
        for line in complete:
            yield line.rstrip(b"\r").decode("utf-8", "replace")
