"""An approver takes back their own approval while the order still waits for
more. A collaborator of OrderWorkflow, beside people.py's decisions.

Like every person's message it is decoded defensively (intake.py), counts
only once the desk confirms the request and its sender (requests.py), and
gets a verdict per request id. Accepted, the approval leaves the count, so
the quorum and the senior slot are recomputed from what remains (gate.py);
its decision record stays, marked withdrawn, and the timeline says so.

Deterministic and free of Django, like the workflow itself.
"""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from temporal_bridge.approvals import rules
    from temporal_bridge.contract.policies import MIRROR_RETRY, SHORT_STEP
    from temporal_bridge.order import message_checks as checks
    from temporal_bridge.order import messages as m
    from temporal_bridge.order import withdrawal
    from temporal_bridge.order.records import DecisionInput
    from temporal_bridge.order.workflow import decision_rules
    from temporal_bridge.order.workflow.collaborator import MessageCollaborator


class Withdrawals(MessageCollaborator):
    async def withdraw(self, args: Sequence[Any]) -> None:
        if not workflow.patched(withdrawal.PATCH_WITHDRAW_APPROVAL):
            # Before this handler existed the message was an unknown one.
            return await self._intake.ignore_unknown(withdrawal.SIGNAL_WITHDRAW_APPROVAL)
        await self._intake.take(args, lambda a: checks.parse_decision(a, "Withdrawal"), self._withdraw)

    async def _withdraw(self, signal: m.DecisionSignal) -> None:
        check = await self._requests.confirmed(
            withdrawal.SIGNAL_WITHDRAW_APPROVAL, signal, "Withdrawal",
            lambda _: decision_rules.withdrawal_refusal(self._s, self._gate, signal),
        )
        if check is None:
            return
        s, actor, reason = self._s, signal.actor, signal.comment.strip()
        s.approvals = [a for a in s.approvals if a.actor != actor]
        # The approval's record stays, marked; the latest that still counted is the one taken back.
        record = next((d for d in reversed(s.decisions) if d.actor == actor and d.decision == "approved" and not d.withdrawn), None)
        if record is not None:
            record.withdrawn = True
        rule = self._gate.rule
        needed = rules.still_needed(rule, self._gate.senior_flags())
        entry = self._timeline.add(
            "decision", f"Approval by {actor} withdrawn: {reason}; {len(s.approvals)} of {rule.approvals_required} approvals"
            + (f", {needed}" if needed else ""), actor=actor,
        )
        s.step = self._gate.waiting_step()
        await workflow.execute_activity(
            m.ACT_RECORD_DECISION,
            DecisionInput(self._inp.order_id, actor, withdrawal.WITHDRAWN, reason, signal.request_id,
                          withdraws=record.request_id if record is not None else "", entries=[entry]),
            start_to_close_timeout=SHORT_STEP, retry_policy=MIRROR_RETRY,
        )
