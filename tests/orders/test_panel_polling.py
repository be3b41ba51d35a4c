"""The polled live panel at scale: a shared snapshot cache, 204 for unchanged
panels, and a small query budget per poll (see docs/benchmarks.md for the figures)."""
from __future__ import annotations

import re
import time
from dataclasses import replace

import pytest
from django.contrib.sessions.models import Session
from django.core.cache import cache
from django.core.cache.backends import base, locmem
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from approvals.models import ApprovalDecision
from orders.models import Order
from orders.timeline.mirror import mirror_snapshot
from temporal_bridge.client import queue_health
from temporal_bridge.client.bridge import TemporalUnavailable
from temporal_bridge.order import messages as m
from temporal_bridge.order import states
from temporal_bridge.order.records import TimelineEntry

pytestmark = pytest.mark.django_db

HTMX = {"HX-Request": "true"}


@pytest.fixture(autouse=True)
def empty_cache():
    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def snapshot_cache(settings):
    settings.ORDER_SNAPSHOT_CACHE_SECONDS = 30


def url(name: str, order: Order) -> str:
    return reverse(f"orders:{name}", args=[order.pk])


def as_user(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def version_of(html: str) -> str:
    match = re.search(r'hx-headers=\'\{"X-Panel-Version": "([0-9a-f]+)"\}\'', html)
    assert match, "the polling panel carries its version"
    return match.group(1)


def poll(client: Client, order: Order, version: str = ""):
    headers = {**HTMX, **({"X-Panel-Version": version} if version else {})}
    return client.get(url("panel", order), headers=headers)


def test_unchanged_panel_answers_204_with_no_body(clerk, fake_temporal, make_order):
    order = make_order(status=states.FULFILLING)
    client = as_user(clerk)
    first = poll(client, order)
    assert first.status_code == 200
    version = version_of(first.content.decode())

    again = poll(client, order, version)
    assert again.status_code == 204
    assert again.content == b""
    assert again["X-Panel-Version"] == version


def test_changed_progress_answers_the_new_fragment_and_version(clerk, fake_temporal, make_order):
    order = make_order(status=states.FULFILLING)
    fake_temporal.snapshot = replace(mirror_snapshot(order), progress=20)
    client = as_user(clerk)
    version = version_of(poll(client, order).content.decode())

    fake_temporal.snapshot = replace(mirror_snapshot(order), progress=60)
    response = poll(client, order, version)
    html = response.content.decode()
    assert response.status_code == 200
    assert 'value="60"' in html
    assert version_of(html) != version


def test_a_version_seen_by_one_user_does_not_hide_another_users_buttons(clerk, manager, fake_temporal, make_order):
    order = make_order()
    clerk_version = version_of(poll(as_user(clerk), order).content.decode())
    response = poll(as_user(manager), order, clerk_version)
    assert response.status_code == 200
    assert ">Approve</button>" in response.content.decode()


def test_a_full_page_poll_without_a_version_gets_the_fragment(clerk, fake_temporal, make_order):
    order = make_order(status=states.PROCESSING)
    assert poll(as_user(clerk), order, "").status_code == 200


def test_pages_of_one_order_share_one_workflow_query_within_the_cache_period(
    snapshot_cache, clerk, manager, manager2, fake_temporal, make_order,
):
    order = make_order(status=states.FULFILLING)
    for user in (clerk, manager, manager2, clerk):
        assert poll(as_user(user), order).status_code == 200
    assert fake_temporal.queries == [order.pk]


class CacheClock:
    """The cache's clock, moved by the test (the locmem cache reads time.time())."""

    def __init__(self) -> None:
        self.now = time.time()

    def time(self) -> float:
        return self.now


def test_the_cached_snapshot_is_refreshed_once_its_period_is_over(settings, monkeypatch, clerk, fake_temporal, make_order):
    clock = CacheClock()
    monkeypatch.setattr(locmem, "time", clock)
    monkeypatch.setattr(base, "time", clock)
    settings.ORDER_SNAPSHOT_CACHE_SECONDS = 1.0
    order = make_order(status=states.FULFILLING)
    fake_temporal.snapshot = replace(mirror_snapshot(order), progress=20)
    client = as_user(clerk)
    poll(client, order)
    fake_temporal.snapshot = replace(mirror_snapshot(order), progress=70)
    clock.now += 0.9
    assert 'value="20"' in poll(client, order).content.decode()  # still the cached one

    clock.now += 0.2
    assert 'value="70"' in poll(client, order).content.decode()
    assert fake_temporal.queries == [order.pk, order.pk]


def test_an_action_answers_with_the_workflows_new_state_not_the_cached_one(
    snapshot_cache, clerk, manager, fake_temporal, make_order,
):
    order = make_order()
    assert 'data-state="pending_approval"' in poll(as_user(clerk), order).content.decode()
    # The workflow takes the approval as the signal arrives.
    fake_temporal.snapshot = replace(mirror_snapshot(order), state=states.APPROVED, allowed_actions=[m.ACTION_CANCEL, m.ACTION_UPDATE])

    response = as_user(manager).post(url("approve", order), {"request_id": "req-after-cache-1"}, headers=HTMX)
    assert response.status_code == 200
    assert 'data-state="approved"' in response.content.decode()
    # Everyone else polling the order sees it too, not the snapshot cached before.
    assert 'data-state="approved"' in poll(as_user(clerk), order).content.decode()


def test_a_poll_costs_a_handful_of_queries(clerk, fake_temporal, make_order, django_assert_max_num_queries):
    """Session, user, permissions (one query) and the order itself; no order lines, no per-poll counts."""
    order = make_order(status=states.FULFILLING)
    fake_temporal.snapshot = mirror_snapshot(order)  # answered without touching the database
    client = as_user(clerk)
    poll(client, order)
    with django_assert_max_num_queries(4):
        assert poll(client, order).status_code == 200


def test_a_managers_poll_does_not_count_the_approval_inbox(manager, fake_temporal, make_order):
    """The nav badge's count is for full pages; the polled fragment has no nav."""
    order = make_order()
    fake_temporal.snapshot = mirror_snapshot(order)
    client = as_user(manager)
    with CaptureQueriesContext(connection) as ctx:
        assert poll(client, order).status_code == 200
    assert not [q for q in ctx.captured_queries if "COUNT(" in q["sql"].upper()]
    # The full page still shows it.
    make_order()
    assert 'class="badge"' in client.get(url("detail", order)).content.decode()


# --- An unchanged poll costs almost nothing ----------------------------------------------


def sql_of(request_fn):
    """The SQL statements one request runs, and its answer."""
    statements: list[str] = []

    def record(execute, sql, params, many, context):
        statements.append(sql)
        return execute(sql, params, many, context)

    with connection.execute_wrapper(record):
        response = request_fn()
    return statements, response


def test_an_unchanged_poll_writes_nothing_sets_no_cookie_and_renders_no_template(clerk, fake_temporal, make_order):
    order = make_order(status=states.FULFILLING)
    fake_temporal.snapshot = mirror_snapshot(order)  # answered without touching the database
    client = as_user(clerk)
    version = version_of(poll(client, order).content.decode())
    session_before = Session.objects.values_list("session_key", "session_data", "expire_date").get()

    statements, response = sql_of(lambda: poll(client, order, version))
    assert response.status_code == 204
    assert not [s for s in statements if s.lstrip().upper().startswith(("INSERT", "UPDATE", "DELETE"))]
    # Session, user, permissions (one query for the user's and their groups'), the order.
    assert len(statements) == 4, statements
    assert not response.cookies  # no session save, no CSRF cookie rotation, no messages cookie
    assert response.templates == []  # no template, hence no context processors
    assert Session.objects.values_list("session_key", "session_data", "expire_date").get() == session_before


def test_a_poll_from_a_user_who_lost_the_permission_is_refused_even_with_a_current_version(clerk, fake_temporal, make_order):
    order = make_order(status=states.FULFILLING)
    client = as_user(clerk)
    version = version_of(poll(client, order).content.decode())
    clerk.groups.clear()
    assert poll(client, order, version).status_code == 403


def test_a_logged_out_poll_is_sent_to_the_login_page(clerk, fake_temporal, make_order):
    order = make_order(status=states.FULFILLING)
    client = as_user(clerk)
    version = version_of(poll(client, order).content.decode())
    client.logout()
    response = poll(client, order, version)
    assert response.status_code == 302 and "/login" in response["Location"]


def test_a_decision_recorded_by_another_page_changes_the_managers_panel_not_a_204(manager, fake_temporal, make_order):
    """The workflow's snapshot is the same; the buttons this manager may use are not."""
    order = make_order()
    client = as_user(manager)
    first = poll(client, order)
    assert ">Approve</button>" in first.content.decode()
    ApprovalDecision.objects.create(order=order, approver=manager, approver_username=manager.username, decision="approve",
                                    request_id="req-elsewhere-1")
    response = poll(client, order, version_of(first.content.decode()))
    assert response.status_code == 200
    assert ">Approve</button>" not in response.content.decode()


def test_workflow_progress_with_no_database_write_is_seen_once_the_cache_period_ends(
    settings, monkeypatch, clerk, fake_temporal, make_order,
):
    """The mirror may record a step later than the workflow takes it: the poll asks the workflow, not the row's updated_at."""
    clock = CacheClock()
    monkeypatch.setattr(locmem, "time", clock)
    monkeypatch.setattr(base, "time", clock)
    settings.ORDER_SNAPSHOT_CACHE_SECONDS = 1.0
    order = make_order(status=states.PROCESSING)
    fake_temporal.snapshot = replace(mirror_snapshot(order), step="Reserving stock")
    client = as_user(clerk)
    version = version_of(poll(client, order).content.decode())
    updated_at = Order.objects.get(pk=order.pk).updated_at

    fake_temporal.snapshot = replace(mirror_snapshot(order), step="Charging payment",
                                     timeline=[TimelineEntry("2026-01-01T00:00:00+00:00", "step", "Stock reserved", "")])
    assert poll(client, order, version).status_code == 204  # within the cache period: the page may lag by up to 1 s
    clock.now += 1.1
    response = poll(client, order, version)
    assert response.status_code == 200
    assert "Charging payment" in response.content.decode() and "Stock reserved" in response.content.decode()
    assert Order.objects.get(pk=order.pk).updated_at == updated_at


# --- How often a page polls ---------------------------------------------------------------


def trigger_of(html: str) -> str | None:
    match = re.search(r'hx-trigger="every ([0-9a-z]+)"', html)
    return match.group(1) if match else None


@pytest.mark.parametrize("status", [states.APPROVED, states.PROCESSING, states.FULFILLING])
def test_a_moving_order_is_polled_fast(status, clerk, fake_temporal, make_order):
    response = poll(as_user(clerk), make_order(status=status))
    assert trigger_of(response.content.decode()) == "1500ms"
    assert response["X-Panel-Poll"] == "1500ms"


def test_an_order_waiting_for_approval_is_polled_slowly(manager, fake_temporal, make_order):
    response = poll(as_user(manager), make_order())
    assert trigger_of(response.content.decode()) == "20s"
    assert response["X-Panel-Poll"] == "20s"
    # The detail page itself starts at the same pace.
    assert trigger_of(as_user(manager).get(url("detail", make_order())).content.decode()) == "20s"


def test_an_order_passing_the_gate_by_itself_is_polled_fast(clerk, fake_temporal, make_order):
    order = make_order(requires_approval=False)
    assert trigger_of(poll(as_user(clerk), order).content.decode()) == "1500ms"


def test_a_cancel_on_its_way_is_polled_fast(clerk, fake_temporal, make_order):
    order = make_order()
    fake_temporal.snapshot = replace(mirror_snapshot(order), cancel_requested=True, allowed_actions=[])
    assert trigger_of(poll(as_user(clerk), order).content.decode()) == "1500ms"


@pytest.mark.parametrize("status", sorted(states.TERMINAL))
def test_a_final_order_is_not_polled(status, clerk, fake_temporal, make_order):
    response = poll(as_user(clerk), make_order(status=status))
    assert trigger_of(response.content.decode()) is None and "hx-get" not in response.content.decode()
    assert response["X-Panel-Poll"] == ""


def test_without_the_workflow_a_moving_order_is_polled_at_the_fallback_pace(clerk, fake_temporal, make_order):
    fake_temporal.unavailable = True
    response = poll(as_user(clerk), make_order(status=states.FULFILLING))
    assert 'data-source="mirror"' in response.content.decode()
    assert trigger_of(response.content.decode()) == "5s"


def test_when_the_order_starts_moving_the_waiting_page_gets_the_fast_pace(manager, fake_temporal, make_order):
    """The pace is part of the version: a 204 never leaves a page polling at the old one."""
    order = make_order()
    client = as_user(manager)
    first = poll(client, order)
    assert trigger_of(first.content.decode()) == "20s"
    fake_temporal.snapshot = replace(mirror_snapshot(order), state=states.PROCESSING, allowed_actions=[m.ACTION_CANCEL])
    response = poll(client, order, version_of(first.content.decode()))
    assert response.status_code == 200
    assert trigger_of(response.content.decode()) == "1500ms"


def test_a_worker_check_that_timed_out_does_not_keep_a_live_order_on_the_fallback_pace(
        monkeypatch, manager, fake_temporal, make_order):
    """In a burst a query times out, and the worker check its fallback consults may too: that check says
    nothing about workers. The page is told the query's own failure and 5 s; at its next poll the workflow
    is asked again and the page goes back to its own pace, though the check still cannot be made."""
    def timed_out(*args, **kwargs):
        raise TemporalUnavailable("DescribeTaskQueue: deadline exceeded")

    monkeypatch.setattr(queue_health, "task_queue_pollers", timed_out)
    order = make_order()
    client = as_user(manager)
    fake_temporal.query_error = TemporalUnavailable("no answer from the workflow within 2s")
    first = poll(client, order)
    assert first["X-Panel-Poll"] == "5s"
    assert "Live state unavailable (no answer from the workflow within 2s)" in first.content.decode()
    assert "no worker" not in first.content.decode()

    fake_temporal.query_error = None
    again = poll(client, order, version_of(first.content.decode()))
    assert again.status_code == 200 and again["X-Panel-Poll"] == "20s"
    assert len(fake_temporal.queries) == 2  # asked again, not answered from the inconclusive check
