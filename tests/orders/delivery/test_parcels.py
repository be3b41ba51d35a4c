"""The parcel's mirror and operations tasks: the services the shipment
workflow's activities call, the order page's parcel panel, the list's Parcel
column and late filter, and resolving tasks on the operations page."""
from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from django.core import mail
from django.urls import reverse

from orders import services
from orders.delivery import services as parcels
from orders.delivery.models import OperationsTask, Parcel, ParcelEvent
from orders.exceptions import OrderError, OrderNotFound
from temporal_bridge.order import states
from temporal_bridge.shipment import messages as shipment
from tests.orders.pages import HTMX, logged_in, url

pytestmark = pytest.mark.django_db

T0 = datetime(2026, 11, 20, 8, 0, tzinfo=UTC)


def carrier_event(event_id: str, status: str, hours: float, location: str = "", description: str = "") -> parcels.CarrierEventRecord:
    return parcels.CarrierEventRecord(event_id, status, T0 + timedelta(hours=hours), location, description)


@pytest.fixture
def shipped(make_order):
    """An order whose shipment workflow has opened its parcel, promised within 5 days."""
    order = make_order(status=states.IN_TRANSIT, tracking_number="TRK-1")
    parcels.parcel_open(order_id=order.pk, carrier="Parcelo", tracking_number="TRK-1", promised_by=(T0 + timedelta(days=5)).isoformat())
    return order


def record(order, event: parcels.CarrierEventRecord, status: str | None = None) -> bool:
    return parcels.parcel_record_event(order_id=order.pk, event=event, status=status or event.status)


# --- Services ------------------------------------------------------------------------------


def test_a_carrier_event_moves_the_parcel_and_a_redelivered_one_changes_nothing(shipped):
    assert record(shipped, carrier_event("e1", shipment.PARCEL_IN_TRANSIT, 1, "Leipzig hub")) is True
    assert record(shipped, carrier_event("e1", shipment.PARCEL_IN_TRANSIT, 1, "Leipzig hub")) is False
    parcel = Parcel.objects.get(order=shipped)
    assert (parcel.status, parcel.location, parcel.last_event_at) == (shipment.PARCEL_IN_TRANSIT, "Leipzig hub", T0 + timedelta(hours=1))
    assert parcel.promised_by == T0 + timedelta(days=5)
    assert ParcelEvent.objects.filter(parcel=parcel).count() == 1


def test_a_late_event_is_kept_without_moving_the_parcel_back(shipped):
    record(shipped, carrier_event("e2", shipment.PARCEL_OUT_FOR_DELIVERY, 5, "Berlin-Mitte"))
    # The workflow's verdict for the late scan: the parcel stays out for delivery.
    record(shipped, carrier_event("e1", shipment.PARCEL_IN_TRANSIT, 1, "Leipzig hub"), status=shipment.PARCEL_OUT_FOR_DELIVERY)
    parcel = Parcel.objects.get(order=shipped)
    assert (parcel.status, parcel.location, parcel.last_event_at) == (shipment.PARCEL_OUT_FOR_DELIVERY, "Berlin-Mitte",
                                                                      T0 + timedelta(hours=5))
    assert [(e.event_id, e.counted) for e in parcel.events.all()] == [("e1", False), ("e2", True)]


def test_an_exception_and_a_return_each_raise_one_operations_task(shipped):
    record(shipped, carrier_event("e1", shipment.PARCEL_EXCEPTION, 2, "Hub", "Address not found"))
    record(shipped, carrier_event("e1", shipment.PARCEL_EXCEPTION, 2, "Hub", "Address not found"))  # a retried activity
    record(shipped, carrier_event("e2", shipment.PARCEL_RETURNED, 9, "Sender"))
    tasks = list(OperationsTask.objects.filter(order=shipped))
    assert [t.kind for t in tasks] == [OperationsTask.Kind.PARCEL_EXCEPTION, OperationsTask.Kind.PARCEL_RETURNED]
    assert "Address not found" in tasks[0].text and shipped.number in tasks[0].text
    assert Parcel.objects.get(order=shipped).status == shipment.PARCEL_RETURNED


def test_delivery_records_when_the_parcel_arrived(shipped):
    record(shipped, carrier_event("e9", shipment.PARCEL_DELIVERED, 30, "Front door"))
    parcel = Parcel.objects.get(order=shipped)
    assert parcel.status == shipment.PARCEL_DELIVERED and parcel.delivered_at == T0 + timedelta(hours=30)
    assert not OperationsTask.objects.exists()


