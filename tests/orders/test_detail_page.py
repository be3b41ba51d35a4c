"""The order detail page and its live panel: the buttons shown, polling, and the mirror when Temporal cannot answer."""
from __future__ import annotations

import re
from dataclasses import replace

import pytest

from orders.models import Order
from orders.timeline.mirror import mirror_snapshot
from orders.timeline.models import OrderEvent
from temporal_bridge.order import messages as m
from temporal_bridge.order import states
from temporal_bridge.order.records import TimelineEntry
from tests.orders.pages import HTMX, logged_in, url

pytestmark = pytest.mark.django_db


def action_forms(html: str, order: Order) -> set[str]:
    return {name for name in ("approve", "reject", "cancel", "update") if f'action="{url(name, order)}"' in html}


def test_manager_sees_approve_reject_and_cancel_on_a_pending_order(client, manager, fake_temporal, make_order):
    order = make_order()
    response = logged_in(client, manager).get(url("detail", order))
    assert response.status_code == 200
    html = response.content.decode()
    assert {"approve", "reject", "cancel"} <= action_forms(html, order)
    assert ">Approve</button>" in html
    assert ">Reject</button>" in html
    assert ">Cancel order</button>" in html
    assert fake_temporal.queries == [order.pk]


def test_clerk_sees_no_approve_or_reject_buttons(client, clerk, fake_temporal, make_order):
    order = make_order()
    response = logged_in(client, clerk).get(url("detail", order))
    assert response.status_code == 200
    html = response.content.decode()
    assert action_forms(html, order) == {"update"}
    assert ">Approve</button>" not in html
    assert ">Reject</button>" not in html


def test_manager_sees_no_decision_buttons_on_his_own_order(client, manager, fake_temporal, make_order):
    order = make_order(created_by=manager)
    html = logged_in(client, manager).get(url("detail", order)).content.decode()
    assert action_forms(html, order) == {"cancel", "update"}


def test_buttons_follow_the_actions_the_workflow_allows(client, manager, fake_temporal, make_order):
    order = make_order()
    snapshot = _snapshot(order, state=states.PROCESSING, allowed_actions=[m.ACTION_CANCEL])
    fake_temporal.snapshot = snapshot
    html = logged_in(client, manager).get(url("detail", order)).content.decode()
    assert action_forms(html, order) == {"cancel"}


def test_outsider_cannot_see_an_order(client, outsider, fake_temporal, make_order):
    order = make_order()
    assert logged_in(client, outsider).get(url("detail", order)).status_code == 403
    assert fake_temporal.queries == []


def test_unknown_order_detail_is_404(client, clerk, fake_temporal):
    assert logged_in(client, clerk).get(url("detail", 999_999)).status_code == 404


def test_panel_polls_while_the_order_is_in_flight(client, clerk, fake_temporal, make_order):
    order = make_order(status=states.FULFILLING)
    response = logged_in(client, clerk).get(url("panel", order), headers=HTMX)
    html = response.content.decode()
    assert response.status_code == 200
    assert 'id="live-panel"' in html
    assert "hx-trigger=" in html
    assert "every 1500ms" in html
    assert f'hx-get="{url("panel", order)}"' in html


def test_panel_stops_polling_at_a_terminal_state(client, clerk, fake_temporal, make_order):
    order = make_order(status=states.FULFILLED, tracking_number="1Z0001")
    response = logged_in(client, clerk).get(url("detail", order))
    html = response.content.decode()
    assert 'id="live-panel"' in html
    assert "hx-trigger=" not in html
    # A finished order is read from the mirror, never from a closed workflow.
    assert fake_temporal.queries == []


def test_panel_stops_polling_once_the_workflow_reports_a_terminal_state(client, clerk, fake_temporal, make_order):
    order = make_order(status=states.FULFILLING)  # the mirror lags behind the workflow
    fake_temporal.snapshot = _snapshot(order, state=states.FULFILLED, progress=100, tracking_number="1Z0002")
    html = logged_in(client, clerk).get(url("panel", order), headers=HTMX).content.decode()
    assert 'data-state="fulfilled"' in html
    assert "hx-trigger=" not in html
    assert "1Z0002" in html


def test_panel_without_htmx_redirects_to_the_detail_page(client, clerk, fake_temporal, make_order):
    order = make_order()
    response = logged_in(client, clerk).get(url("panel", order))
    assert response.status_code == 302
    assert response["Location"] == url("detail", order)


def test_detail_falls_back_to_the_mirror_when_no_worker_answers(client, manager, fake_temporal, make_order):
    order = make_order()
    OrderEvent.objects.create(order=order, kind=OrderEvent.Kind.SUBMITTED, message="Order submitted", idempotency_key="k1")
    fake_temporal.unavailable = True
    response = logged_in(client, manager).get(url("detail", order))
    assert response.status_code == 200
    html = response.content.decode()
    assert "Live state unavailable" in html
    assert 'data-source="mirror"' in html
    assert "Order submitted" in html
    # It keeps polling, slower, so the panel comes back when a worker does.
    assert "every 5s" in html
    # The mirror still offers the actions the state allows.
    assert {"approve", "reject", "cancel"} <= action_forms(html, order)


def test_detail_of_an_order_whose_workflow_has_not_started_says_so(client, clerk, fake_temporal, make_order):
    order = make_order(started=False)
    html = logged_in(client, clerk).get(url("detail", order)).content.decode()
    assert "has not started yet" in html
    assert fake_temporal.queries == []


def _snapshot(order: Order, **changes) -> m.OrderSnapshot:
    return replace(mirror_snapshot(order), **changes)


def test_each_action_form_carries_its_own_request_id(client, manager, fake_temporal, make_order):
    """The workflow ignores a repeated request id whatever the signal, so an
    approve and a cancel rendered together must never share one."""
    order = make_order()
    body = logged_in(client, manager).get(url("detail", order)).content.decode()
    ids = re.findall(r'name="(?:\w+-)?request_id" value="([^"]+)"', body)
    # approve, reject, cancel, update, ask the requester, comment
    assert len(ids) == 6 and len(set(ids)) == 6


def test_acting_on_an_order_whose_workflow_has_not_started_says_so(client, manager, fake_temporal, make_order):
    order = make_order(started=False)
    response = logged_in(client, manager).post(url("approve", order), {"request_id": "abcdef123456"}, HTTP_HX_REQUEST="true")
    assert response.status_code == 503
    assert b"has not started" in response.content
    assert fake_temporal.signals == []


def test_panel_shows_workflow_times_as_readable_dates_in_the_site_time_zone(client, manager, fake_temporal, make_order, settings):
    """Found by looking at the page: the deadline read '2026-11-2303:01 UTC'."""
    settings.TIME_ZONE = "Europe/Paris"
    order = make_order()
    fake_temporal.snapshot = m.OrderSnapshot(
        order_id=order.pk, number=order.number, state=states.PENDING_APPROVAL, step="Waiting", progress=0,
        requires_approval=True, approval_deadline="2026-11-24T03:01:52.123456+00:00", priority="normal",
        shipping_address="1 Main", note="",
        timeline=[TimelineEntry("2026-11-22T03:01:52.5+00:00", "submitted", "Order submitted", "clerk")],
    )
    body = logged_in(client, manager).get(url("panel", order), HTTP_HX_REQUEST="true").content.decode()
    assert "2026-11-24 04:01 CET" in body
    assert ">04:01:52</time>" in body
