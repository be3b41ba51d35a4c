"""GET /orders/<pk>/panel/stream/: the live panel pushed as server-sent events (docs/live-panel.md).

The same access rule as the polled panel (login, `orders.view_order`, 403
before 404). Events: `event: panel`, `id:` the panel's version, the fragment
as `data:` lines; a `: keep-alive` comment every ~15 s. A page's
Last-Event-ID header (or `?last-event-id=`, for the first connection, which
cannot send headers) names the version it shows: that version is not sent
again. Only an ASGI server streams; under WSGI (runserver, a gthread
gunicorn) the answer is 204, which tells EventSource not to reconnect, and
the page keeps polling.
"""
from __future__ import annotations

from asgiref.sync import sync_to_async
from django.conf import settings
from django.core.exceptions import PermissionDenied
from django.core.handlers.asgi import ASGIRequest
from django.db import connections
from django.http import Http404, HttpRequest, HttpResponse, StreamingHttpResponse
from django.views.decorators.http import require_GET

from orders.live import loop as live_loop
from orders.live.hub import Hub, StreamRefused
from orders.live.streams import Stream
from orders.models import Order
from orders.selectors import order_for_panel
from orders.views import live_feed
from orders.views.panel import panel_fragment, panel_state

_loop: live_loop.HubLoop | None = None


def hub_loop() -> live_loop.HubLoop:
    global _loop
    if _loop is None:
        _loop = live_loop.HubLoop(live_feed.hub())
    return _loop


class EventStreamResponse(StreamingHttpResponse):
    """An event stream that leaves the hub when the server closes it, however it ended."""

    def __init__(self, events, *, hub: Hub, stream: Stream) -> None:
        super().__init__(events, content_type="text/event-stream")
        self["Cache-Control"] = "no-cache"
        self["X-Accel-Buffering"] = "no"  # nginx and others: pass each event on at once
        self._hub, self._stream = hub, stream

    def close(self) -> None:
        try:
            self._hub.remove(self._stream)
        finally:
            super().close()


@require_GET
async def order_panel_stream(request: HttpRequest, pk: int) -> HttpResponse:
    user = await request.auser()
    if not await sync_to_async(user.has_perm)("orders.view_order"):
        raise PermissionDenied
    try:
        order = await sync_to_async(order_for_panel)(pk)
    except Order.DoesNotExist as err:
        raise Http404("No such order.") from err
    if not isinstance(request, ASGIRequest):
        return HttpResponse(status=204)  # no streams under WSGI: the page polls
    request.user = user
    shown = live_loop.shown_version(request.headers.get("Last-Event-ID") or request.GET.get("last-event-id"))
    stream = Stream(order_id=order.pk, session_key=request.COOKIES.get(settings.SESSION_COOKIE_NAME, ""), user_id=user.pk,
                    context=request, version=shown)
    hub = live_feed.hub()
    try:
        hub.check_room(stream.session_key)  # before any work: a flood of streams from one session costs nothing
    except StreamRefused as refused:
        return _refused(refused)
    # The request's connection goes back now; the first panel is rendered on the hub's threads (a few per
    # process), so a burst of opening streams (every page reconnecting after a deploy) queues there.
    await sync_to_async(_release_connections)()
    first, final = await hub_loop().run(lambda: _first_event(request, order, stream))
    if not stream.access_stamp:
        return HttpResponse(status=204)  # no session row the stream could keep checking: the page polls
    if final:
        if not first:
            return HttpResponse(status=204)  # the page shows the order's last panel: nothing will come
        return EventStreamResponse(_once(first), hub=hub, stream=stream)
    wake = live_loop.connect(stream)
    try:
        hub.add(stream)
    except StreamRefused as refused:  # others of the session opened meanwhile
        return _refused(refused)
    hub_loop().ensure_running()
    return EventStreamResponse(live_loop.events(hub, stream, wake, first), hub=hub, stream=stream)


def _refused(refused: StreamRefused) -> HttpResponse:
    response = HttpResponse(str(refused), status=429, content_type="text/plain")
    response["Retry-After"] = "60"
    return response


def _first_event(request: HttpRequest, order: Order, stream: Stream) -> tuple[str, bool]:
    """The panel event for a page that shows another version ("" when it shows this one), and whether it is final."""
    stream.access_stamp = live_feed.check_access(stream) or ""
    state = panel_state(request, order)
    final = state["live"].is_terminal
    if state["panel_version"] == stream.version:
        return "", final
    stream.version = state["panel_version"]
    return live_loop.panel_event(stream.version, panel_fragment(request, state)), final


def _release_connections() -> None:
    """Give back this request's database connections now: the stream lasts for minutes and reads nothing more
    in this thread (the hub reads for it on its own). Kept, they would be one idle connection per open page."""
    for conn in connections.all(initialized_only=True):
        if not conn.in_atomic_block:  # a test's transaction, never a request's here
            conn.close()


async def _once(first: str):
    yield live_loop.OPENED + first
