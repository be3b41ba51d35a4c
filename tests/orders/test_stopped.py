"""Operators' actions are visible: an order whose workflow was closed outside
the desk (terminated, cancelled, timed out, failed) shows as stopped with the
cause everywhere, offers nothing, and a workflow that cannot answer never
takes a page down. The Temporal boundary is faked (tests/fakes.py); the same
stories run against a real server in tests/integration/test_operator_stop.py."""
from __future__ import annotations

from datetime import timedelta

import pytest

from orders import roles
from orders.models import Order
from orders.operations.reconcile import reconcile
from orders.selectors import live_failures, order_live_state
from orders.timeline import mirror
from orders.timeline.models import OrderEvent
from temporal_bridge.client.bridge import TemporalUnavailable
from temporal_bridge.client.queue_health import PollerStatus
from temporal_bridge.order import states
from temporal_bridge.order.status import StopCause, WorkflowTask
from tests.conftest import make_user
from tests.orders.api.test_api import ApiClient, issue_key

pytestmark = pytest.mark.django_db

HTMX = {"HX-Request": "true"}
TERMINATED = StopCause(status="TERMINATED", run_id="run-1", identity="ops@bastion", reason="duplicate of OD-000001")
STOPPED_LINE = "Stopped by an operator: terminated by ops@bastion: duplicate of OD-000001"
FAILING_TASK = WorkflowTask(attempt=7, started=False, waiting_seconds=40, last_failure="Failed decoding arguments")


def approve_buttons(html: str) -> bool:
    return ">Approve</button>" in html or "Cancel order</button>" in html or ">Reject</button>" in html


def test_a_terminated_pending_order_shows_stopped_with_who_and_why_and_offers_nothing(client, manager, fake_temporal, make_order):
    order = make_order()
    fake_temporal.stop = TERMINATED
    client.force_login(manager)

    html = client.get(order.get_absolute_url()).content.decode()

    assert 'data-state="stopped"' in html and ">Stopped<" in html
    assert "terminated by ops@bastion: duplicate of OD-000001" in html
    assert STOPPED_LINE in html  # the timeline entry
    assert "● live" not in html and "stopped outside the desk" in html
    assert not approve_buttons(html)
    assert "hx-trigger" not in html.split('id="live-panel"', 1)[1].split(">", 1)[0]  # no more polling
    order.refresh_from_db()
    assert (order.status, order.failure_reason) == (states.STOPPED, "terminated by ops@bastion: duplicate of OD-000001")


def test_every_action_on_a_stopped_order_is_a_409_with_the_reason(client, manager, fake_temporal, make_order):
    order = make_order()
    fake_temporal.stop = TERMINATED
    client.force_login(manager)

    # Before any page noticed: the signal finds the workflow closed, the stop is recorded on the way.
    response = client.post(f"/orders/{order.pk}/approve/", {"request_id": "a" * 32}, headers=HTMX)
    assert response.status_code == 409
    assert "was stopped outside the desk (terminated by ops@bastion: duplicate of OD-000001)" in response.content.decode()
    assert not approve_buttons(response.content.decode())
    # Afterwards the mirror answers at once.
    for action, data in [("approve", {}), ("reject", {"reject-reason": "no"}), ("cancel", {"cancel-reason": "no"})]:
        response = client.post(f"/orders/{order.pk}/{action}/", {"request_id": "b" * 32, **data}, headers=HTMX)
        assert response.status_code == 409, action
        assert "stopped" in response.content.decode()
    assert fake_temporal.signals == []


