"""Record the ShipmentWorkflow histories that test_replay.py replays,
and measure how continue-as-new keeps a long delivery's history small.

    .venv/bin/python -m tests.temporal_bridge.record_shipment_histories 1.0
    .venv/bin/python -m tests.temporal_bridge.record_shipment_histories --measure

Record once per release of ShipmentWorkflow, before changing its logic again,
into a new directory named after the release, and commit the files (changes
to running logic then go behind workflow.patched()).
"""
from __future__ import annotations

import json
import os
import sys
from datetime import timedelta
from pathlib import Path

import django

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings_test")
django.setup()

from temporalio.client import WorkflowHandle  # noqa: E402

from temporal_bridge.shipment import messages as shipment  # noqa: E402
from tests.temporal_bridge.helpers import DAY, ActivityMocks, Scenario, SharedTimeSkippingEnv  # noqa: E402
from tests.temporal_bridge.shipment.test_workflow import MALFORMED, event, shipment_input, start, wait_parcel, wait_recorded  # noqa: E402

HISTORIES = Path(__file__).parent / "shipment_histories"


async def three_days(s: Scenario, *, run: str = "first") -> WorkflowHandle:
    """Events over three days, continuing as new each day, delivered on day 3."""
    handle, t0 = await start(s, shipment_input)
    first_run = (await handle.describe()).run_id
    await handle.signal(shipment.SIGNAL_CARRIER_EVENT, event("e1", shipment.PARCEL_IN_TRANSIT, t0 + timedelta(hours=1), "Leipzig hub"))
    await wait_recorded(s, 1)
    await s.env.sleep(timedelta(hours=30))
    day2 = await s.env.get_current_time()
    await handle.signal(shipment.SIGNAL_CARRIER_EVENT, event("e2", shipment.PARCEL_IN_TRANSIT, day2, "Berlin hub"))
    await handle.signal(shipment.SIGNAL_CARRIER_EVENT, event("e1", shipment.PARCEL_IN_TRANSIT, t0 + timedelta(hours=1), "Leipzig hub"))
    await wait_recorded(s, 2)
    await s.env.sleep(timedelta(hours=26))
    day3 = await s.env.get_current_time()
    await handle.signal(shipment.SIGNAL_CARRIER_EVENT, event("e3", shipment.PARCEL_OUT_FOR_DELIVERY, day3, "Berlin-Mitte"))
    await handle.signal(shipment.SIGNAL_CARRIER_EVENT, event("e2-late", shipment.PARCEL_IN_TRANSIT, day2 - timedelta(hours=2), "Dresden"))
    await wait_parcel(handle, lambda p: len(p.events) == 4, "the late event")
    await handle.signal(shipment.SIGNAL_CARRIER_EVENT, event("e4", shipment.PARCEL_DELIVERED, day3 + timedelta(hours=3)))
    await handle.result()
    return s.env.client.get_workflow_handle(handle.id, run_id=first_run) if run == "first" else handle


async def three_days_last_run(s: Scenario) -> WorkflowHandle:
    return await three_days(s, run="last")


async def hostile_late_then_returned(s: Scenario) -> WorkflowHandle:
    """Malformed and repeated signals, a missed promise, an exception, a return (one run)."""
    handle, t0 = await start(s, lambda now: shipment_input(now, promised_by=(now + timedelta(hours=12)).isoformat()))
    for args in MALFORMED:
        await handle.signal(shipment.SIGNAL_CARRIER_EVENT, args=args)
    await handle.signal("teleport_parcel", {"to": "Mars"})
    for _ in range(2):
        await handle.signal(shipment.SIGNAL_CARRIER_EVENT, event("e1", shipment.PARCEL_IN_TRANSIT, t0, "Hub"))
    await wait_recorded(s, 1)
    await s.env.sleep(timedelta(hours=14))
    await wait_parcel(handle, lambda p: p.promise_missed, "the promise flagged")
    now = await s.env.get_current_time()
    await handle.signal(shipment.SIGNAL_CARRIER_EVENT, event("e2", shipment.PARCEL_EXCEPTION, now, "Hub", "Nobody in"))
    await handle.signal(shipment.SIGNAL_CARRIER_EVENT, event("e3", shipment.PARCEL_RETURNED, now + timedelta(hours=1), "Sender"))
    await handle.result()
    return handle


