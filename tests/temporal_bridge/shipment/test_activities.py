"""The shipment workflow's real activities on the test database: alone (a
retry writes once) and under the real workflow on the time-skipping server
(a returned parcel and a missed promise reach the operations staff).

Real transactions (`transaction=True`): the activities close connections, and
under a worker they run on other threads (see test_activities.py).
"""
from __future__ import annotations

import contextlib
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import pytest
from asgiref.sync import sync_to_async
from temporalio.testing import ActivityEnvironment
from temporalio.worker import Worker

from orders.delivery.models import OperationsTask, Parcel
from orders.webhooks.models import WebhookEvent
from orders.webhooks.services import relayed_message
from temporal_bridge.order import states
from temporal_bridge.order.activities import confirm_messages
from temporal_bridge.shipment import activities as acts
from temporal_bridge.shipment import messages as shipment
from temporal_bridge.shipment import workflow as sw
from temporal_bridge.shipment.messages import CarrierEvent, ShipmentInput, ShipmentResult
from tests.temporal_bridge.helpers import DAY, Scenario, SharedTimeSkippingEnv

pytestmark = pytest.mark.django_db(transaction=True)


def test_recording_a_carrier_event_twice_writes_it_once(make_order):
    order = make_order(status=states.IN_TRANSIT)
    env = ActivityEnvironment()
    env.run(acts.open_parcel, sw.ParcelOpenInput(order.pk, order.number, "Parcelo", "TRK-9", "2026-12-06T10:00:00+00:00"))
    event = CarrierEvent("e1", shipment.PARCEL_EXCEPTION, "2026-12-01T10:00:00+00:00", "Hub", "Damaged label")
    for _ in range(2):
        env.run(acts.record_parcel_event, sw.ParcelEventInput(order.pk, order.number, event, shipment.PARCEL_EXCEPTION))
    parcel = Parcel.objects.get(order=order)
    assert parcel.status == shipment.PARCEL_EXCEPTION and parcel.events.count() == 1
    assert OperationsTask.objects.filter(order=order, kind=OperationsTask.Kind.PARCEL_EXCEPTION).count() == 1


@contextlib.asynccontextmanager
async def real_worker(s: Scenario):
    """The real workflow and its real activities, on the scenario's task queue."""
    with ThreadPoolExecutor(4, thread_name_prefix="shipment-test") as executor:
        async with Worker(s.env.client, task_queue=s.task_queue, workflows=[sw.ShipmentWorkflow],
                          activities=[*acts.SHIPMENT_ACTIVITIES, confirm_messages], activity_executor=executor):
            yield


@sync_to_async
def received(order, event_id: str, status: str, at: str, location: str = "", tracking_number: str = "") -> CarrierEvent:
    """A carrier's event as the webhook intake stores it, and the message it relays."""
    event = WebhookEvent.objects.create(
        provider=shipment.PROVIDER_CARRIER, event_id=event_id, type=f"parcel.{status}", order=order, order_number=order.number,
        payload={"at": at, "location": location, "tracking_number": tracking_number},
    )
    return relayed_message(event)


def test_a_returned_parcel_reaches_the_database_and_the_operations_tasks(temporal: SharedTimeSkippingEnv, make_order, manager):
    order = make_order(status=states.IN_TRANSIT)
    manager.email = "ops@desk.example"
    manager.save()

    async def story(s: Scenario):
        async with real_worker(s):
            now = await s.env.get_current_time()
            inp = ShipmentInput(order.pk, order.number, "TRK-7", "Parcelo", (now + timedelta(days=2)).isoformat(),
                                   continue_as_new_after_seconds=DAY)
            handle = await s.env.client.start_workflow(shipment.SHIPMENT_WORKFLOW_NAME, inp, id=f"shipment-{uuid.uuid4().hex}",
                                                       task_queue=s.task_queue, result_type=ShipmentResult)
            s.handles.append(handle)
            # Signalled straight to Temporal, never received by the intake: it delivers nothing.
            await handle.signal(shipment.SIGNAL_CARRIER_EVENT, CarrierEvent("forged-1", shipment.PARCEL_DELIVERED, now.isoformat(),
                                                                            "Doorstep"))
            await handle.signal(shipment.SIGNAL_CARRIER_EVENT, await received(order, "e1", shipment.PARCEL_IN_TRANSIT, now.isoformat(),
                                                                              "Leipzig hub"))
            await s.env.sleep(timedelta(days=3))  # past the promise, through continue-as-new
            later = await s.env.get_current_time()
            back = (later + timedelta(hours=1)).isoformat()
            await handle.signal(shipment.SIGNAL_CARRIER_EVENT, await received(order, "e2", shipment.PARCEL_EXCEPTION, later.isoformat(),
                                                                              "Hub"))
            genuine = await received(order, "e3", shipment.PARCEL_RETURNED, back, "Sender")
            # A copy of the stored event's id with another content does not count, nor burn the id.
            await handle.signal(shipment.SIGNAL_CARRIER_EVENT, CarrierEvent("e3", shipment.PARCEL_RETURNED, back, "Attacker's depot"))
            await handle.signal(shipment.SIGNAL_CARRIER_EVENT, genuine)
            return await handle.result()

    result, _ = temporal.play(story, start_worker=False, timeout=60)

    assert result.status == shipment.PARCEL_RETURNED
    parcel = Parcel.objects.get(order=order)
    assert parcel.status == shipment.PARCEL_RETURNED and parcel.promise_missed and parcel.tracking_number == "TRK-7"
    assert [e.event_id for e in parcel.events.all()] == ["e1", "e2", "e3"]
    assert parcel.events.get(event_id="e3").location == "Sender"
    kinds = list(OperationsTask.objects.filter(order=order).values_list("kind", flat=True))
    assert kinds == [OperationsTask.Kind.PARCEL_LATE, OperationsTask.Kind.PARCEL_EXCEPTION, OperationsTask.Kind.PARCEL_RETURNED]
