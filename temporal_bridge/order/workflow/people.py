"""The messages people send to an order about its approval and its content:
approve, reject, cancel, update, and the fulfilment's progress reports. A
collaborator of OrderWorkflow, whose handlers delegate here.

Anyone who reaches the Temporal frontend can send any signal, so each
message here is (1) decoded defensively (intake.py), (2) refused when it
cannot count, with the reason noted on the timeline, (3) confirmed against
the database: the desk recorded the request, and its sender still has the
right, never taken from the message (requests.py), and (4) given a verdict
per request id, which the `verdict` query returns to the page that sent it.
The decision rules themselves are decision_rules.py.

Deterministic and free of Django, like the workflow itself.
"""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from temporal_bridge.approvals import rules
    from temporal_bridge.contract.decoding import display
    from temporal_bridge.contract.policies import MIRROR_RETRY, SHORT_STEP
    from temporal_bridge.order import message_checks as checks
    from temporal_bridge.order import messages as m
    from temporal_bridge.order import states
    from temporal_bridge.order.records import DecisionInput, MirrorInput
    from temporal_bridge.order.workflow import decision_rules
    from temporal_bridge.order.workflow.collaborator import MessageCollaborator


# States in which a part of the order is being packed (a partially shipped order packs its next part).
PACKING = (states.FULFILLING, states.PARTIALLY_SHIPPED)