async def forged_delivery_then_delivered(s: Scenario) -> WorkflowHandle:
    """A "delivered" event the intake never stored (refused, its id not burnt), then the carrier's own."""
    handle, t0 = await start(s, shipment_input)
    await handle.signal(shipment.SIGNAL_CARRIER_EVENT, event("e-forged", shipment.PARCEL_DELIVERED, t0, "Doorstep"))
    await handle.signal(shipment.SIGNAL_CARRIER_EVENT, event("e1", shipment.PARCEL_IN_TRANSIT, t0 + timedelta(hours=1), "Hub"))
    await wait_recorded(s, 1)
    s.mocks.forged_events.clear()  # the carrier's signed webhook for that id arrives
    await handle.signal(shipment.SIGNAL_CARRIER_EVENT, event("e-forged", shipment.PARCEL_DELIVERED, t0 + timedelta(hours=5), "Doorstep"))
    await handle.result()
    return handle


# Every path the workflow knows, recorded for each release.
STORIES = {"three_days": three_days, "three_days_last_run": three_days_last_run, "hostile_late_then_returned": hostile_late_then_returned,
           "forged_delivery_then_delivered": forged_delivery_then_delivered}


def record(version: str) -> None:
    target = HISTORIES / version
    target.mkdir(parents=True, exist_ok=True)
    # Unencrypted so that people can read them; the replay decodes them through the desk's codec.
    env = SharedTimeSkippingEnv(plain=True)
    try:
        for name, story in STORIES.items():
            async def capture(s: Scenario, story=story):
                return (await (await story(s)).fetch_history()).to_json_dict()

            history, _ = env.play(capture, ActivityMocks(forged_events={"e-forged"}))
            (target / f"{name}.json").write_text(json.dumps(history, indent=1) + "\n")
            print(f"recorded {target / name}.json ({len(history['events'])} events)")
    finally:
        env.close()


def measure(days: int = 10, events_per_day: int = 6) -> None:
    """History events per run of a `days`-long journey, with and without the daily hand-over."""
    env = SharedTimeSkippingEnv()
    try:
        for label, seconds in (("continue-as-new every 24 h", DAY), ("no continue-as-new", 10 * days * DAY)):
            async def journey(s: Scenario, seconds=seconds):
                handle, t0 = await start(s, lambda now: shipment_input(now, continue_as_new_after_seconds=seconds,
                                                                       promised_by=(now + timedelta(days=days + 1)).isoformat()))
                n = 0
                for _ in range(days * events_per_day):
                    n += 1
                    now = await s.env.get_current_time()
                    await handle.signal(shipment.SIGNAL_CARRIER_EVENT, event(f"e{n}", shipment.PARCEL_IN_TRANSIT, now, f"Hub {n}"))
                    await wait_recorded(s, n)
                    await s.env.sleep(timedelta(seconds=DAY / events_per_day))
                await handle.signal(shipment.SIGNAL_CARRIER_EVENT, event("done", shipment.PARCEL_DELIVERED))
                await handle.result()
                lengths, run_id = [], (await handle.describe()).run_id
                while run_id:  # walk back from the last run to the first
                    history = await s.env.client.get_workflow_handle(handle.id, run_id=run_id).fetch_history()
                    lengths.append(len(history.events))
                    started = history.events[0].workflow_execution_started_event_attributes
                    run_id = started.continued_execution_run_id
                return list(reversed(lengths))

            lengths, _ = env.play(journey, ActivityMocks(), timeout=300)
            print(f"{days} days, {days * events_per_day} carrier events, {label}: {len(lengths)} runs, "
                  f"history events per run max {max(lengths)}, total {sum(lengths)}")
    finally:
        env.close()


if __name__ == "__main__":
    if sys.argv[1:] == ["--measure"]:
        measure()
    else:
        record(sys.argv[1] if len(sys.argv) > 1 else "1.0")
