"""The bench's polling pages following the panel's pace (tools/bench/web.py, poll_load), against a real socket:
a page told another pace counts what each pace asked for from the answer that named it, and says so."""
from __future__ import annotations

import asyncio
import time

import pytest

from tools.bench import web
from tools.bench.http import Browser

pytestmark = pytest.mark.database_agnostic


async def _follow(first_every: float, told: str, seconds: float, first_poll_in: float):
    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while await reader.readuntil(b"\r\n\r\n"):
            writer.write(b"HTTP/1.1 204 No Content\r\nX-Panel-Poll: " + told.encode() + b"\r\nContent-Length: 0\r\n\r\n")
            await writer.drain()

    server = await asyncio.start_server(serve, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    page = web.Page(1, every=first_every, next_at=time.monotonic() + first_poll_in)
    try:
        result = await web.poll_load(f"127.0.0.1:{port}", Browser("x"), [page], seconds=seconds, connections=1,
                                     conditional=True, follow=True)
    finally:
        server.close()
    return page, result


def test_a_page_told_a_longer_pace_asks_for_the_shorter_one_only_until_then(monkeypatch):
    # The next poll after a change of pace comes half-way into the new period (it is random in the bench).
    monkeypatch.setattr(web.random, "uniform", lambda low, high: (low + high) / 2)
    page, result = asyncio.run(_follow(0.5, "1s", seconds=2.0, first_poll_in=0.25))
    # 0.25 s at 0.5 s (half a poll asked), then 1.75 s at 1 s: polls at 0.25, 0.75 and 1.75 s.
    assert page.every == 1.0
    assert result.pace_changes == [(0.5, 1.0, 204, "")]
    assert len(result.latencies) == 3
    assert result.asked == pytest.approx(0.5 + 1.75, abs=0.1)
    assert result.asked_rps == pytest.approx(2.25 / 2.0, abs=0.05)


def test_a_page_that_keeps_its_pace_asks_for_the_window_over_its_period(monkeypatch):
    monkeypatch.setattr(web.random, "uniform", lambda low, high: (low + high) / 2)
    page, result = asyncio.run(_follow(0.5, "500ms", seconds=2.0, first_poll_in=0.1))
    assert result.pace_changes == []
    assert len(result.latencies) == 4  # at 0.1, 0.6, 1.1, 1.6 s
    assert result.asked == pytest.approx(2.0 / 0.5, abs=0.01)
