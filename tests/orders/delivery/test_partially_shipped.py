"""A split order between its parcels, on the desk's side: the workflow's "partially shipped" entry moves the
mirror; the order page (one rule with the workflow: fulfilment_states), the list filter, the operations
page, the API and the audit export show it; a cancel is still accepted for the part not shipped."""
from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from orders import steps
from orders.delivery import services as parcels
from orders.inventory import selectors as inventory_selectors
from orders.inventory import services as inventory
from orders.models import Order, OrderLine, OrderStatus, Warehouse
from orders.payments import services as payments
from orders.timeline import mirror
from temporal_bridge.order import messages as m
from temporal_bridge.order import records, states
from temporal_bridge.order.records import MirrorInput
from temporal_bridge.shipment import messages as shipment
from tests.approvals.audit.test_audit_export import exported
from tests.orders.api.test_api import api, storefront  # noqa: F401 - fixtures
from tests.orders.pages import HTMX, logged_in, url

pytestmark = pytest.mark.django_db

T0 = datetime(2026, 11, 20, 8, 0, tzinfo=UTC)
PARTIAL = "Partially shipped: MAIN shipped, EAST not shipped yet"


@pytest.fixture
def partly_shipped(make_order, widget, server):
    """Widgets from MAIN and servers from EAST, charged; MAIN's part shipped, EAST's still held; the
    workflow's entry for it written through the mirror as its activities write it."""
    east = Warehouse.objects.create(code="EAST", name="East coast warehouse")
    inventory.stock_set_on_hand(warehouse_id=east.pk, product_id=server.pk, on_hand=10)
    order = make_order(product=widget, quantity=3, status=states.FULFILLING)
    OrderLine.objects.create(order=order, product=server, quantity=7, unit_price=server.price)
    steps.stock_reserve(order_id=order.pk)
    payments.payment_capture(order_id=order.pk, idempotency_key=f"capture-{order.pk}")
    steps.fulfilment_ship(order_id=order.pk, warehouse="MAIN")
    mirror.order_record_entries([MirrorInput(order.pk, records.timeline_key(9, "status"), "status", PARTIAL,
                                             status=states.PARTIALLY_SHIPPED, at=T0.isoformat())])
    order.refresh_from_db()
    return order


def test_the_workflows_entry_moves_the_order_to_partially_shipped_and_the_page_says_which_part_is_where(
        client, clerk, fake_temporal, partly_shipped):
    assert partly_shipped.status == OrderStatus.PARTIALLY_SHIPPED == states.PARTIALLY_SHIPPED
    html = logged_in(client, clerk).get(url("detail", partly_shipped)).content.decode()
    assert 'class="state state-partially_shipped"' in html and ">Partially shipped<" in html
    # Delivery not tracked: the part shipped counts from its stock, the other is still held in EAST.
    assert '<p class="parcels-summary" id="parcels-summary">Partially shipped: MAIN shipped, EAST not shipped yet</p>' in html


def test_a_followed_parcel_of_a_partially_shipped_order_shows_its_own_journey_in_the_summary(
        client, clerk, fake_temporal, partly_shipped):
    tracking = f"{partly_shipped.tracking_number}-MAIN"
    parcels.parcel_open(order_id=partly_shipped.pk, carrier="Parcelo", tracking_number=tracking,
                        promised_by=(T0 + timedelta(days=5)).isoformat(), warehouse="MAIN")
    parcels.parcel_record_event(order_id=partly_shipped.pk, event=parcels.CarrierEventRecord("e1", shipment.PARCEL_IN_TRANSIT, T0),
                                status=shipment.PARCEL_IN_TRANSIT, warehouse="MAIN")
    html = logged_in(client, clerk).get(url("detail", partly_shipped)).content.decode()
    assert "Partially shipped: MAIN in transit, EAST not shipped yet" in html and 'id="parcel-MAIN"' in html


def test_once_a_cancel_released_the_part_not_shipped_the_summary_no_longer_waits_for_it(partly_shipped):
    steps.stock_release(order_id=partly_shipped.pk)
    plan = inventory_selectors.order_plan(partly_shipped)
    parts = [(part.warehouse, part.status) for part in plan.fulfilments]
    assert parts == [("MAIN", "shipped"), ("EAST", "released")]
    assert parcels.delivery_state([], parts) == (states.IN_TRANSIT, "")
    assert parcels.delivery_summary([], parts) == ""


def test_the_list_filters_partially_shipped_orders(client, clerk, fake_temporal, partly_shipped, make_order):
    other = make_order(status=states.FULFILLING)
    response = logged_in(client, clerk).get("/orders/", {"status": states.PARTIALLY_SHIPPED})
    html = response.content.decode()
    assert response.status_code == 200 and partly_shipped.number in html and other.number not in html
    assert f'<option value="{states.PARTIALLY_SHIPPED}"' in html


def test_the_operations_page_counts_partially_shipped_orders_and_links_the_late_ones(client, manager, fake_temporal, partly_shipped):
    response = logged_in(client, manager).get("/ops/")
    counts = {row.state: row.count for row in response.context["by_state"]}
    assert counts[states.PARTIALLY_SHIPPED] == 1
    assert "Partially shipped for over 24 h" in response.content.decode()


def test_the_api_and_the_audit_export_give_the_state(api, auditor, client, partly_shipped, storefront):  # noqa: F811
    Order.objects.filter(pk=partly_shipped.pk).update(created_by=storefront)
    body = api.get(f"/orders/{partly_shipped.number}").json()
    assert body["status"] == states.PARTIALLY_SHIPPED
    rows = exported(client, auditor, state=states.PARTIALLY_SHIPPED)
    assert rows and {row["order_state"] for row in rows} == {states.PARTIALLY_SHIPPED}


def test_a_partially_shipped_order_may_still_be_cancelled_and_the_signal_goes_to_its_workflow(
        client, manager, fake_temporal, partly_shipped):
    response = logged_in(client, manager).post(
        url("cancel", partly_shipped), {"cancel-reason": "Customer needs only the desk", "cancel-request_id": "c" * 32}, headers=HTMX)
    assert response.status_code == 200
    [sent] = fake_temporal.signals
    assert sent.name == m.SIGNAL_CANCEL and sent.payload.reason == "Customer needs only the desk"