def test_the_list_and_the_api_show_the_stop(client, manager, fake_temporal, make_order):
    shop = make_user("shop-bot", roles.STOREFRONTS)
    order = make_order(created_by=shop)
    fake_temporal.stop = TERMINATED

    body = ApiClient(issue_key(shop)).get(f"/orders/{order.number}").json()
    assert (body["status"], body["status_label"], body["can_cancel"]) == ("stopped", "Stopped", False)
    assert body["failure_reason"] == "terminated by ops@bastion: duplicate of OD-000001"
    assert "stopped outside the desk" in body["notice"]
    assert STOPPED_LINE in [entry["message"] for entry in body["timeline"]]

    client.force_login(manager)
    listed = client.get("/orders/").content.decode()
    assert "state-stopped" in listed and "terminated by ops@bastion" in listed
    assert order in Order.objects.filter(status=states.STOPPED)


def test_recording_a_stop_is_idempotent_and_never_overwrites_a_business_ending(fake_temporal, make_order):
    order = make_order()
    assert mirror.order_record_stop(order_id=order.pk, cause=TERMINATED) is True
    assert mirror.order_record_stop(order_id=order.pk, cause=TERMINATED) is False
    assert list(OrderEvent.objects.filter(order=order).values_list("message", "actor")) == [(STOPPED_LINE, "ops@bastion")]

    fulfilled = make_order(status=states.FULFILLED)
    assert mirror.order_record_stop(order_id=fulfilled.pk, cause=TERMINATED) is False
    fulfilled.refresh_from_db()
    assert fulfilled.status == states.FULFILLED and not fulfilled.events.exists()


@pytest.mark.parametrize("cause, line", [
    (StopCause("TIMED_OUT", "r"), "Stopped: the workflow timed out (its run or execution timeout passed)"),
    (StopCause("FAILED", "r", reason="ZeroDivisionError: division by zero"),
     "Stopped: the workflow failed: ZeroDivisionError: division by zero"),
    (StopCause("CANCELED", "r", identity="tctl@ops"), "Stopped by an operator: cancelled as a workflow execution by tctl@ops"),
])
def test_each_kind_of_stop_says_what_happened(fake_temporal, make_order, cause, line):
    order = make_order(status=states.FULFILLING)
    fake_temporal.stop = cause
    live = order_live_state(order)
    assert live.snapshot.state == states.STOPPED and live.snapshot.allowed_actions == []
    assert line in [entry.message for entry in live.snapshot.timeline]


def test_reconcile_marks_an_in_flight_order_with_a_terminated_workflow_stopped_once(fake_temporal, make_order):
    order = make_order()
    Order.objects.filter(pk=order.pk).update(workflow_started_at=order.workflow_started_at - timedelta(minutes=5))
    fake_temporal.stop = TERMINATED

    report = reconcile(min_age=timedelta(0))

    assert report.stopped == [(order.number, "terminated by ops@bastion: duplicate of OD-000001")]
    assert report.stuck == []
    order.refresh_from_db()
    assert order.status == states.STOPPED
    assert reconcile(min_age=timedelta(0)).stopped == []  # terminal now: not looked at again


# --- A workflow that cannot answer -------------------------------------------------------


def test_a_workflow_whose_task_keeps_failing_gives_a_200_naming_the_failure(client, manager, fake_temporal, make_order):
    shop = make_user("shop-bot", roles.STOREFRONTS)
    order = make_order(created_by=shop)
    fake_temporal.query_error = TemporalUnavailable("no answer from the workflow within 2s")
    fake_temporal.workflow_task = FAILING_TASK
    client.force_login(manager)

    response = client.get(order.get_absolute_url())
    assert response.status_code == 200
    html = response.content.decode()
    assert "the workflow&#x27;s task is failing (attempt 7): Failed decoding arguments" in html
    assert 'data-source="mirror"' in html and "● live" not in html

    body = ApiClient(issue_key(shop)).get(f"/orders/{order.number}").json()
    assert body["source"] == "database" and "the workflow's task is failing (attempt 7)" in body["notice"]
    order.refresh_from_db()
    assert order.status == states.PENDING_APPROVAL  # frozen, not stopped: it may recover