def test_a_missed_promise_flags_the_parcel_raises_a_task_and_emails_staff_once(shipped, manager, clerk):
    for user, email in ((manager, "ops@desk.example"), (clerk, "clerk@desk.example")):
        user.email = email
        user.save()
    promised = (T0 + timedelta(days=5)).isoformat()
    assert parcels.parcel_flag_late(order_id=shipped.pk, promised_by=promised) is True
    assert parcels.parcel_flag_late(order_id=shipped.pk, promised_by=promised) is False
    assert Parcel.objects.get(order=shipped).promise_missed is True
    task = OperationsTask.objects.get(order=shipped)
    assert task.kind == OperationsTask.Kind.PARCEL_LATE and "2026-11-25 08:00" in task.text
    assert len(mail.outbox) == 1
    assert mail.outbox[0].subject == f"Parcel late: {shipped.number}"
    assert mail.outbox[0].to == ["ops@desk.example"], "operations staff only"


def test_events_for_an_unknown_order_are_refused(db):
    with pytest.raises(OrderNotFound):
        record(type("Gone", (), {"pk": 999_999})(), carrier_event("e1", shipment.PARCEL_IN_TRANSIT, 1))


def test_a_task_is_resolved_once(shipped, manager, manager2):
    parcels.parcel_flag_late(order_id=shipped.pk, promised_by=T0.isoformat())
    task = OperationsTask.objects.get()
    parcels.operations_task_resolve(task_id=task.pk, user=manager)
    with pytest.raises(OrderError, match="already resolved by manager"):
        parcels.operations_task_resolve(task_id=task.pk, user=manager2)
    task.refresh_from_db()
    assert task.resolved_by == manager and task.resolved_at is not None
    assert not parcels.open_operations_tasks().exists()


def test_the_workflow_input_carries_the_delivery_settings(settings, make_order):
    settings.ORDER_DESK_TRACK_DELIVERY = True
    settings.ORDER_DESK_DELIVERY_PROMISE_DAYS = 3.5
    settings.ORDER_DESK_CARRIER = "FastBox"
    inp = services.workflow_input_for(make_order())
    assert (inp.track_delivery, inp.delivery_promise_days, inp.carrier) == (True, 3.5, "FastBox")


# --- Pages ---------------------------------------------------------------------------------


def test_the_order_page_shows_where_the_parcel_is_and_its_events(client, clerk, fake_temporal, shipped):
    record(shipped, carrier_event("e1", shipment.PARCEL_IN_TRANSIT, 1, "Leipzig hub"))
    record(shipped, carrier_event("e2", shipment.PARCEL_OUT_FOR_DELIVERY, 20, "Berlin-Mitte", "With the driver"))
    parcels.parcel_flag_late(order_id=shipped.pk, promised_by=T0.isoformat())
    html = logged_in(client, clerk).get(url("detail", shipped)).content.decode()
    panel = html[html.index('id="parcel"'):]
    assert 'data-parcel-status="out_for_delivery"' in html
    assert "Out for delivery" in panel and "Berlin-Mitte" in panel and "With the driver" in panel and "Leipzig hub" in panel
    assert "2026-11-21 04:00" in panel  # the last event's time
    assert "2026-11-25 08:00" in panel and "data-late" in panel
    assert "TRK-1" in panel and "Parcelo" in panel


def test_the_parcel_card_refreshes_until_the_journey_ends(client, clerk, fake_temporal, shipped, make_order):
    c = logged_in(client, clerk)
    card = c.get(url("parcel", shipped), headers=HTMX)
    assert card.status_code == 200 and 'hx-trigger="every 15s"' in card.content.decode()
    record(shipped, carrier_event("e1", shipment.PARCEL_DELIVERED, 8, "Front door"))
    card = c.get(url("parcel", shipped), headers=HTMX).content.decode()
    assert "Front door" in card and "Delivered" in card and "hx-trigger" not in card, "a delivered parcel is not polled"
    assert c.get(url("parcel", make_order()), headers=HTMX).status_code == 404
    assert c.get(url("parcel", 999_999), headers=HTMX).status_code == 404
    assert c.get(url("parcel", shipped)).status_code == 302  # without htmx: the order page


def test_an_order_without_a_parcel_has_no_parcel_panel(client, clerk, fake_temporal, make_order):
    html = logged_in(client, clerk).get(url("detail", make_order())).content.decode()
    assert 'id="parcel"' not in html


def test_the_list_shows_each_parcel_and_filters_the_late_ones(client, clerk, fake_temporal, shipped, make_order):
    record(shipped, carrier_event("e1", shipment.PARCEL_IN_TRANSIT, 1, "Leipzig hub"))
    on_time = make_order(status=states.IN_TRANSIT)
    parcels.parcel_open(order_id=on_time.pk, carrier="Parcelo", tracking_number="TRK-2", promised_by=T0.isoformat())
    plain = make_order()
    parcels.parcel_flag_late(order_id=shipped.pk, promised_by=T0.isoformat())
    c = logged_in(client, clerk)

    everything = c.get("/orders/")
    assert [o.number for o in everything.context["page"].orders] == [plain.number, on_time.number, shipped.number]
    assert "Leipzig hub" in everything.content.decode()

    late = c.get("/orders/", {"late": "on"})
    assert late.status_code == 200
    assert [o.number for o in late.context["page"].orders] == [shipped.number]
    assert "Late</span>" in late.content.decode()


