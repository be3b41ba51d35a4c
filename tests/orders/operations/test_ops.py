"""The operations page, the "no worker" banner on every page, /readyz, and structured logs."""
from __future__ import annotations

import dataclasses
import io
import json
import logging
import time
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace
from urllib.parse import parse_qs, urlsplit

import pytest
from django.core.cache.backends import base as cache_base
from django.core.cache.backends import locmem
from django.utils import timezone
from temporalio import activity
from temporalio.testing import ActivityEnvironment

from config import logs
from orders import roles
from orders.models import Order
from temporal_bridge.client.queue_health import BacklogStats, PollerInfo, PollerStatus, WorkerHeartbeat
from temporal_bridge.client.worker_status import forget_worker_check
from temporal_bridge.order import states
from tests.conftest import make_user
from tests.orders.api.test_api import ApiClient, issue_key

pytestmark = pytest.mark.django_db

PAUSED = "Approvals and processing are paused: no worker is running"
NO_WORKER = PollerStatus(workflow_pollers=0, activity_pollers=0, identities=[])


def submitted(order: Order, ago: timedelta) -> Order:
    Order.objects.filter(pk=order.pk).update(created_at=timezone.now() - ago)
    return order


# --- Operations page -------------------------------------------------------------------------


def test_staff_see_workers_backlog_orders_by_state_and_approvals_by_age(client, manager, fake_temporal, make_order):
    now = datetime.now(UTC)
    fake_temporal.pollers = PollerStatus(
        1, 1, ["order-desk@host:42"],
        pollers=[PollerInfo("order-desk@host:42", "workflow", now - timedelta(seconds=3), 2.0),
                 PollerInfo("order-desk@host:42", "activity", now - timedelta(seconds=5), 1.0)],
        heartbeats=[WorkerHeartbeat("order-desk@host:42", "running", 2.0, 5.0, host="host")],
        backlog=[],
    )
    fake_temporal.pollers.backlog = [BacklogStats("workflow", 7, 12.0, 0.5, 0.4), BacklogStats("activity", 0, 0.0, 0.0, 0.0)]
    submitted(make_order(), timedelta(minutes=10))
    submitted(make_order(), timedelta(hours=30))
    submitted(make_order(), timedelta(hours=50))
    make_order(status=states.FULFILLED)
    make_order(status=states.FAILED)

    client.force_login(manager)
    response = client.get("/ops/")
    assert response.status_code == 200
    html = response.content.decode()
    assert 'data-workers="running"' in html and "order-desk@host:42" in html
    assert [(row.state, row.count) for row in response.context["by_state"] if row.count] == [
        (states.PENDING_APPROVAL, 3), (states.FULFILLED, 1), (states.FAILED, 1),
    ]
    assert [(b.label, b.count) for b in response.context["approvals_by_age"]] == [
        ("under 1 hour", 1), ("1–4 hours", 0), ("4–24 hours", 0), ("1–2 days", 1), ("over 2 days", 1),
    ]
    backlog = html.split('id="backlog"', 1)[1].split("</table>", 1)[0]
    assert ">7<" in backlog
    assert PAUSED not in html


def test_chart_of_the_last_24_hours_is_inline_svg_stacked_by_state(client, manager, fake_temporal, make_order):
    make_order(status=states.FULFILLED)
    make_order(status=states.FULFILLED)
    make_order(status=states.CANCELLED)
    submitted(make_order(), timedelta(hours=30))  # outside the window
    client.force_login(manager)
    response = client.get("/ops/")
    chart = str(response.context["chart"])
    assert chart.startswith("<svg") and "<script" not in chart and "http" not in chart.replace("http://www.w3.org/2000/svg", "")
    assert "(3 in all)" in chart
    assert 'data-state="fulfilled" data-count="2"' in chart and 'data-state="cancelled" data-count="1"' in chart
    assert len(response.context["hours"]) == 24


def test_ops_page_says_when_the_server_reports_no_backlog(client, manager, fake_temporal):
    client.force_login(manager)
    html = client.get("/ops/").content.decode()
    assert "does not report task-queue statistics" in html


def test_ops_page_is_for_staff_only(client, clerk, fake_temporal):
    client.force_login(clerk)
    assert client.get("/ops/").status_code == 403
    client.logout()
    assert client.get("/ops/")["Location"].startswith("/login/")


