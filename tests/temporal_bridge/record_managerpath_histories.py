"""Record the histories of manager-approved orders whose desk wrote the gate's first note (the
"desk-notes-awaiting" marker), for the replay test.

    .venv/bin/python -m tests.temporal_bridge.record_managerpath_histories 1.4

As record_fewer_events_histories.py: a local dev server, the order's search attributes set at start, service-level
targets. The stories go to histories/<release>/managerpath_*.json.
"""
from __future__ import annotations

import asyncio
import os
import sys
import uuid
from datetime import UTC, datetime

import django

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings_test")
django.setup()

from temporalio.client import WorkflowHandle  # noqa: E402

from temporal_bridge.order import messages as m  # noqa: E402
from temporal_bridge.order import search_attributes as sa  # noqa: E402
from temporal_bridge.order.service_levels import ServiceLevelTargets  # noqa: E402
from tests.temporal_bridge.helpers import MANAGER, Scenario, order_input  # noqa: E402
from tests.temporal_bridge.record_fewer_events_histories import record_on_dev_server  # noqa: E402
from tests.temporal_bridge.record_histories import HISTORIES  # noqa: E402


def noted(**overrides) -> m.OrderWorkflowInput:
    """As order_submit starts a manager-approved order now: its first note on the mirror already."""
    return order_input(submitted_at=datetime.now(UTC).isoformat(), awaiting_noted=True, service_levels=ServiceLevelTargets(),
                       **overrides)


async def approved(s: Scenario) -> WorkflowHandle:
    handle = await s.start(noted())
    await s.wait_for(handle, lambda snap: snap.step == "Waiting for a manager's decision", "the gate's wait")
    await handle.signal(m.SIGNAL_APPROVE, m.DecisionSignal(MANAGER, "approve-1", "ok"))
    await handle.result()
    return handle


async def forged_then_cancelled(s: Scenario) -> WorkflowHandle:
    """A message no desk sent, delivered with the first task, then a cancel: the desk's note keeps entry 1."""
    inp = noted()
    attributes = sa.at_start(state="pending_approval", number=inp.order_number, customer_id=7, total=inp.total,
                             entered_at=datetime.now(UTC))
    handle = await s.env.client.start_workflow(
        m.WORKFLOW_NAME, inp, id=f"{m.workflow_id_for(inp.order_id)}-{uuid.uuid4().hex[:8]}", task_queue=s.task_queue,
        result_type=m.OrderSnapshot, search_attributes=attributes, start_signal="no_such_message", start_signal_args=["forged"])
    s.handles.append(handle)
    await handle.signal(m.SIGNAL_CANCEL, m.CancelSignal(actor=MANAGER, request_id="cancel-1", reason="Not needed"))
    await handle.result()
    return handle


async def expired(s: Scenario) -> WorkflowHandle:
    """Nobody decides: the order expires its (short) window after the submission."""
    handle = await s.start(noted(approval_deadline_seconds=2))
    await handle.result()
    return handle


STORIES = {
    "managerpath_desk_noted_approved": approved,
    "managerpath_desk_noted_forged_then_cancelled": forged_then_cancelled,
    "managerpath_desk_noted_expired": expired,
}


def main(version: str) -> None:
    target = HISTORIES / version
    target.mkdir(parents=True, exist_ok=True)
    asyncio.run(record_on_dev_server(target, STORIES))


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: python -m tests.temporal_bridge.record_managerpath_histories <release, e.g. 1.4>")
    main(sys.argv[1])