def test_the_list_reads_parcels_in_one_query(client, clerk, fake_temporal, make_order, django_assert_max_num_queries):
    for i in range(5):
        order = make_order(status=states.IN_TRANSIT)
        parcels.parcel_open(order_id=order.pk, carrier="Parcelo", tracking_number=f"TRK-{i}", promised_by="")
    c = logged_in(client, clerk)
    c.get("/orders/")  # warm the session and the worker banner's cache
    # Session, user, permissions, the page of orders, their parcels (one query:
    # a split order has several), the clerk's "Questions for you", and the hold
    # banner's two (the pause, the breakers): however many parcels there are.
    with django_assert_max_num_queries(8):
        assert c.get("/orders/").status_code == 200


def test_staff_resolve_an_operations_task_from_the_operations_page(client, manager, fake_temporal, shipped):
    record(shipped, carrier_event("e1", shipment.PARCEL_RETURNED, 3, "Sender", "Refused by the recipient"))
    task = OperationsTask.objects.get()
    c = logged_in(client, manager)
    page = c.get(reverse("ops")).content.decode()
    section = page[page.index('id="operations-tasks"'):]
    assert "Refused by the recipient" in section and "Parcel returned" in section
    assert f'action="{reverse("ops_task_resolve", args=[task.pk])}"' in section

    response = c.post(reverse("ops_task_resolve", args=[task.pk]), follow=True)
    assert response.status_code == 200
    assert "Resolved:" in response.content.decode()
    task.refresh_from_db()
    assert task.resolved_by == manager
    assert "Refused by the recipient" not in response.content.decode().split('id="operations-tasks"')[1].split("</section>")[0]

    again = c.post(reverse("ops_task_resolve", args=[task.pk]), follow=True)
    assert "already resolved by manager" in again.content.decode()


def test_only_staff_may_resolve_a_task_and_bad_requests_get_no_500(client, clerk, manager, fake_temporal, shipped):
    parcels.parcel_flag_late(order_id=shipped.pk, promised_by=T0.isoformat())
    task = OperationsTask.objects.get()
    assert logged_in(client, clerk).post(reverse("ops_task_resolve", args=[task.pk])).status_code == 403
    task.refresh_from_db()
    assert task.resolved_at is None
    c = logged_in(client, manager)
    assert c.get(reverse("ops_task_resolve", args=[task.pk])).status_code == 405
    missing = c.post(reverse("ops_task_resolve", args=[999_999]), follow=True)
    assert missing.status_code == 200 and "No such operations task." in missing.content.decode()


# --- A split order: one parcel per warehouse ---------------------------------------------------


@pytest.fixture
def split(make_order):
    """An order shipped from MAIN and EAST, each parcel opened by its own shipment workflow."""
    order = make_order(status=states.IN_TRANSIT, tracking_number="1Z7")
    for warehouse in ("MAIN", "EAST"):
        parcels.parcel_open(order_id=order.pk, carrier="Parcelo", tracking_number=f"1Z7-{warehouse}",
                            promised_by=(T0 + timedelta(days=5)).isoformat(), warehouse=warehouse)
    return order


def test_each_parcel_of_a_split_order_moves_on_its_own_events(split):
    parcels.parcel_record_event(order_id=split.pk, event=carrier_event("e1", shipment.PARCEL_DELIVERED, 2, "Front door"),
                                status=shipment.PARCEL_DELIVERED, warehouse="EAST")
    parcels.parcel_record_event(order_id=split.pk, event=carrier_event("e1", shipment.PARCEL_IN_TRANSIT, 1, "Leipzig hub"),
                                status=shipment.PARCEL_IN_TRANSIT, warehouse="MAIN")
    shipped = parcels.parcels_for(split)
    assert [(p.warehouse, p.tracking_number, p.status) for p in shipped] == [
        ("MAIN", "1Z7-MAIN", shipment.PARCEL_IN_TRANSIT), ("EAST", "1Z7-EAST", shipment.PARCEL_DELIVERED)]
    assert parcels.delivery_state(shipped) == (states.IN_TRANSIT, "MAIN in transit, EAST delivered")
    # The same carrier event id on two parcels is two events: each parcel keeps its own.
    assert ParcelEvent.objects.count() == 2


