"""What the live panel's hub asks of Django: the stamps, the order's live state, a stream's panel, its access.

orders.live.hub decides when; these functions say how, with the same
selectors and panel code the polling path uses, so a pushed panel is the
panel a poll would have answered.
"""
from __future__ import annotations

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import connection

from orders.live import stamps, trace
from orders.live.hub import FALLBACK, MOVING, WAITING, Hub, Timing
from orders.live.streams import Panel, Refreshed, Stream
from orders.models import Order
from orders.selectors import order_for_panel, order_live_state
from orders.views import unchanged_poll
from orders.views.panel import POLL_WAITING, panel_fragment, panel_state, poll_interval


def refresh(order_id: int) -> Refreshed | None:
    """The order and its workflow's answer now (one query to the workflow, which refills the snapshot cache)."""
    try:
        order = order_for_panel(order_id)
    except Order.DoesNotExist:
        return None
    if not order.is_terminal:
        _return_pooled_connection()
    live = order_live_state(order, fresh=True)
    state = live.snapshot.state
    if live.is_terminal:
        return Refreshed(order, live, pace=FALLBACK, final=True, state=state)
    if live.source != "workflow":
        return Refreshed(order, live, pace=FALLBACK, final=False, state=state)
    return Refreshed(order, live, pace=WAITING if poll_interval(live) == POLL_WAITING else MOVING, final=False, state=state)


def _return_pooled_connection() -> None:
    """Give this thread's connection back to the pool before asking the workflow, which may take a second on a
    workflow that is ending or a busy worker: the hub's threads should not hold the connections requests need.
    Taken again from the pool at the next read (no new PostgreSQL connection)."""
    if connection.settings_dict.get("OPTIONS", {}).get("pool") and not connection.in_atomic_block:
        connection.close()


def refresh_final(order_id: int) -> Refreshed | None:
    """The order's last answer from its mirror, when its row is final; None otherwise. One query, no workflow.

    Asked when the order's stamp changed while its workflow is being asked: the last activity writes the
    final row a moment before the workflow's last task, and a query sent then waits about a second.
    """
    try:
        order = order_for_panel(order_id)
    except Order.DoesNotExist:
        return None
    if not order.is_terminal:
        return None
    live = order_live_state(order)  # a final row is answered from the mirror, without asking the workflow
    return Refreshed(order, live, pace=FALLBACK, final=True, state=live.snapshot.state)


def render(stream: Stream, refreshed: Refreshed) -> Panel:
    request = stream.context
    state = panel_state(request, refreshed.order, live=refreshed.live)
    return Panel(state["panel_version"], lambda: panel_fragment(request, state))


def check_access(stream: Stream) -> str | None:
    """The digest of the stream's session, user and order rows; None when the stream must end.

    One query (the unchanged poll's stamp). When it changed, the user is read
    again: a user made inactive or stripped of `orders.view_order` loses the stream.
    """
    stamp = unchanged_poll.stamp(stream.session_key, stream.user_id, stream.order_id)
    if not stamp:
        return None  # the session is gone or expired (logout), or the user or the order
    if stamp != stream.access_stamp:
        user = get_user_model().objects.filter(pk=stream.user_id).first()
        if user is None or not user.is_active or not user.has_perm("orders.view_order"):
            return None
        stream.context.user = user  # renders from now on see the user's current rights
    return stamp


def timing() -> Timing:
    return Timing(**getattr(settings, "LIVE_PANEL_TIMING", {}))


_hub: Hub | None = None


def hub() -> Hub:
    """This process's hub (one per web process)."""
    global _hub
    if _hub is None:
        _hub = Hub(read_stamps=stamps.order_stamps, refresh=refresh, refresh_final=refresh_final, render=render,
                   check_access=check_access,
                   standing_sessions=stamps.standing_sessions, timing=timing(),
                   per_session=settings.LIVE_PANEL_STREAMS_PER_SESSION, per_process=settings.LIVE_PANEL_STREAMS_PER_PROCESS,
                   trace=trace.from_environment())
    return _hub