# --- The banner ---------------------------------------------------------------------------------


def test_every_page_shows_the_banner_while_no_worker_polls(client, manager, fake_temporal, make_order):
    order = make_order()
    fake_temporal.pollers = NO_WORKER
    client.force_login(manager)
    for path in ("/orders/", f"/orders/{order.pk}/", "/approvals/", "/ops/", "/admin/", "/admin/orders/order/"):
        assert PAUSED in client.get(path).content.decode(), path


def test_no_banner_while_a_worker_polls(client, manager, fake_temporal):
    client.force_login(manager)
    assert PAUSED not in client.get("/orders/").content.decode()


def test_banner_says_so_when_temporal_cannot_be_reached(client, manager, fake_temporal):
    fake_temporal.unavailable = True
    client.force_login(manager)
    assert "the workflow service (Temporal) cannot be reached" in client.get("/orders/").content.decode()


def test_the_worker_check_is_cached_so_pages_do_not_each_call_temporal(client, manager, fake_temporal, settings, monkeypatch):
    # The cache's clock is moved by hand: a loaded machine can take longer
    # than any short real expiry just to serve the five pages.
    clock = [time.time()]
    for module in (locmem, cache_base):
        monkeypatch.setattr(module, "time", SimpleNamespace(time=lambda: clock[0]))
    settings.WORKER_STATUS_CACHE_SECONDS = 30
    client.force_login(manager)
    for _ in range(5):
        client.get("/orders/")
    assert fake_temporal.poller_checks == 1

    # A worker that stops shows on the pages once the cached check expires.
    fake_temporal.pollers = NO_WORKER
    clock[0] += 29
    assert PAUSED not in client.get("/orders/").content.decode()
    clock[0] += 2
    assert PAUSED in client.get("/orders/").content.decode()
    assert fake_temporal.poller_checks == 2


def test_live_panel_fragments_do_not_check_the_workers(client, manager, fake_temporal, make_order):
    order = make_order()
    client.force_login(manager)
    client.get(f"/orders/{order.pk}/panel/", headers={"HX-Request": "true"})
    assert fake_temporal.poller_checks == 0


def test_the_ops_page_asks_temporal_afresh_and_updates_the_banner(client, manager, fake_temporal):
    client.force_login(manager)
    client.get("/orders/")
    fake_temporal.pollers = NO_WORKER
    assert 'data-workers="stopped"' in client.get("/ops/").content.decode()
    assert PAUSED in client.get("/orders/").content.decode()


# --- /readyz -------------------------------------------------------------------------------------


def test_readyz_is_200_when_database_temporal_and_a_worker_are_up(client, fake_temporal):
    response = client.get("/readyz")
    assert response.status_code == 200
    assert response.json()["checks"] == {"database": "ok", "temporal": "ok", "workers": "ok"}


def test_readyz_is_503_and_names_the_workers_when_none_polls(client, fake_temporal):
    fake_temporal.pollers = NO_WORKER
    response = client.get("/readyz")
    assert response.status_code == 503
    body = response.json()
    assert body["failing"] == ["workers"] and body["status"] == "not ready"


def test_readyz_is_503_when_temporal_is_down(client, fake_temporal):
    fake_temporal.unavailable = True
    response = client.get("/readyz")
    assert response.status_code == 503
    assert response.json()["failing"] == ["temporal", "workers"]


# --- Structured logs -------------------------------------------------------------------------------


