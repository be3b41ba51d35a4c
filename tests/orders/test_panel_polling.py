"""The polled live panel at scale: a shared snapshot cache, 204 for unchanged
panels, and a small query budget per poll (see BENCHMARKS.md for the figures)."""
from __future__ import annotations

import re
import time
from dataclasses import replace

import pytest
from django.core.cache import cache
from django.test import Client
from django.urls import reverse

from orders.mirror import mirror_snapshot
from orders.models import Order
from temporal_bridge import messages as m
from temporal_bridge import states

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
    from django.core.cache.backends import base, locmem

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
    """Session, user, permissions and the order itself; no order lines, no per-poll counts."""
    order = make_order(status=states.FULFILLING)
    fake_temporal.snapshot = mirror_snapshot(order)  # answered without touching the database
    client = as_user(clerk)
    poll(client, order)
    with django_assert_max_num_queries(5):
        assert poll(client, order).status_code == 200


def test_a_managers_poll_does_not_count_the_approval_inbox(manager, fake_temporal, make_order):
    """The nav badge's count is for full pages; the polled fragment has no nav."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    order = make_order()
    fake_temporal.snapshot = mirror_snapshot(order)
    client = as_user(manager)
    with CaptureQueriesContext(connection) as ctx:
        assert poll(client, order).status_code == 200
    assert not [q for q in ctx.captured_queries if "COUNT(" in q["sql"].upper()]
    # The full page still shows it.
    make_order()
    assert 'class="badge"' in client.get(url("detail", order)).content.decode()
