"""The live panel's hub (orders/live/hub.py): when an order's workflow is asked, what each open page is sent, and
when a stream ends. Real stamps, real panels, real sessions; the workflow is the recording fake."""
from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import pytest
from django.contrib.auth.models import Group, Permission
from django.contrib.sessions.models import Session
from django.core.cache import cache
from django.test import Client, RequestFactory
from django.utils import timezone

from approvals.models import ApprovalDecision
from orders import roles
from orders.live import loop as live_loop
from orders.live.hub import Hub, StreamRefused, Timing, close_every_stream
from orders.live.streams import Stream
from orders.models import Order, OrderEvent
from orders.timeline.mirror import mirror_snapshot
from orders.views import live_feed
from temporal_bridge.order import states

pytestmark = pytest.mark.django_db

TIMING = Timing(tick=0.5, settle=1.0, moving=3.0, waiting=30.0, fallback=5.0, access=5.0, heartbeat=15.0, slow_client=30.0,
                max_life=1800.0)


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture(autouse=True)
def no_snapshot_cache(settings):
    cache.clear()
    settings.ORDER_SNAPSHOT_CACHE_SECONDS = 0
    yield
    cache.clear()


@pytest.fixture
def clock():
    return Clock()


@pytest.fixture
def hub(clock):
    return Hub(read_stamps=live_feed.stamps.order_stamps, refresh=live_feed.refresh, render=live_feed.render,
               check_access=live_feed.check_access, standing_sessions=live_feed.stamps.standing_sessions, clock=clock,
               timing=TIMING, per_session=3, per_process=50)


def open_stream(hub: Hub, user, order, *, version: str = "") -> Stream:
    """A stream as the endpoint opens it: the user's session in the database, the request it came with."""
    client = Client()
    client.force_login(user)
    session_key = client.session.session_key
    request = RequestFactory().get(f"/orders/{order.pk}/panel/stream/")
    request.user = user
    request.COOKIES["sessionid"] = session_key
    request.session = client.session
    stream = Stream(order_id=order.pk, session_key=session_key, user_id=user.pk, context=request, version=version)
    stream.access_stamp = live_feed.check_access(stream) or ""
    hub.add(stream)
    return stream


def moving(order_id: int, step: str):
    """The workflow's answer: the order mid-way through processing, on `step` (no desk write says so)."""
    return replace(mirror_snapshot(Order.objects.get(pk=order_id)), state=states.PROCESSING, step=step, allowed_actions=[])


def test_a_changed_stamp_asks_the_workflow_once_for_every_page_watching_the_order(hub, clock, make_order, manager, clerk,
                                                                                  fake_temporal):
    order = make_order()
    streams = [open_stream(hub, manager, order), open_stream(hub, manager, order), open_stream(hub, clerk, order)]
    hub.tick()  # the baseline stamp: nothing asked yet (the pages were just rendered)
    assert fake_temporal.queries == []

    OrderEvent.objects.create(order=order, kind=OrderEvent.Kind.UPDATE, message="Manager looked", actor="manager",
                              idempotency_key="live-1", status=order.status)
    clock.now += 0.5
    hub.tick()

    assert fake_temporal.queries == [order.pk]  # one query, three pages
    sent = [stream.take() for stream in streams]
    assert all(sent), "each page is sent the panel it does not show yet"
    manager_version, manager_html = sent[0]
    clerk_version, clerk_html = sent[2]
    assert sent[1][0] == manager_version  # the same user: the same panel
    assert clerk_version != manager_version  # each user sees their own actions
    assert "Approve" in manager_html and "Approve" not in clerk_html


def test_a_page_is_sent_only_panels_it_does_not_show(hub, clock, make_order, manager, fake_temporal):
    order = make_order()
    stream = open_stream(hub, manager, order)
    hub.tick()
    clock.now += 1.0
    hub.tick()  # the settle look after opening
    first = stream.take()
    assert first is not None  # the page had sent no version: it gets the current one
    stream.sent()

    clock.now += 0.5
    OrderEvent.objects.create(order=order, kind=OrderEvent.Kind.UPDATE, message="seen", actor="manager",
                              idempotency_key="live-2", status=order.status)
    fake_temporal.queries.clear()
    hub.tick()
    assert fake_temporal.queries == [order.pk]
    entry_shown = stream.take()
    assert entry_shown is not None and entry_shown[0] != first[0]  # the new timeline entry is news
    stream.sent()

    clock.now += 1.0
    hub.tick()  # the settle look: the workflow answers what the page now shows
    assert fake_temporal.queries == [order.pk, order.pk]
    assert stream.take() is None