def test_a_split_parcels_late_and_returned_tasks_name_its_warehouse(split):
    parcels.parcel_flag_late(order_id=split.pk, promised_by=T0.isoformat(), warehouse="EAST")
    parcels.parcel_record_event(order_id=split.pk, event=carrier_event("r", shipment.PARCEL_RETURNED, 3, "Sender"),
                                status=shipment.PARCEL_RETURNED, warehouse="MAIN")
    texts = sorted(OperationsTask.objects.values_list("text", flat=True))
    assert texts[0].startswith(f"Parcel of {split.number} from EAST (Parcelo 1Z7-EAST) not delivered")
    assert texts[1].startswith(f"Parcel of {split.number} from MAIN (1Z7-MAIN) returned to sender")
    assert Parcel.objects.get(order=split, warehouse="MAIN").promise_missed is False


def test_the_order_page_shows_a_card_per_parcel_with_its_tracking_and_polls_each(client, clerk, fake_temporal, split):
    parcels.parcel_record_event(order_id=split.pk, event=carrier_event("e1", shipment.PARCEL_DELIVERED, 2, "Front door"),
                                status=shipment.PARCEL_DELIVERED, warehouse="EAST")
    c = logged_in(client, clerk)
    html = c.get(url("detail", split)).content.decode()
    assert 'id="parcel-MAIN"' in html and 'id="parcel-EAST"' in html and "1Z7-MAIN" in html and "1Z7-EAST" in html
    assert "Parcel from EAST" in html and "In transit: MAIN shipped, EAST delivered" in html
    assert f'hx-get="{url("parcel", split)}?warehouse=MAIN"' in html
    assert "?warehouse=EAST" not in html, "a delivered parcel is not polled"

    card = c.get(url("parcel", split), {"warehouse": "MAIN"}, headers=HTMX)
    assert card.status_code == 200 and "1Z7-MAIN" in card.content.decode() and "1Z7-EAST" not in card.content.decode()
    for bad in ("WEST", "", "x" * 5000, "MAIN\x00"):
        assert c.get(url("parcel", split), {"warehouse": bad}, headers=HTMX).status_code == 404


def test_the_list_shows_both_parcels_of_a_split_order_and_finds_it_late_by_either(client, clerk, fake_temporal, split):
    parcels.parcel_flag_late(order_id=split.pk, promised_by=T0.isoformat(), warehouse="EAST")
    c = logged_in(client, clerk)
    html = c.get("/orders/").content.decode()
    assert "<small>MAIN</small>" in html and "<small>EAST</small>" in html
    late = c.get("/orders/", {"late": "on"})
    assert [o.number for o in late.context["page"].orders] == [split.number]


# --- A parcel whose shipment workflow was stopped from outside ----------------------------------


def test_a_parcel_whose_shipment_was_terminated_is_marked_untracked_with_one_task_for_operations(
        client, manager, fake_temporal, split):
    assert parcels.parcel_mark_untracked(order_id=split.pk, how="terminated", warehouse="EAST") is True
    assert parcels.parcel_mark_untracked(order_id=split.pk, how="terminated", warehouse="EAST") is False, "once"
    east = Parcel.objects.get(order=split, warehouse="EAST")
    assert east.get_status_display() == "No longer tracked"
    [task] = OperationsTask.objects.all()
    assert (task.kind, task.text) == (OperationsTask.Kind.PARCEL_UNTRACKED,
                                      f"Parcel of {split.number} from EAST (1Z7-EAST) no longer tracked: its shipment workflow was "
                                      "terminated outside the desk, so its carrier events are not followed; check it with the carrier")
    c = logged_in(client, manager)
    ops = c.get(reverse("ops")).content.decode()
    section = ops[ops.index('id="operations-tasks"'):]
    assert "Parcel no longer tracked" in section and "1Z7-EAST" in section
    html = c.get(url("detail", split)).content.decode()
    card = html[html.index('id="parcel-EAST"') - 20:].split("</section>")[0]
    assert "No longer tracked" in card and "hx-get" not in card, "a parcel nobody follows is not polled"
    assert "In transit: MAIN shipped, EAST no longer tracked" in html


def test_a_parcel_that_ended_its_journey_is_not_marked_untracked(split):
    parcels.parcel_record_event(order_id=split.pk, event=carrier_event("d", shipment.PARCEL_DELIVERED, 2), status=shipment.PARCEL_DELIVERED,
                                warehouse="MAIN")
    assert parcels.parcel_mark_untracked(order_id=split.pk, how="terminated", warehouse="MAIN") is False
    assert Parcel.objects.get(order=split, warehouse="MAIN").status == shipment.PARCEL_DELIVERED
    assert not OperationsTask.objects.exists()
