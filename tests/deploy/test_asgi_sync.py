"""The web process's ASGI app (config/asgi_sync.py): a synchronous view runs start to end on one of a few
long-lived threads, through the middleware the WSGI server runs, and answers as Django's ASGI handler would;
an asynchronous view (the live panel's event stream) goes to Django's ASGI handler."""
from __future__ import annotations

import asyncio
import threading

import pytest
from django.core import signals
from django.core.handlers.asgi import ASGIHandler

from config.asgi_sync import STREAM_BYTES_PER_HOP, SyncViewsOnThreads
from tests.deploy import asgi_views


@pytest.fixture(autouse=True)
def test_views(settings):
    settings.ROOT_URLCONF = "tests.deploy.asgi_views"


class RecordingASGIHandler(ASGIHandler):
    """Django's ASGI handler, noting the paths it was called for."""

    def __init__(self) -> None:
        super().__init__()
        self.paths: list[str] = []

    async def __call__(self, scope, receive, send):
        self.paths.append(scope["path"])
        await super().__call__(scope, receive, send)


def call(app, path: str, *, method: str = "GET", body_parts: tuple[bytes, ...] = (b"",), disconnect: bool = False,
         headers: dict[str, str] | None = None):
    """Status, headers (lower-case names, a list of values each) and body messages of one request to `app`
    (`headers`: the request's, the host's by default)."""
    request_headers = [(name.lower().encode(), value.encode()) for name, value in (headers or {"Host": "testserver"}).items()]
    sent: list[dict] = []
    incoming = [{"type": "http.disconnect"}] if disconnect else [
        {"type": "http.request", "body": part, "more_body": i < len(body_parts) - 1} for i, part in enumerate(body_parts)]

    async def run():
        gone = asyncio.Event()

        async def receive():
            if incoming:
                return incoming.pop(0)
            await gone.wait()  # the client stays until the answer is sent

        async def send(message):
            sent.append(message)

        scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": method, "scheme": "http",
                 "path": path, "raw_path": path.encode(), "query_string": b"", "root_path": "",
                 "client": ("127.0.0.1", 5000), "server": ("testserver", 80), "headers": request_headers}
        await app(scope, receive, send)

    asyncio.run(run())
    if not sent:
        return None, {}, []
    answered: dict[str, list[str]] = {}
    for name, value in sent[0]["headers"]:
        answered.setdefault(name.decode().lower(), []).append(value.decode())
    return sent[0]["status"], answered, [m for m in sent[1:] if m["type"] == "http.response.body"]


def body_of(messages: list[dict]) -> bytes:
    return b"".join(m.get("body", b"") for m in messages)


def test_a_synchronous_view_runs_start_to_end_on_one_of_a_few_long_lived_threads():
    app = SyncViewsOnThreads(ASGIHandler(), threads=2)
    signal_threads: list[tuple[str, str]] = []

    def started(**kwargs):
        signal_threads.append(("started", threading.current_thread().name))

    def finished(**kwargs):
        signal_threads.append(("finished", threading.current_thread().name))

    signals.request_started.connect(started)
    signals.request_finished.connect(finished)
    try:
        answers = [call(app, "/thread/") for _ in range(12)]
    finally:
        signals.request_started.disconnect(started)
        signals.request_finished.disconnect(finished)
    view_threads = {body_of(messages).decode() for _, _, messages in answers}
    assert all(status == 200 for status, _, _ in answers)
    assert 1 <= len(view_threads) <= 2 and all(name.startswith("django-sync") for name in view_threads)
    # The request's signals (a database connection is taken and given back on them) fire once each, on its thread.
    assert [kind for kind, _ in signal_threads] == ["started", "finished"] * 12
    assert {name for _, name in signal_threads} == view_threads
    assert any(cookie.startswith("seen=yes") for cookie in answers[0][1]["set-cookie"])


def test_the_answer_is_the_one_djangos_asgi_handler_gives_for_a_body_in_several_parts():
    parts = (b"a" * 40_000, b"b" * 40_000, b"c" * 30_000)
    threaded = call(SyncViewsOnThreads(ASGIHandler(), threads=2), "/echo/", method="POST", body_parts=parts)
    django = call(ASGIHandler(), "/echo/", method="POST", body_parts=parts)
    assert threaded[0] == django[0] == 200
    assert threaded[1] == django[1]
    assert body_of(threaded[2]) == body_of(django[2]) == b"".join(parts)[::-1]


def test_a_streamed_body_arrives_whole_read_a_few_blocks_per_hop():
    status, headers, messages = call(SyncViewsOnThreads(ASGIHandler(), threads=2), "/streamed/")
    assert status == 200 and headers["content-type"] == ["application/octet-stream"]
    assert body_of(messages) == asgi_views.BLOCK * asgi_views.BLOCKS
    size = len(asgi_views.BLOCK) * asgi_views.BLOCKS
    # Not one message (and one hop to the thread) per 8 KiB block; the last message ends the body.
    assert len(messages) <= size // STREAM_BYTES_PER_HOP + 2
    assert messages[-1].get("more_body", False) is False and all(m["more_body"] for m in messages[:-1])


def test_a_failing_view_answers_the_500_page():
    status, _, messages = call(SyncViewsOnThreads(ASGIHandler(), threads=2), "/broken/")
    assert status == 500
    assert b"Server Error" in body_of(messages)


def test_an_unknown_path_is_djangos_404_from_the_threads():
    django = RecordingASGIHandler()
    status, _, _ = call(SyncViewsOnThreads(django, threads=2), "/no-such-page/")
    assert status == 404
    assert django.paths == []


def test_an_asynchronous_view_goes_to_djangos_asgi_handler():
    django = RecordingASGIHandler()
    app = SyncViewsOnThreads(django, threads=2)
    status, _, messages = call(app, "/async/")
    assert status == 200 and not body_of(messages).startswith(b"django-sync")
    call(app, "/thread/")
    assert django.paths == ["/async/"]


def test_the_event_stream_goes_to_djangos_asgi_handler_and_the_panel_to_the_threads():
    django = RecordingASGIHandler()
    app = SyncViewsOnThreads(django, threads=2)
    assert app._view_is_async({"path": "/orders/5/panel/stream/"})
    assert not app._view_is_async({"path": "/orders/5/panel/"})
    assert not app._view_is_async({"path": "/desk/orders/5/panel/", "root_path": "/desk"})
    assert app._view_is_async({"path": "/desk/orders/5/panel/stream/", "root_path": "/desk"})


def test_a_client_gone_before_its_body_arrived_gets_nothing_and_runs_no_view():
    ran: list[str] = []
    signals.request_started.connect(lambda **kwargs: ran.append("started"), weak=False, dispatch_uid="gone")
    try:
        status, _, messages = call(SyncViewsOnThreads(ASGIHandler(), threads=2), "/thread/", disconnect=True)
    finally:
        signals.request_started.disconnect(dispatch_uid="gone")
    assert status is None and messages == [] and ran == []
