"""Record the histories of the withdrawal paths (behind workflow.patched("withdraw-approval")) into histories/1.2:

    .venv/bin/python -m tests.temporal_bridge.record_decide_histories

The replay test then proves every later version still replays them, as it
does the stories of record_histories.py.
"""
from __future__ import annotations

import os

import django

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings_test")
django.setup()

from temporal_bridge.approvals.messages import ApprovalRule  # noqa: E402
from temporal_bridge.order import messages as m  # noqa: E402
from temporal_bridge.order import withdrawal  # noqa: E402
from tests.temporal_bridge.helpers import MANAGER, ActivityMocks, Scenario, order_input  # noqa: E402
from tests.temporal_bridge.record_histories import HISTORIES, record  # noqa: E402

HOUR = 3600
LARGE = ApprovalRule(policy_id=3, policy_name="Large orders", approvals_required=2, requires_senior=True,
                     remind_after_seconds=24 * HOUR, escalate_after_seconds=36 * HOUR, expire_after_seconds=48 * HOUR)


async def approval_withdrawn_then_quorum(s: Scenario):
    """The senior withdraws, the slot is theirs again; a manager's approval is refused, the senior's completes it;
    a withdrawal after the quorum is refused."""
    handle = await s.start(order_input(total="50000.00", approval_rule=LARGE, approval_deadline_seconds=48 * HOUR))
    await s.wait_for_message(handle, "Awaiting 2 approvals")
    await handle.signal(m.SIGNAL_APPROVE, m.DecisionSignal("senior", "approve-1", "ok"))
    await s.wait_for_message(handle, "Approval 1 of 2 by senior")
    await handle.signal(withdrawal.SIGNAL_WITHDRAW_APPROVAL, m.DecisionSignal("senior", "withdraw-1", "Wrong customer"))
    await handle.signal(withdrawal.SIGNAL_WITHDRAW_APPROVAL, m.DecisionSignal("manager2", "withdraw-2", "Not mine"))
    await s.wait_for_message(handle, "Approval by senior withdrawn")
    await handle.signal(m.SIGNAL_APPROVE, m.DecisionSignal(MANAGER, "approve-2", ""))
    await s.wait_for_message(handle, "Approval 1 of 2 by manager")
    await handle.signal(m.SIGNAL_APPROVE, m.DecisionSignal("manager2", "approve-3", ""))
    await s.wait_for_message(handle, "Approval by manager2 ignored")
    await handle.signal(m.SIGNAL_APPROVE, m.DecisionSignal("senior", "approve-4", "Right customer now"))
    await s.wait_for(handle, lambda snap: snap.state != "pending_approval", "the order moving on")
    await handle.signal(withdrawal.SIGNAL_WITHDRAW_APPROVAL, m.DecisionSignal(MANAGER, "withdraw-3", "Too late"))
    await handle.result()
    return handle


STORIES = {"decide_approval_withdrawn_then_quorum": (approval_withdrawn_then_quorum, ActivityMocks())}


if __name__ == "__main__":
    (HISTORIES / "1.2").mkdir(exist_ok=True)
    record(HISTORIES / "1.2", STORIES, plain=True)
