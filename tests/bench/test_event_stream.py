"""The bench's reader of server-sent events reads what an EventSource would, from a real socket."""
from __future__ import annotations

import asyncio

import pytest

from tools.bench.http import event_stream

pytestmark = pytest.mark.database_agnostic

BODY = (b": keep-alive\n\n"
        b"event: panel\nid: v1\ndata: <div id=\"live-panel\"\ndata:  data-state=\"approved\"></div>\n\n"
        b"data: no name\r\n\r\n"
        b"event: panel\nid: v2\ndata: second\n\n")


async def _read(chunked: bool, status: bytes = b"200 OK", content_type: bytes = b"text/event-stream") -> list:
    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        head = b"HTTP/1.1 " + status + b"\r\nContent-Type: " + content_type + b"\r\n"
        if chunked:
            writer.write(head + b"Transfer-Encoding: chunked\r\n\r\n")
            for start in range(0, len(BODY), 7):  # chunks that cut lines and events anywhere
                piece = BODY[start:start + 7]
                writer.write(f"{len(piece):x}\r\n".encode() + piece + b"\r\n")
                await writer.drain()
            writer.write(b"0\r\n\r\n")
        else:
            writer.write(head + b"\r\n" + BODY)
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(serve, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        return [event async for event in event_stream(f"127.0.0.1:{port}", "/stream/", {"Cookie": "sessionid=x"})]
    finally:
        server.close()


@pytest.mark.parametrize("chunked", [True, False])
def test_events_are_read_whole_with_their_names_ids_and_lines(chunked):
    events = asyncio.run(_read(chunked))
    assert [(e.name, e.id, e.data) for e in events] == [
        ("panel", "v1", '<div id="live-panel"\n data-state="approved"></div>'),
        ("message", "v1", "no name"),  # an event without a name is a "message"; the last id stays, as in EventSource
        ("panel", "v2", "second"),
    ]
    assert all(e.at > 0 for e in events)


@pytest.mark.parametrize("status, content_type", [(b"403 Forbidden", b"text/html"), (b"200 OK", b"text/html")])
def test_an_answer_that_is_not_a_stream_is_an_error_not_an_empty_stream(status, content_type):
    with pytest.raises(RuntimeError, match="answered"):
        asyncio.run(_read(False, status, content_type))
