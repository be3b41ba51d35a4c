"""GET /orders/<pk>/panel/stream/ (orders/views/live_stream.py): the event stream's headers, its first event,
Last-Event-ID, the panel's access rule, the caps, and the answer that sends a page back to polling."""
from __future__ import annotations

import pytest
from asgiref.sync import async_to_sync, sync_to_async
from django.core.cache import cache
from django.test import AsyncClient, Client
from django.urls import reverse

from orders.views import live_feed, live_stream
from temporal_bridge.order import states

pytestmark = pytest.mark.django_db


class NoLoop:
    """The hub's background tick stays off: these tests look at what the endpoint itself sends.

    Its work runs in the test's thread (the hub's own threads would not see the test's transaction)."""

    def ensure_running(self) -> None:
        pass

    async def run(self, fn):
        return await sync_to_async(fn)()


@pytest.fixture(autouse=True)
def own_hub(monkeypatch, settings):
    cache.clear()
    settings.ORDER_SNAPSHOT_CACHE_SECONDS = 0
    monkeypatch.setattr(live_feed, "_hub", None)
    monkeypatch.setattr(live_stream, "hub_loop", lambda: NoLoop())
    yield
    cache.clear()


def stream_url(order_id: int) -> str:
    return reverse("orders:panel_stream", args=[order_id])


def open_stream(user, order_id: int, *, headers: dict | None = None, query: str = "", read_all: bool = False):
    """The response and what the stream sends at once (everything, for a stream that ends by itself)."""
    async def run():
        client = AsyncClient()
        await client.aforce_login(user)
        response = await client.get(stream_url(order_id) + query, headers=headers or {})
        if not response.streaming:
            return response, ""
        content = response.streaming_content
        if read_all:
            body = "".join([part.decode() async for part in content])
        else:
            body = (await anext(content)).decode()
            await content.aclose()
            response.close()  # as Django's ASGI handler does once the client is gone
            response.close()  # as Django's ASGI handler does once the client is gone
        return response, body

    return async_to_sync(run)()


def polled_version(user, order) -> str:
    client = Client()
    client.force_login(user)
    return client.get(reverse("orders:panel", args=[order.pk]), headers={"HX-Request": "true"})["X-Panel-Version"]


def test_the_stream_is_an_unbuffered_event_stream_whose_first_event_is_the_panel(make_order, manager, fake_temporal):
    order = make_order()
    response, body = open_stream(manager, order.pk)
    assert response.status_code == 200
    assert response["Content-Type"] == "text/event-stream"
    assert response["Cache-Control"] == "no-cache"
    assert response["X-Accel-Buffering"] == "no"
    lines = body.split("\n")
    assert lines[:3] == [": open", "", "event: panel"]
    version = lines[3].removeprefix("id: ")
    assert version == polled_version(manager, order)  # the version a poll of the same panel answers
    data = "\n".join(line.removeprefix("data: ") for line in lines[4:] if line.startswith("data: "))
    assert 'id="live-panel"' in data and "Approve" in data
    assert body.endswith("\n\n")
    assert live_feed.hub().stream_count() == 0  # the closed stream left the hub


def test_a_page_that_shows_the_current_version_is_not_sent_it_again(make_order, manager, fake_temporal):
    order = make_order()
    version = polled_version(manager, order)
    _, by_header = open_stream(manager, order.pk, headers={"Last-Event-ID": version})
    assert by_header == ": open\n\n"
    _, by_query = open_stream(manager, order.pk, query=f"?last-event-id={version}")  # the page's first connection
    assert by_query == ": open\n\n"
    _, other = open_stream(manager, order.pk, headers={"Last-Event-ID": "0" * 24})
    assert "event: panel" in other


@pytest.mark.parametrize("malformed", ["not-a-version", "0" * 200, "../../x", "é" * 24])
def test_a_malformed_last_event_id_gets_the_panel(make_order, manager, fake_temporal, malformed):
    order = make_order()
    response, body = open_stream(manager, order.pk, query="?last-event-id=" + malformed)
    assert response.status_code == 200 and "event: panel" in body