class People(MessageCollaborator):
    # --- Messages ---------------------------------------------------------------------------

    async def approve(self, args: Sequence[Any]) -> None:
        await self._intake.take(args, lambda a: checks.parse_decision(a, "Approval"), lambda signal: self._decide("approved", signal))

    async def reject(self, args: Sequence[Any]) -> None:
        await self._intake.take(args, lambda a: checks.parse_decision(a, "Rejection"), lambda signal: self._decide("rejected", signal))

    async def cancel(self, args: Sequence[Any]) -> None:
        await self._intake.take(args, checks.parse_cancel, self._cancel)

    async def update(self, args: Sequence[Any]) -> None:
        await self._intake.take(args, checks.parse_update, self._update)

    def report_progress(self, args: Sequence[Any]) -> None:
        """The fulfilment activity's progress: shown, never acted on."""
        progress = checks.parse_progress(args)
        # Late reports (after a cancel or the end) must not move the bar back.
        s = self._s
        if progress is not None and s.state in PACKING and not s.fulfilment_done:
            s.progress = max(s.progress, progress.percent)
            s.step = progress.step

    # --- Approve and reject --------------------------------------------------------------

    async def _decide(self, verdict: str, signal: m.DecisionSignal) -> None:
        """Accept a decision the desk recorded and that counts; refuse (and note why) one that does not."""
        name = m.SIGNAL_APPROVE if verdict == "approved" else m.SIGNAL_REJECT
        address = self._s.shipping_address

        def refusal_of(senior: bool | None) -> str | None:
            refusal = decision_rules.refusal(self._s, self._inp, self._gate, verdict, signal, senior)
            if refusal is None and senior is not None and verdict == "approved" and self._s.shipping_address != address:
                refusal = (f"Approval by {signal.actor} refused: the shipping address changed while it was being checked; "
                           "approve the new address")
            return refusal

        # The substitute's own seniority (check.senior) decides a senior slot.
        check = await self._requests.confirmed(name, signal, "Approval" if verdict == "approved" else "Rejection", refusal_of)
        if check is not None:
            await self._accept_decision(verdict, signal, check.senior)

    async def _accept_decision(self, verdict: str, signal: m.DecisionSignal, senior: bool) -> None:
        s, rule, actor, who = self._s, self._gate.rule, signal.actor, decision_rules.who(signal)
        s.decisions.append(m.DecisionRecord(actor, verdict, signal.comment, workflow.now().isoformat(), signal.request_id,
                                            senior=senior, on_behalf_of=signal.on_behalf_of))
        entry = None
        if verdict == "rejected":
            s.rejection = signal
        else:
            s.approvals.append(m.CarriedApproval(actor, senior))
            if rule.approvals_required > 1 or rule.requires_senior:
                # The tally goes on the timeline before the gate reacts to it.
                k, n = len(s.approvals), rule.approvals_required
                needed = rules.still_needed(rule, self._gate.senior_flags())
                entry = self._timeline.add(
                    "decision", f"Approval {k} of {n} by {who}{' (senior)' if senior else ''}"
                    + (f": {signal.comment}" if signal.comment else "") + (f"; {needed}" if needed else ""), actor=actor,
                )
                s.step = self._gate.waiting_step() if needed else s.step
        if entry is None and signal.on_behalf_of:
            # The gate's own entry names the actor alone: say whom they stood in for.
            entry = self._timeline.add("decision", f"{'Approved' if verdict == 'approved' else 'Rejected'} by {who}"
                                       + (f": {signal.comment}" if signal.comment else ""), actor=actor)
        if verdict == "rejected" or self._gate.decided():
            # The gate moves on at once: the decision is written by the order's
            # next step, in that step's transaction (one activity and one
            # workflow task fewer per decided order).
            if entry is not None:
                s.unwritten.append(entry)
            s.unwritten_decisions.append(self._decision_input(verdict, signal, senior, []))
            return
        # An approval the order must wait beyond is written now, with its
        # entry: people see it while the order waits.
        await workflow.execute_activity(
            m.ACT_RECORD_DECISION, self._decision_input(verdict, signal, senior, [entry] if entry is not None else []),
            start_to_close_timeout=SHORT_STEP, retry_policy=MIRROR_RETRY,
        )

    def _decision_input(self, verdict: str, signal: m.DecisionSignal, senior: bool, entries: list[MirrorInput]) -> DecisionInput:
        return DecisionInput(self._inp.order_id, signal.actor, verdict, signal.comment, signal.request_id, senior=senior,
                               on_behalf_of=signal.on_behalf_of, entries=entries)

    # --- Cancel ------------------------------------------------------------------------

    async def _cancel(self, signal: m.CancelSignal) -> None:
        actor = signal.actor
        if await self._requests.confirmed(m.SIGNAL_CANCEL, signal, "Cancel", lambda _: self._cancel_refusal(actor)) is None:
            return
        entry = self._timeline.add("note", f"Cancel requested by {actor}: {signal.reason}", actor=actor)
        self._s.cancel = signal
        await self._timeline.write_now([entry])

    def _cancel_refusal(self, actor: str) -> str | None:
        s = self._s
        if s.cancel is not None:
            return f"Cancel by {actor} ignored: a cancel is already under way"
        # A fraud hold may stop an order whose fulfilment ended: nothing has shipped.
        if s.state not in states.CANCELLABLE or (s.fulfilment_done and s.state != states.ON_HOLD):
            return f"Cancel by {actor} refused: the order is {s.state} and fulfilment has ended"
        return None

    # --- Update ------------------------------------------------------------------------

    async def _update(self, signal: m.UpdateSignal) -> None:
        actor, s = signal.actor, self._s
        if await self._requests.confirmed(m.SIGNAL_UPDATE, signal, "Update", lambda _: self._update_refusal(signal)) is None:
            return
        changes = []
        if signal.priority is not None and signal.priority != s.priority:
            s.priority = signal.priority
            changes.append(f"priority → {signal.priority}")
        reapproval = False
        if signal.shipping_address is not None and signal.shipping_address != s.shipping_address:
            old, new = display(s.shipping_address, 120), display(signal.shipping_address, 120)
            changes.append(f"shipping address “{old}” → “{new}”")
            consequence = self._address_consequence()
            reapproval = bool(consequence)
            if consequence:
                changes.append(consequence)
            s.shipping_address = signal.shipping_address
        if signal.note is not None and signal.note != s.note:
            s.note = signal.note
            changes.append("note changed")
        if not changes:
            return
        # The entry is written in the update's own transaction.
        entry = self._timeline.add("update", f"Updated by {actor}: " + ", ".join(changes), actor=actor)
        await workflow.execute_activity(
            m.ACT_APPLY_UPDATE,
            m.UpdateInput(self._inp.order_id, actor, signal.request_id, signal.priority, signal.shipping_address, signal.note,
                          reapproval=reapproval, entries=[entry]),
            start_to_close_timeout=SHORT_STEP, retry_policy=MIRROR_RETRY,
        )

    def _update_refusal(self, signal: m.UpdateSignal) -> str | None:
        actor, s = signal.actor, self._s
        if s.state not in states.CANCELLABLE or s.fulfilment_done or s.cancel is not None:
            why = "it is being cancelled" if s.cancel is not None else f"the order is {s.state}"
            return f"Update by {actor} refused: {why}"
        address_changes = signal.shipping_address is not None and signal.shipping_address != s.shipping_address
        if address_changes and s.state in PACKING:
            return f"Update by {actor} refused: the shipping address is locked once fulfilment has started"
        return None

    def _address_consequence(self) -> str:
        """A changed address voids what the approvers said about the old one.

        After the approval, the order goes back through its rule before it
        ships; while approvals are still being collected, those given so far
        no longer count. Auto-approved orders pass their rule again at once.
        Returns what follows, for the timeline ("" when nothing does).
        """
        s = self._s
        decided = s.state in (states.APPROVED, states.PROCESSING, states.ON_HOLD) or (
            s.state == states.PENDING_APPROVAL and s.rejection is None and self._gate.decided())
        if decided:
            s.reapproval_reason = "the shipping address changed after the approval"
            return "the order goes back for approval before it ships"
        if s.state == states.PENDING_APPROVAL and s.approvals:
            s.approvals = []
            s.step = self._gate.waiting_step()
            return "the approvals given so far no longer count"
        return ""