@pytest.fixture
def json_log():
    """The desk's JSON log lines, as LOG_FORMAT=json writes them."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logs.JsonFormatter())
    handler.addFilter(logs.ContextFilter())
    root = logging.getLogger()
    root.addHandler(handler)
    yield lambda: [json.loads(line) for line in stream.getvalue().splitlines()]
    root.removeHandler(handler)


def test_web_log_lines_carry_the_order_number_and_workflow_id(client, json_log, fake_temporal, customer, widget):
    api = ApiClient(issue_key(make_user("shop", roles.STOREFRONTS)))
    body = {"customer_id": customer.pk, "lines": [{"sku": "WID-1", "quantity": 1}], "shipping_address": "x"}
    number = api.post("/orders", body).json()["number"]
    order = Order.objects.get(number=number)
    [line] = [entry for entry in json_log() if entry["logger"] == "orders.api.views"]
    assert line["message"].startswith(f"Order {number} created")
    assert (line["order_number"], line["workflow_id"], line["level"]) == (number, f"order-{order.pk}", "INFO")


def test_worker_log_lines_name_the_order_of_the_running_activity(json_log):
    @activity.defn
    def logs_something() -> None:
        logging.getLogger("orders.services").warning("Payment provider slow")

    env = ActivityEnvironment()
    env.info = dataclasses.replace(env.info, workflow_id="order-42")
    env.run(logs_something)
    [line] = json_log()
    assert (line["order_number"], line["workflow_id"], line["message"]) == ("OD-000042", "order-42", "Payment provider slow")


def test_log_context_does_not_leak_from_one_request_to_the_next(client, manager, json_log, fake_temporal, make_order):
    order = make_order()
    client.force_login(manager)
    client.get(f"/orders/{order.pk}/")
    logging.getLogger("orders.views").info("after the request")
    assert "order_number" not in json_log()[-1]


def test_log_format_must_be_json_or_plain():
    with pytest.raises(ValueError, match="LOG_FORMAT"):
        logs.logging_config(log_format="xml", level="INFO")


def test_ops_page_links_to_the_temporal_ui_filtered_to_orders_stuck_in_fulfilling(client, manager, fake_temporal, settings):
    settings.TEMPORAL_UI_URL = "http://ui.example:8233"
    client.force_login(manager)
    html = client.get("/ops/").content.decode()
    section = html.split('id="temporal-ui-filters"', 1)[1].split("</section>", 1)[0]
    link = section.split('href="', 1)[1].split('"', 1)[0].replace("&amp;", "&")
    parts = urlsplit(link)
    assert (parts.netloc, parts.path) == ("ui.example:8233", "/namespaces/default/workflows")
    query = parse_qs(parts.query)["query"][0]
    assert query.startswith('WorkflowType="OrderWorkflow" AND OrderState="fulfilling" AND StateEnteredAt<"')
    assert ">Stuck in fulfilling for over 1 h</a>" in section


def test_a_killed_worker_shows_as_missing_since_its_last_heartbeat_and_the_banner_and_readyz_agree(
        client, manager, fake_temporal, settings):
    settings.WORKER_HEARTBEAT_SECONDS = 5.0
    now = datetime.now(UTC)
    killed = now - timedelta(seconds=60)
    # Killed a minute ago: the server still lists it as running, and its pollers for a while.
    fake_temporal.pollers = PollerStatus(
        1, 1, ["order-desk@host:42"],
        pollers=[PollerInfo("order-desk@host:42", "workflow", killed), PollerInfo("order-desk@host:42", "activity", killed)],
        heartbeats=[WorkerHeartbeat("order-desk@host:42", "running", 60.0, 5.0, host="host", last_heartbeat_at=killed)],
    )
    forget_worker_check()
    client.force_login(manager)
    html = client.get("/ops/").content.decode()
    row = html.split('id="heartbeats"', 1)[1].split("</table>", 1)[0]
    assert 'data-worker-state="missing"' in row
    assert f"missing since {killed:%Y-%m-%d %H:%M:%S} UTC (60 s without a heartbeat)" in row
    assert ">running<" not in row
    assert 'data-workers="stopped"' in html
    assert PAUSED in client.get("/orders/").content.decode()  # the banner on every page
    ready = client.get("/readyz")
    assert ready.status_code == 503 and "workers" in ready.json()["failing"]
    assert "order-desk@host:42 missing since" in ready.json()["checks"]["workers"]


def test_a_live_worker_shows_as_running_on_the_page_the_banner_and_readyz(client, manager, fake_temporal, settings):
    now = datetime.now(UTC)
    pollers = [PollerInfo("w@h:1", "workflow", now), PollerInfo("w@h:1", "activity", now)]
    fake_temporal.pollers = PollerStatus(1, 1, ["w@h:1"], pollers=pollers,
                                         heartbeats=[WorkerHeartbeat("w@h:1", "running", 3.0, 5.0, last_heartbeat_at=now)])
    forget_worker_check()
    client.force_login(manager)
    html = client.get("/ops/").content.decode()
    assert 'data-worker-state="running"' in html and 'data-workers="running"' in html
    assert PAUSED not in client.get("/orders/").content.decode()
    assert client.get("/readyz").json()["checks"]["workers"] == "ok"