def test_no_worker_polling_is_named_as_such(client, manager, fake_temporal, make_order):
    order = make_order()
    fake_temporal.query_error = TemporalUnavailable("no answer from the workflow within 2s")
    fake_temporal.pollers = PollerStatus(workflow_pollers=0, activity_pollers=0, identities=[])
    client.force_login(manager)
    response = client.get(f"/orders/{order.pk}/panel/", headers=HTMX)
    assert response.status_code == 200
    assert "Live state unavailable (no worker is polling the task queue)" in response.content.decode()


def test_after_a_failure_the_next_poll_asks_the_server_before_waiting_on_a_query_again(fake_temporal, make_order):
    order = make_order()
    fake_temporal.query_error = TemporalUnavailable("no answer from the workflow within 2s")
    fake_temporal.workflow_task = FAILING_TASK
    order_live_state(order)
    assert order.pk in live_failures() and len(fake_temporal.queries) == 1

    live = order_live_state(order)
    assert "task is failing" in live.problem
    assert len(fake_temporal.queries) == 1  # no second 2-second wait

    # It recovers: the next poll queries and is live again; the failure is forgotten.
    fake_temporal.query_error, fake_temporal.workflow_task = None, None
    assert order_live_state(order).source == "workflow"
    assert order.pk not in live_failures()


def test_ops_lists_frozen_and_stopped_orders_with_a_link_to_the_temporal_ui(client, manager, fake_temporal, make_order):
    frozen = make_order()
    stopped = make_order()
    make_order()  # a third order in flight, for the bound on describes below
    fake_temporal.query_error = TemporalUnavailable("no answer")
    fake_temporal.workflow_task = FAILING_TASK
    order_live_state(frozen)
    fake_temporal.query_error, fake_temporal.workflow_task = None, None
    mirror.order_record_stop(order_id=stopped.pk, cause=TERMINATED)
    fake_temporal.workflow_task = FAILING_TASK  # as the ops page's describe finds it

    client.force_login(manager)
    response = client.get("/ops/")
    html = response.content.decode()
    section = html.split('id="needs-attention"', 1)[1].split("</section>", 1)[0]
    assert f'data-order="{frozen.number}" data-kind="frozen"' in section
    assert "Cannot answer: the workflow&#x27;s task is failing (attempt 7): Failed decoding arguments" in section
    assert f'data-order="{stopped.number}" data-kind="stopped"' in section
    assert "workflow terminated by ops@bastion: duplicate of OD-000001" in section
    assert f"/workflows/{frozen.workflow_id}" in section and f"/workflows/{stopped.workflow_id}" in section
    assert len(fake_temporal.describes) <= 10  # bounded, whatever the number of orders


def test_ops_says_so_when_temporal_cannot_be_asked(client, manager, fake_temporal, make_order):
    make_order()
    fake_temporal.unavailable = True
    client.force_login(manager)
    response = client.get("/ops/")
    assert response.status_code == 200
    assert "the orders in flight could not be checked" in response.content.decode()


def test_while_temporal_is_down_a_poll_costs_one_failed_call_not_a_query_timeout_each(fake_temporal, make_order):
    order = make_order()
    fake_temporal.unavailable = True
    assert "Temporal is not reachable" in order_live_state(order).notice
    assert "Temporal is not reachable" in order_live_state(order).notice
    assert len(fake_temporal.queries) == 1  # the second poll asked describe (fast) and stopped there


def test_reconcile_lists_running_workflows_without_an_order_and_adopts_starts_never_recorded(fake_temporal, make_order):
    unstarted = make_order()  # its workflow started, but the process died before recording it
    Order.objects.filter(pk=unstarted.pk).update(workflow_started_at=None)
    fake_temporal.running = [unstarted.pk, 999_999]  # what the visibility store lists as running

    # Too young for the "start missing workflows" step: only the visibility step sees it.
    report = reconcile(min_age=timedelta(minutes=10))

    assert report.unmirrored == ["order-999999"]
    assert report.adopted == [f"order-{unstarted.pk}"] and fake_temporal.starts == []
    unstarted.refresh_from_db()
    assert unstarted.workflow_started_at is not None