def test_a_moving_order_is_asked_again_after_the_settle_and_the_safety_periods_and_a_waiting_one_rarely(
        hub, clock, make_order, manager, fake_temporal):
    moving_order = make_order(status=states.PROCESSING)
    waiting_order = make_order()
    steps = {moving_order.pk: "Reserving stock"}
    fake_temporal.snapshot = lambda pk: moving(pk, steps[pk]) if pk == moving_order.pk else mirror_snapshot(
        type(waiting_order).objects.get(pk=pk))
    watching_moving = open_stream(hub, manager, moving_order)
    open_stream(hub, manager, waiting_order)

    hub.tick()
    clock.now += 1.0
    hub.tick()  # the settle look after opening: both asked once
    assert sorted(fake_temporal.queries) == sorted([moving_order.pk, waiting_order.pk])
    watching_moving.take()
    fake_temporal.queries.clear()

    steps[moving_order.pk] = "Charging payment"  # the workflow moved on; no row says so
    for _ in range(5):  # 2.5 s: within the moving period
        clock.now += 0.5
        hub.tick()
    assert fake_temporal.queries == []
    clock.now += 0.5
    hub.tick()  # 3 s: the safety look at the moving order
    assert fake_temporal.queries == [moving_order.pk]
    version, html = watching_moving.take()
    assert "Charging payment" in html

    fake_temporal.queries.clear()
    for _ in range(54):  # 27 s more: the waiting order's 30 s are up, the moving one was looked at every 3 s
        clock.now += 0.5
        hub.tick()
    assert fake_temporal.queries.count(waiting_order.pk) == 1
    assert 8 <= fake_temporal.queries.count(moving_order.pk) <= 9


def test_a_change_is_followed_by_a_settle_look_one_second_later(hub, clock, make_order, manager, fake_temporal):
    order = make_order()
    open_stream(hub, manager, order)
    hub.tick()
    clock.now += 1.0
    hub.tick()
    fake_temporal.queries.clear()

    ApprovalDecision.objects.create(order=order, approver=manager, approver_username=manager.username, decision="approve",
                                    request_id="r-1")
    clock.now += 0.5
    hub.tick()
    clock.now += 0.5
    hub.tick()
    assert fake_temporal.queries == [order.pk]
    clock.now += 0.5
    hub.tick()  # a second after the change: the workflow has taken it in, whatever it did with it
    assert fake_temporal.queries == [order.pk, order.pk]


def test_a_logged_out_session_ends_its_streams_at_the_next_tick_and_only_its_own(hub, clock, make_order, manager,
                                                                                  fake_temporal):
    order = make_order()
    stream, other = open_stream(hub, manager, order), open_stream(hub, manager, order)
    hub.tick()
    assert not stream.closed
    Session.objects.filter(session_key=stream.session_key).delete()  # logout, in whichever web process
    clock.now += TIMING.tick  # long before the next access check
    hub.tick()
    assert stream.closed and not other.closed and hub.stream_count() == 1


def test_an_expired_session_ends_its_stream_at_the_next_tick(hub, clock, make_order, manager, fake_temporal):
    stream = open_stream(hub, manager, make_order())
    Session.objects.filter(session_key=stream.session_key).update(expire_date=timezone.now() - timedelta(seconds=1))
    clock.now += TIMING.tick
    hub.tick()
    assert stream.closed and hub.stream_count() == 0


def test_a_user_who_loses_the_right_to_view_orders_loses_the_stream(hub, clock, make_order, auditor, fake_temporal):
    order = make_order()
    stream = open_stream(hub, auditor, order)
    other = open_stream(hub, auditor, order)
    view = Permission.objects.get(codename="view_order", content_type__app_label="orders")
    for group in auditor.groups.all():
        group.permissions.remove(view)
    auditor.user_permissions.remove(view)
    clock.now += 5.0
    hub.tick()
    assert stream.closed and other.closed
    assert hub.watched == {}


def test_a_user_given_a_new_right_sees_it_on_the_open_page(hub, clock, make_order, auditor, fake_temporal):
    order = make_order()
    stream = open_stream(hub, auditor, order)
    hub.tick()
    clock.now += 1.0
    hub.tick()
    before = stream.take()
    stream.sent()
    assert before is not None and "Cancel order" not in before[1]
    auditor.groups.add(Group.objects.get(name=roles.MANAGERS))
    clock.now += 4.0
    hub.tick()
    after = stream.take()
    assert after is not None and "Approve" in after[1]


def test_a_final_order_pushes_its_last_panel_and_closes_its_streams(hub, clock, make_order, manager, fake_temporal):
    order = make_order()
    stream = open_stream(hub, manager, order)
    hub.tick()
    order.status = states.REJECTED
    order.save()
    clock.now += 0.5
    hub.tick()
    version, html = stream.take()
    assert "Rejected" in html
    assert stream.closed and hub.watched == {}


