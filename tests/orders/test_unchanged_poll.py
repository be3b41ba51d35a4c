"""An unchanged panel poll answered from one query before the view runs
(orders/views/unchanged_poll.py), and every change that must still reach the page."""
from __future__ import annotations

import re
import time
from dataclasses import replace
from datetime import timedelta

import pytest
from django.contrib.auth.models import Group
from django.contrib.sessions.models import Session
from django.core.cache import cache
from django.db import connection
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from approvals.delegation.models import Delegation
from approvals.models import ApprovalDecision
from orders import roles
from orders.models import Order, OrderEvent
from orders.timeline.mirror import mirror_snapshot
from orders.views import unchanged_poll
from temporal_bridge.order import messages as m
from temporal_bridge.order import states

pytestmark = pytest.mark.django_db

HTMX = {"HX-Request": "true"}


@pytest.fixture(autouse=True)
def fresh(settings):
    cache.clear()
    unchanged_poll.forget_all()
    settings.ORDER_SNAPSHOT_CACHE_SECONDS = 0  # only the trust path can answer, unless a test turns the cache on
    settings.ORDER_PANEL_TRUST_SECONDS = 60
    yield
    cache.clear()
    unchanged_poll.forget_all()


def as_user(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def poll(client: Client, order: Order, version: str = ""):
    headers = {**HTMX, **({"X-Panel-Version": version} if version else {})}
    return client.get(reverse("orders:panel", args=[order.pk]), headers=headers)


def sql_of(request_fn):
    statements: list[str] = []

    def record(execute, sql, params, many, context):
        statements.append(sql)
        return execute(sql, params, many, context)

    with connection.execute_wrapper(record):
        response = request_fn()
    return statements, response


def version_of(response) -> str:
    return response["X-Panel-Version"]


def trusted(client: Client, order: Order, fake_temporal) -> str:
    """Poll until the page's unchanged polls are answered before the view: the version the page holds."""
    first = poll(client, order)
    assert first.status_code == 200
    version = version_of(first)
    assert poll(client, order, version).status_code == 204  # the full way, confirming the stamp
    asked = len(fake_temporal.queries)
    statements, response = sql_of(lambda: poll(client, order, version))
    assert response.status_code == 204
    assert len(statements) == 1, statements  # the stamp only: no session, user, permission or order query
    assert len(fake_temporal.queries) == asked  # and the workflow was not asked
    return version


def test_an_unchanged_poll_of_a_waiting_order_costs_one_query_and_no_workflow_query(manager, fake_temporal, make_order):
    order = make_order()
    client = as_user(manager)
    version = trusted(client, order, fake_temporal)
    statements, response = sql_of(lambda: poll(client, order, version))
    assert response.status_code == 204 and response.content == b""
    assert response["X-Panel-Version"] == version and response["X-Panel-Poll"] == "20s"
    assert not [s for s in statements if s.lstrip().upper().startswith(("INSERT", "UPDATE", "DELETE"))]
    assert not response.cookies


def test_a_decision_recorded_elsewhere_takes_the_approve_button_away(manager, fake_temporal, make_order):
    order = make_order()
    client = as_user(manager)
    version = trusted(client, order, fake_temporal)
    ApprovalDecision.objects.create(order=order, approver=manager, approver_username=manager.username, decision="approve",
                                    request_id="req-elsewhere-1")
    response = poll(client, order, version)
    assert response.status_code == 200
    assert ">Approve</button>" not in response.content.decode()


def test_a_delegation_granted_now_shows_the_on_behalf_buttons(manager, manager2, fake_temporal, make_order):
    order = make_order()
    client = as_user(manager)
    version = trusted(client, order, fake_temporal)
    now = timezone.now()
    Delegation.objects.create(delegator=manager2, substitute=manager, starts_at=now - timedelta(hours=1), ends_at=now + timedelta(days=1),
                              created_by=manager2)
    response = poll(client, order, version)
    assert response.status_code == 200
    assert "Approve on behalf of manager2" in response.content.decode()


def test_a_delegation_that_begins_while_the_page_is_open_shows_without_any_write(manager, manager2, fake_temporal, make_order):
    """Out of office from a moment on: nothing is written when it begins, the poll still sees it."""
    order = make_order()
    begins = timezone.now() + timedelta(seconds=0.6)
    Delegation.objects.create(delegator=manager2, substitute=manager, starts_at=begins, ends_at=begins + timedelta(days=1),
                              created_by=manager2)
    client = as_user(manager)
    version = trusted(client, order, fake_temporal)
    assert "on behalf of manager2" not in poll(client, order).content.decode()
    time.sleep(max(0.0, (begins - timezone.now()).total_seconds()) + 0.05)
    response = poll(client, order, version)
    assert response.status_code == 200
    assert "Approve on behalf of manager2" in response.content.decode()


def test_a_delegation_ended_early_takes_the_on_behalf_buttons_away(manager, manager2, fake_temporal, make_order):
    order = make_order()
    now = timezone.now()
    delegation = Delegation.objects.create(delegator=manager2, substitute=manager, starts_at=now - timedelta(hours=1),
                                           ends_at=now + timedelta(days=1), created_by=manager2)
    client = as_user(manager)
    version = trusted(client, order, fake_temporal)
    Delegation.objects.filter(pk=delegation.pk).update(ended_at=timezone.now())
    response = poll(client, order, version)
    assert response.status_code == 200
    assert "on behalf of manager2" not in response.content.decode()


def test_a_permission_removed_is_refused_at_once(manager, fake_temporal, make_order):
    order = make_order()
    client = as_user(manager)
    version = trusted(client, order, fake_temporal)
    manager.groups.set([Group.objects.get(name=roles.CLERKS)])  # still sees orders, may no longer approve
    response = poll(client, order, version)
    assert response.status_code == 200
    assert ">Approve</button>" not in response.content.decode()
    manager.groups.clear()
    assert poll(client, order, version_of(response)).status_code == 403


def test_a_permission_taken_from_the_group_is_seen_too(manager, fake_temporal, make_order):
    order = make_order()
    client = as_user(manager)
    version = trusted(client, order, fake_temporal)
    Group.objects.get(name=roles.MANAGERS).permissions.remove(*Group.objects.get(name=roles.MANAGERS).permissions.filter(
        codename="approve_order"))
    response = poll(client, order, version)
    assert response.status_code == 200
    assert ">Approve</button>" not in response.content.decode()


def test_a_logged_out_or_expired_session_is_not_answered_204(manager, fake_temporal, make_order):
    order = make_order()
    client = as_user(manager)
    version = trusted(client, order, fake_temporal)
    Session.objects.update(expire_date=timezone.now() - timedelta(seconds=1))
    response = poll(client, order, version)
    assert response.status_code == 302 and "/login" in response["Location"]

    other = as_user(manager)
    version = trusted(other, order, fake_temporal)
    other.logout()
    other.cookies["sessionid"] = list(Session.objects.values_list("session_key", flat=True))[:1] or "gone"
    response = poll(other, order, version)
    assert response.status_code == 302


def test_another_users_session_never_gets_this_users_answer(manager, manager2, clerk, fake_temporal, make_order):
    order = make_order()
    version = trusted(as_user(manager), order, fake_temporal)
    # The clerk (who may not approve) sends the manager's version: the full way, the clerk's own buttons.
    response = poll(as_user(clerk), order, version)
    assert response.status_code == 200
    assert ">Approve</button>" not in response.content.decode()
    assert version_of(response) != version
    # Another manager's page with the same buttons gets the same version, from their own answer.
    assert poll(as_user(manager2), order, version).status_code == 204


def test_a_question_asked_reaches_the_page(manager, fake_temporal, make_order):
    """The workflow takes the question in, and its timeline entry is written: the poll shows it."""
    order = make_order()
    client = as_user(manager)
    version = trusted(client, order, fake_temporal)
    fake_temporal.snapshot = replace(mirror_snapshot(order), questions=True)
    OrderEvent.objects.create(order=order, kind=OrderEvent.Kind.QUESTION, message="Which warehouse?", actor="manager",
                              idempotency_key="q-1", status=order.status)
    response = poll(client, order, version)
    assert response.status_code == 200
    assert version_of(response) != version


def test_the_workflow_moving_on_with_its_write_reaches_the_page(manager, fake_temporal, make_order):
    order = make_order()
    client = as_user(manager)
    version = trusted(client, order, fake_temporal)
    fake_temporal.snapshot = replace(mirror_snapshot(order), state=states.APPROVED, allowed_actions=[m.ACTION_CANCEL])
    Order.objects.filter(pk=order.pk).update(status=states.APPROVED)
    response = poll(client, order, version)
    assert response.status_code == 200
    assert 'data-state="approved"' in response.content.decode()
    assert response["X-Panel-Poll"] == "1500ms"


def test_a_change_without_any_write_is_seen_once_the_trust_period_ends(settings, monkeypatch, manager, fake_temporal, make_order):
    order = make_order()
    client = as_user(manager)
    version = trusted(client, order, fake_temporal)
    fake_temporal.snapshot = replace(mirror_snapshot(order), note="changed inside the workflow only")
    assert poll(client, order, version).status_code == 204  # trusted: the workflow is not asked
    later = time.monotonic() + settings.ORDER_PANEL_TRUST_SECONDS + 1
    monkeypatch.setattr(unchanged_poll.time, "monotonic", lambda: later)
    response = poll(client, order, version)
    assert response.status_code == 200
    assert version_of(response) != version


def test_a_newer_snapshot_fetched_by_another_page_ends_the_trust(settings, manager, manager2, fake_temporal, make_order):
    order = make_order()
    client = as_user(manager)
    version = trusted(client, order, fake_temporal)
    settings.ORDER_SNAPSHOT_CACHE_SECONDS = 30
    fake_temporal.snapshot = replace(mirror_snapshot(order), note="seen by another page first")
    assert poll(as_user(manager2), order).status_code == 200  # caches the new snapshot
    response = poll(client, order, version)
    assert response.status_code == 200
    assert version_of(response) != version


def test_a_moving_order_is_answered_before_the_view_only_while_its_snapshot_is_cached(settings, clerk, fake_temporal, make_order):
    settings.ORDER_SNAPSHOT_CACHE_SECONDS = 30
    order = make_order(status=states.FULFILLING)
    fake_temporal.snapshot = replace(mirror_snapshot(order), progress=20)
    client = as_user(clerk)
    version = version_of(poll(client, order))
    statements, response = sql_of(lambda: poll(client, order, version))
    assert response.status_code == 204 and len(statements) == 1
    assert response["X-Panel-Poll"] == "1500ms"
    # The cache period over (emptied here), the workflow is asked: never trusted past it.
    cache.clear()
    fake_temporal.snapshot = replace(mirror_snapshot(order), progress=70)
    response = poll(client, order, version)
    assert response.status_code == 200 and 'value="70"' in response.content.decode()


def test_the_answer_is_not_trusted_until_a_second_full_answer_confirms_it(manager, fake_temporal, make_order):
    """The first answer after a write may have been computed before the workflow took that write in."""
    order = make_order()
    client = as_user(manager)
    version = version_of(poll(client, order))
    fake_temporal.snapshot = replace(mirror_snapshot(order), note="the workflow caught up")
    response = poll(client, order, version)
    assert response.status_code == 200  # the full way: the workflow asked
    assert re.fullmatch(r"[0-9a-f]+", version_of(response))


def test_with_the_snapshot_cache_off_a_digest_left_in_the_cache_answers_nothing(settings, clerk, fake_temporal, make_order):
    """A moving order's unchanged poll asks the workflow every time when no snapshot is reused."""
    settings.ORDER_SNAPSHOT_CACHE_SECONDS = 30
    order = make_order(status=states.FULFILLING)
    client = as_user(clerk)
    version = version_of(poll(client, order))
    settings.ORDER_SNAPSHOT_CACHE_SECONDS = 0
    asked = len(fake_temporal.queries)
    assert poll(client, order, version).status_code == 204
    assert len(fake_temporal.queries) == asked + 1