def test_the_stream_has_the_panels_access_rule(make_order, manager, outsider, fake_temporal):
    order = make_order()
    assert open_stream(outsider, order.pk)[0].status_code == 403
    assert open_stream(outsider, 987654)[0].status_code == 403  # no hint whether the order exists
    assert open_stream(manager, 987654)[0].status_code == 404
    anonymous = Client().get(stream_url(order.pk))
    assert anonymous.status_code == 302 and "/login/" in anonymous["Location"]
    client = Client()
    client.force_login(manager)
    assert client.post(stream_url(order.pk)).status_code == 405


@pytest.mark.parametrize("number", [2**63, 10**23])
def test_an_order_number_past_any_id_is_a_404_not_a_server_error(manager, fake_temporal, number):
    # SQLite refused the number outright (OverflowError, a 500) before the panel's selector checked its range.
    assert open_stream(manager, number)[0].status_code == 404


def test_an_auditor_may_watch_an_order_without_its_actions(make_order, auditor, fake_temporal):
    order = make_order()
    response, body = open_stream(auditor, order.pk)
    assert response.status_code == 200 and "event: panel" in body and "Approve" not in body


def test_a_server_without_streams_sends_the_page_back_to_polling(make_order, manager, fake_temporal):
    order = make_order()
    client = Client()  # WSGI, as runserver and a gthread gunicorn serve
    client.force_login(manager)
    response = client.get(stream_url(order.pk))
    assert response.status_code == 204  # EventSource stops reconnecting; the page's polls go on


def test_a_final_order_sends_its_last_panel_and_ends(make_order, manager, fake_temporal):
    order = make_order(status=states.REJECTED)
    response, body = open_stream(manager, order.pk, read_all=True)
    assert response.status_code == 200
    assert body.count("event: panel") == 1 and "Rejected" in body
    version = body.split("id: ")[1].split("\n")[0]
    shown, _ = open_stream(manager, order.pk, headers={"Last-Event-ID": version})
    assert shown.status_code == 204  # the page shows the end: the browser stops reconnecting


def test_one_session_may_hold_only_so_many_streams(make_order, manager, fake_temporal, settings):
    settings.LIVE_PANEL_STREAMS_PER_SESSION = 2
    order = make_order()

    async def run():
        client = AsyncClient()
        await client.aforce_login(manager)
        kept = [await client.get(stream_url(order.pk)) for _ in range(2)]
        fake_temporal.queries.clear()
        refused = await client.get(stream_url(order.pk))
        assert fake_temporal.queries == []  # refused before any work for it
        for response in kept:  # read, then hung up: as a server sees a page close
            content = response.streaming_content  # one reading of it (each access wraps the stream anew)
            await anext(content)
            await content.aclose()
            response.close()  # as Django's ASGI handler does once the client is gone
        after = await client.get(stream_url(order.pk))
        content = after.streaming_content
        await anext(content)
        await content.aclose()
        after.close()
        return [r.status_code for r in kept], refused, after.status_code

    kept, refused, after = async_to_sync(run)()
    assert kept == [200, 200]
    assert refused.status_code == 429 and refused["Retry-After"]
    assert after == 200  # closing a stream frees its place


def test_the_order_page_opens_the_stream_from_the_version_it_shows_and_a_final_order_none(make_order, manager, fake_temporal):
    client = Client()
    client.force_login(manager)
    order = make_order()
    page = client.get(reverse("orders:detail", args=[order.pk])).content.decode()
    version = polled_version(manager, order)
    assert f'sse-connect="{stream_url(order.pk)}?last-event-id={version}"' in page
    assert 'sse-swap="panel"' in page and 'data-live-stream="closed"' in page  # polls until the stream opens
    assert "django_htmx/ext/hx-sse-2" in page and "js/live-stream.js" in page
    assert 'hx-trigger="every' in page  # the polling fallback is still there

    final = make_order(status=states.REJECTED)
    page = client.get(reverse("orders:detail", args=[final.pk])).content.decode()
    assert "sse-connect" not in page and 'hx-trigger="every' not in page
