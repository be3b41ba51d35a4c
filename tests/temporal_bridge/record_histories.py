"""Record the histories the replay test checks, for one released workflow version.

    .venv/bin/python -m tests.temporal_bridge.record_histories v2

Run it once per release of OrderWorkflow, before changing its logic again,
and commit the files: from then on tests/temporal_bridge/test_replay.py proves
that every later version still replays them (changes to running logic go
behind workflow.patched()). Each story covers a path through the workflow.
"""
from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import django

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings_test")
django.setup()

from temporal_bridge import messages as m  # noqa: E402
from tests.temporal_bridge.helpers import MANAGER, ActivityMocks, Scenario, SharedTimeSkippingEnv, order_input  # noqa: E402

HISTORIES = Path(__file__).parent / "histories"


async def approved_and_fulfilled(s: Scenario):
    handle = await s.start(order_input())
    await s.wait_for_message(handle, "Awaiting a manager's decision")
    await handle.signal(m.SIGNAL_UPDATE, m.UpdateSignal(MANAGER, "update-1", priority="high", note="Leave at the dock"))
    await handle.signal(m.SIGNAL_APPROVE, m.DecisionSignal(MANAGER, "approve-1", "ok"))
    await handle.result()
    return handle


async def auto_approved(s: Scenario):
    handle = await s.start(order_input(requires_approval=False))
    await handle.result()
    return handle


async def rejected(s: Scenario):
    handle = await s.start(order_input())
    await s.wait_for_message(handle, "Awaiting a manager's decision")
    await handle.signal(m.SIGNAL_REJECT, m.DecisionSignal(MANAGER, "reject-1", "Too expensive"))
    await handle.result()
    return handle


async def expired(s: Scenario):
    handle = await s.start(order_input())
    await handle.result()  # time skipping runs the 48 h deadline out
    return handle


async def cancelled_during_fulfilment(s: Scenario):
    handle = await s.start(order_input(requires_approval=False))
    await s.wait_for(handle, lambda snap: snap.progress == 25, "fulfilment at 25%")
    await handle.signal(m.SIGNAL_CANCEL, m.CancelSignal(MANAGER, "cancel-1", "Customer changed their mind"))
    await s.wait_for_terminal(handle)
    return handle


async def payment_declined(s: Scenario):
    handle = await s.start(order_input(requires_approval=False))
    await handle.result()
    return handle


STORIES = {
    "approved_and_fulfilled": (approved_and_fulfilled, ActivityMocks()),
    "auto_approved": (auto_approved, ActivityMocks()),
    "rejected": (rejected, ActivityMocks()),
    "expired": (expired, ActivityMocks()),
    "cancelled_during_fulfilment": (cancelled_during_fulfilment, ActivityMocks(fulfil_progress=[(25, "Picking items")], fulfil_blocks=True)),
    "payment_declined": (payment_declined, ActivityMocks(payment_declined="Payment declined: 1250.00 EUR exceeds the credit limit")),
}


def main(version: str) -> None:
    target = HISTORIES / version
    target.mkdir(parents=True, exist_ok=True)
    env = SharedTimeSkippingEnv()
    try:
        for name, (story, mocks) in STORIES.items():
            async def record(s: Scenario, story=story):
                handle = await story(s)
                history = await handle.fetch_history()
                return history.to_json_dict()

            history, _ = env.play(record, mocks)
            (target / f"{name}.json").write_text(json.dumps(history, indent=1) + "\n")
            print(f"recorded {target / name}.json ({len(history['events'])} events)")
    finally:
        env.close()


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "v1")