def test_a_final_row_is_read_from_the_mirror_alone_and_a_row_that_is_not_final_is_left_to_the_workflow(
        make_order, fake_temporal):
    order = make_order(status=states.PROCESSING)
    assert live_feed.refresh_final(order.pk) is None
    order.status = states.FULFILLED
    order.save()
    final = live_feed.refresh_final(order.pk)
    assert final is not None and final.final and final.state == states.FULFILLED
    assert fake_temporal.queries == []  # the workflow was not asked
    assert live_feed.refresh_final(987654) is None


def test_a_deleted_order_ends_its_streams(hub, clock, make_order, manager, fake_temporal):
    order = make_order()
    stream = open_stream(hub, manager, order)
    hub.tick()
    order.delete()
    clock.now += 0.5
    hub.tick()
    assert stream.closed and hub.watched == {}


def test_a_client_that_does_not_read_is_dropped(hub, clock, make_order, manager, fake_temporal):
    order = make_order()
    stream = open_stream(hub, manager, order)
    aborted = []
    stream.abort = lambda: aborted.append(True)
    stream.offer("a" * 24, "<section></section>", clock.now)  # never taken
    clock.now += 29.0
    hub.tick()
    assert not stream.closed
    clock.now += 1.0
    hub.tick()
    assert stream.closed and aborted == [True]


def test_one_session_may_open_only_so_many_streams(hub, make_order, manager, fake_temporal):
    order = make_order()
    first = open_stream(hub, manager, order)
    for _ in range(2):
        hub.add(Stream(order_id=order.pk, session_key=first.session_key, user_id=manager.pk, context=first.context))
    with pytest.raises(StreamRefused):
        hub.add(Stream(order_id=order.pk, session_key=first.session_key, user_id=manager.pk, context=first.context))
    open_stream(hub, manager, order)  # another session is not counted against this one


def test_a_stream_is_closed_at_its_age_limit_so_that_the_browser_reconnects(hub, clock, make_order, manager, fake_temporal):
    order = make_order()
    stream = open_stream(hub, manager, order)
    clock.now += 1800.0
    hub.tick()
    assert stream.closed == "the stream reached its age limit"


def test_a_workflow_that_does_not_answer_is_asked_again_at_the_fallback_pace(hub, clock, make_order, manager, fake_temporal):
    order = make_order(status=states.PROCESSING)
    stream = open_stream(hub, manager, order)
    fake_temporal.unavailable = True
    hub.tick()
    clock.now += 1.0
    hub.tick()
    asked = len(fake_temporal.queries) + len(fake_temporal.describes)  # a describe first, once it failed
    panel = stream.take()
    assert panel is not None and "from the database" in panel[1]
    clock.now += 4.5
    hub.tick()
    assert len(fake_temporal.queries) + len(fake_temporal.describes) == asked
    clock.now += 0.5
    hub.tick()
    assert len(fake_temporal.queries) + len(fake_temporal.describes) > asked


def test_stamps_change_with_each_row_the_panel_follows(make_order, manager):
    order, other = make_order(), make_order()
    before = live_feed.stamps.order_stamps([order.pk, other.pk])
    assert set(before) == {order.pk, other.pk}
    OrderEvent.objects.create(order=order, kind=OrderEvent.Kind.UPDATE, message="x", actor="manager",
                              idempotency_key="live-3", status=order.status)
    after_event = live_feed.stamps.order_stamps([order.pk, other.pk])
    assert after_event[order.pk] != before[order.pk] and after_event[other.pk] == before[other.pk]
    ApprovalDecision.objects.create(order=order, approver=manager, approver_username=manager.username, decision="approve",
                                    request_id="r-2")
    after_decision = live_feed.stamps.order_stamps([order.pk])
    assert after_decision[order.pk] != after_event[order.pk]
    order.priority = "urgent"
    order.updated_at = timezone.now()
    order.save()
    assert live_feed.stamps.order_stamps([order.pk])[order.pk] != after_decision[order.pk]
    assert live_feed.stamps.order_stamps([987654]) == {}


def test_the_event_format_and_a_malformed_last_event_id():
    assert live_loop.panel_event("0" * 24, "<p>\none</p>\r\n") == f"event: panel\nid: {'0' * 24}\ndata: <p>\ndata: one</p>\n\n"
    assert live_loop.shown_version("ab" * 12) == "ab" * 12
    for malformed in (None, "", "x" * 24, "ab" * 13, "0" * 23 + "\n", "../../etc", "0" * 24 + "\r\nevent: panel"):
        assert live_loop.shown_version(malformed) == ""


def test_a_stopping_server_ends_every_open_stream(hub, make_order, manager, clerk, fake_temporal):
    order, other = make_order(), make_order()
    streams = [open_stream(hub, manager, order), open_stream(hub, clerk, other)]
    close_every_stream("the server is stopping")
    assert [stream.closed for stream in streams] == ["the server is stopping"] * 2
    assert hub.stream_count() == 0
