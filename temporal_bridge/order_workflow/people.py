"""The messages people send to an order's workflow, and the rules that decide
whether each one counts: a mixin of OrderWorkflow (workflow.py).

Anyone who reaches the Temporal frontend can send any signal, so every
handler here (1) decodes its message defensively (temporal_bridge.
message_checks: no shape of message can fail a workflow task), (2) refuses
what cannot count and notes why on the timeline, (3) confirms against the
database that the desk recorded the request and that its sender still has
the right, never from the message, and (4) records its verdict per request
id, which the `verdict` query returns to the page that sent it (requests.py;
the decision rules themselves are decision_rules.py).

Deterministic and free of Django, like the workflow itself.
"""
from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from temporalio import workflow
from temporalio.common import RawValue

with workflow.unsafe.imports_passed_through():
    from temporal_bridge import approval_rules as rules
    from temporal_bridge import message_checks as checks
    from temporal_bridge import messages as m
    from temporal_bridge import states
    from temporal_bridge.order_workflow import decision_rules
    from temporal_bridge.order_workflow import refusals as kinds
    from temporal_bridge.order_workflow.gate import ApprovalGate
    from temporal_bridge.order_workflow.legacy_gate import SingleDecisionGate
    from temporal_bridge.order_workflow.refusals import Refusals
    from temporal_bridge.order_workflow.requests import Requests
    from temporal_bridge.order_workflow.timeline import Timeline
    from temporal_bridge.workflow_policies import MIRROR_RETRY, SHORT_STEP

# Issue 9: identities checked against the database, the address locked once
# fulfilment starts, re-approval after an address change. Runs whose history
# has no marker (v1-v3, or a v3 run that already handled a message before its
# worker was upgraded) keep their old rules, so their histories replay.
ENGINE_RULES_PATCH = "engine-rules-v4"
# An approval whose identity check was under way while the shipping address
# changed approved the old address: it no longer counts. Asked only when that
# happens, so runs that never met the race (every stored history) replay as
# they were; a v4 run that met it without the marker keeps its old outcome.
APPROVAL_VOIDED_BY_MOVE_PATCH = "approval-voided-by-move-v4-1"
# Runs without the v4 identity check (v1-v3) cannot confirm a delegation.
_PREDATES_DELEGATION = "{word} by {who} refused: this order's workflow predates delegation; decide as yourself"


class PeoplesMessages:
    """Signal handlers and the verdict query of OrderWorkflow (see module doc)."""

    _input: m.OrderWorkflowInput
    s: m.OrderState
    timeline: Timeline
    gate: ApprovalGate
    legacy_gate: SingleDecisionGate
    refusals: Refusals
    requests: Requests

    def _quorum(self) -> bool:
        raise NotImplementedError  # OrderWorkflow's

    def _intents(self) -> bool:
        raise NotImplementedError  # OrderWorkflow's

    def _now(self) -> str:
        return workflow.now().isoformat()

    # --- Signals ------------------------------------------------------------------------

    # Every handler takes *args: the SDK then decodes the payloads as plain
    # JSON, whatever their number, and message_checks validates the shape.
    @workflow.signal(name=m.SIGNAL_APPROVE)
    async def approve(self, *args: Any) -> None:
        await self._take(args, lambda a: checks.parse_decision(a, "Approval"), lambda s: self._on_decision("approved", s))

    @workflow.signal(name=m.SIGNAL_REJECT)
    async def reject(self, *args: Any) -> None:
        await self._take(args, lambda a: checks.parse_decision(a, "Rejection"), lambda s: self._on_decision("rejected", s))

    @workflow.signal(name=m.SIGNAL_CANCEL)
    async def cancel(self, *args: Any) -> None:
        await self._take(args, checks.parse_cancel, self._cancel_request)

    @workflow.signal(name=m.SIGNAL_UPDATE)
    async def update(self, *args: Any) -> None:
        await self._take(args, checks.parse_update, self._update_request)

    @workflow.signal(name=m.SIGNAL_PROGRESS)
    def report_progress(self, *args: Any) -> None:
        progress = checks.parse_progress(args)
        # Late reports (after a cancel or the end) must not move the bar back.
        s = self.s
        if progress is not None and s.state == states.FULFILLING and not s.fulfilment_done:
            s.progress = max(s.progress, progress.percent)
            s.step = progress.step

    @workflow.signal(dynamic=True)
    async def unknown_message(self, name: str, args: Sequence[RawValue]) -> None:
        # Without this, the SDK would buffer unknown signals in memory forever.
        await self._ignore_unknown(name)

    async def _ignore_unknown(self, name: str) -> None:
        text = f"Message {checks.display(name)!r} ignored: the order workflow has no such message"
        if self._intents():
            return await self.refusals.note(kinds.UNKNOWN, text, "")
        await self.requests.note(text, "")

    @workflow.query(name=m.QUERY_VERDICT)
    def verdict(self, request_id: str) -> m.RequestVerdict:
        return self.requests.verdict(request_id)

    # --- Shared steps ----------------------------------------------------------------------

    async def _take(self, args: Sequence[Any], parse: Callable[[Sequence[Any]], Any], handle: Callable[[Any], Awaitable[None]]) -> None:
        try:
            message = parse(args)
        except checks.Refused as refused:
            # A malformed message claims no request id: an attacker must not be
            # able to burn the id a real page is about to send.
            if self._intents():
                return await self.refusals.note(kinds.MALFORMED, refused.reason, refused.actor)
            return await self.requests.note(refused.reason, refused.actor)
        await handle(message)

    # --- Approve and reject --------------------------------------------------------------

    async def _on_decision(self, verdict: str, signal: m.DecisionSignal) -> None:
        if self._quorum():
            await self._decide_v2(verdict, signal)
        else:
            await self._decide(verdict, signal)

    async def _decide(self, verdict: str, signal: m.DecisionSignal) -> None:
        """The v1 gate (one decision), for runs started before approval policies."""
        name = m.SIGNAL_APPROVE if verdict == "approved" else m.SIGNAL_REJECT
        if self.requests.is_repeat(signal.request_id, name):
            return
        refusal = self.legacy_gate.refusal(verdict, signal)
        if refusal is None and signal.on_behalf_of:
            refusal = _PREDATES_DELEGATION.format(word="Decision", who=decision_rules.who(signal))
        if refusal is not None:
            return await self.requests.refuse(signal.request_id, refusal, signal.actor, name)
        self.legacy_gate.decision = (verdict, signal)
        self.s.decisions.append(m.DecisionRecord(signal.actor, verdict, signal.comment, self._now(), signal.request_id))
        self.requests.set_verdict(signal.request_id, m.VERDICT_ACCEPTED, action=name)
        await self._record_decision(verdict, signal, senior=False)

    async def _decide_recorded(self, verdict: str, signal: m.DecisionSignal) -> None:
        """Accept a decision the desk recorded and that counts; refuse (and note why) one that does not."""
        name = m.SIGNAL_APPROVE if verdict == "approved" else m.SIGNAL_REJECT
        address = self.s.shipping_address

        def refusal_of(senior: bool | None) -> str | None:
            refusal = decision_rules.refusal(self.s, self._input, self.gate, verdict, signal, senior)
            if refusal is None and senior is not None and verdict == "approved" and self.s.shipping_address != address:
                refusal = (f"Approval by {signal.actor} refused: the shipping address changed while it was being checked; "
                           "approve the new address")
            return refusal

        check = await self.requests.confirmed(name, signal, "Approval" if verdict == "approved" else "Rejection", refusal_of)
        if check is not None:
            await self._accept_decision(verdict, signal, check.senior)

    async def _decide_v2(self, verdict: str, signal: m.DecisionSignal) -> None:
        """Accept a decision that counts; refuse (and note why) one that does not."""
        if self._intents():
            return await self._decide_recorded(verdict, signal)
        actor, request_id = signal.actor, signal.request_id
        name = m.SIGNAL_APPROVE if verdict == "approved" else m.SIGNAL_REJECT
        word = "Approval" if verdict == "approved" else "Rejection"
        if self.requests.is_repeat(request_id, name):
            return await self.requests.note(f"{word} by {actor} ignored: request {request_id} was already received", actor)
        if not workflow.patched(ENGINE_RULES_PATCH):
            senior = signal.senior  # v3: the sender's word, as it was then
            refusal = decision_rules.refusal(self.s, self._input, self.gate, verdict, signal, senior)
            if refusal is None and signal.on_behalf_of:  # v3 checked no identity: nobody stands in for another there
                refusal = _PREDATES_DELEGATION.format(word=word, who=decision_rules.who(signal))
        else:
            # The cheap checks first, then the database, then all checks again:
            # other messages may have changed the order while it answered.
            senior, refusal = None, decision_rules.refusal(self.s, self._input, self.gate, verdict, signal, None)
            if refusal is None:
                address = self.s.shipping_address
                # The substitute's own seniority (check.senior) decides a senior slot.
                check = await self.requests.verified(name, actor, request_id, signal.on_behalf_of)
                senior = check.senior
                if not check.allowed:
                    refusal = f"{word} by {decision_rules.who(signal)} refused: {check.reason}"
                else:
                    refusal = decision_rules.refusal(self.s, self._input, self.gate, verdict, signal, senior)
                if (refusal is None and verdict == "approved" and self.s.shipping_address != address
                        and workflow.patched(APPROVAL_VOIDED_BY_MOVE_PATCH)):
                    refusal = (f"Approval by {actor} refused: the shipping address changed while it was being checked; "
                               "approve the new address")
        if refusal is not None:
            return await self.requests.refuse(request_id, refusal, actor, name)
        await self._accept_decision(verdict, signal, bool(senior))

    async def _accept_decision(self, verdict: str, signal: m.DecisionSignal, senior: bool) -> None:
        s, rule, actor, who = self.s, self.gate.rule, signal.actor, decision_rules.who(signal)
        s.decisions.append(m.DecisionRecord(actor, verdict, signal.comment, self._now(), signal.request_id, senior=senior,
                                            on_behalf_of=signal.on_behalf_of))
        action = m.SIGNAL_APPROVE if verdict == "approved" else m.SIGNAL_REJECT
        self.requests.set_verdict(signal.request_id, m.VERDICT_ACCEPTED, action=action)
        entry = None
        if verdict == "rejected":
            s.rejection = signal
        else:
            s.approvals.append(m.CarriedApproval(actor, senior))
            if rule.approvals_required > 1 or rule.requires_senior:
                # The tally goes on the timeline before the gate reacts to it.
                k, n = len(s.approvals), rule.approvals_required
                needed = rules.still_needed(rule, self.gate.senior_flags())
                entry = self.timeline.add(
                    "decision", f"Approval {k} of {n} by {who}{' (senior)' if senior else ''}"
                    + (f": {signal.comment}" if signal.comment else "") + (f"; {needed}" if needed else ""), actor=actor,
                )
                s.step = self.gate.waiting_step() if needed else s.step
        if entry is None and signal.on_behalf_of:
            # The gate's own entry names the actor alone: say whom they stood in for.
            entry = self.timeline.add("decision", f"{'Approved' if verdict == 'approved' else 'Rejected'} by {who}"
                                      + (f": {signal.comment}" if signal.comment else ""), actor=actor)
        # From v5 the entry is written in the decision's own transaction.
        if self._intents() and (verdict == "rejected" or self.gate.decided()):
            # The gate moves on at once: the decision is written by the order's
            # next step, in that step's transaction (one activity and one
            # workflow task fewer per decided order). An approval the order
            # must wait beyond is written now: people see it while it waits.
            if entry is not None:
                self.s.unwritten.append(entry)
            self.s.unwritten_decisions.append(self._decision_input(verdict, signal, senior, []))
            return
        together = self.timeline.lean and entry is not None
        await self._record_decision(verdict, signal, senior=senior, entries=[entry] if together and entry else [])
        if entry is not None and not together:
            await self.timeline.write(entry)

    async def _record_decision(self, verdict: str, signal: m.DecisionSignal, *, senior: bool, entries: list[m.MirrorInput] = ()) -> None:
        await workflow.execute_activity(
            m.ACT_RECORD_DECISION, self._decision_input(verdict, signal, senior, list(entries)),
            start_to_close_timeout=SHORT_STEP, retry_policy=MIRROR_RETRY,
        )

    def _decision_input(self, verdict: str, signal: m.DecisionSignal, senior: bool, entries: list[m.MirrorInput]) -> m.DecisionInput:
        return m.DecisionInput(self._input.order_id, signal.actor, verdict, signal.comment, signal.request_id, senior=senior,
                               on_behalf_of=signal.on_behalf_of, entries=entries)

    # --- Cancel ------------------------------------------------------------------------

    async def _cancel_request(self, signal: m.CancelSignal) -> None:
        actor, request_id = signal.actor, signal.request_id
        if self._intents():
            if await self.requests.confirmed(m.SIGNAL_CANCEL, signal, "Cancel", lambda _: self._cancel_refusal(actor)) is None:
                return
        else:
            if self.requests.is_repeat(request_id, m.SIGNAL_CANCEL):
                return
            refusal = self._cancel_refusal(actor)
            if refusal is None and workflow.patched(ENGINE_RULES_PATCH):
                check = await self.requests.verified(m.SIGNAL_CANCEL, actor, request_id)
                refusal = f"Cancel by {actor} refused: {check.reason}" if not check.allowed else self._cancel_refusal(actor)
            if refusal is not None:
                return await self.requests.refuse(request_id, refusal, actor, m.SIGNAL_CANCEL)
        entry = self.timeline.add("note", f"Cancel requested by {actor}: {signal.reason}", actor=actor)
        self.s.cancel = signal
        self.requests.set_verdict(request_id, m.VERDICT_ACCEPTED, action=m.SIGNAL_CANCEL)
        await self.timeline.write(entry)

    def _cancel_refusal(self, actor: str) -> str | None:
        s = self.s
        if s.cancel is not None:
            return f"Cancel by {actor} ignored: a cancel is already under way"
        # A fraud hold (v6) may stop an order whose fulfilment ended: nothing has shipped.
        if s.state not in states.CANCELLABLE or (s.fulfilment_done and s.state != states.ON_HOLD):
            return f"Cancel by {actor} refused: the order is {s.state} and fulfilment has ended"
        return None

    # --- Update ------------------------------------------------------------------------

    async def _update_request(self, signal: m.UpdateSignal) -> None:
        actor, request_id = signal.actor, signal.request_id
        if self._intents():
            v4 = True
            if await self.requests.confirmed(m.SIGNAL_UPDATE, signal, "Update", lambda _: self._update_refusal(signal, True)) is None:
                return
        else:
            if self.requests.is_repeat(request_id, m.SIGNAL_UPDATE):
                return
            v4 = workflow.patched(ENGINE_RULES_PATCH)
            refusal = self._update_refusal(signal, v4)
            if refusal is None and v4:
                check = await self.requests.verified(m.SIGNAL_UPDATE, actor, request_id)
                refusal = f"Update by {actor} refused: {check.reason}" if not check.allowed else self._update_refusal(signal, v4)
            if refusal is not None:
                return await self.requests.refuse(request_id, refusal, actor, m.SIGNAL_UPDATE)
        self.requests.set_verdict(request_id, m.VERDICT_ACCEPTED, action=m.SIGNAL_UPDATE)

        changes = []
        if signal.priority is not None and signal.priority != self.s.priority:
            self.s.priority = signal.priority
            changes.append(f"priority → {signal.priority}")
        reapproval = False
        if signal.shipping_address is not None and signal.shipping_address != self.s.shipping_address:
            if v4:
                old, new = checks.display(self.s.shipping_address, 120), checks.display(signal.shipping_address, 120)
                changes.append(f"shipping address “{old}” → “{new}”")
                consequence = self._address_consequence()
                reapproval = bool(consequence)
                if consequence:
                    changes.append(consequence)
            else:
                changes.append("shipping address changed")
            self.s.shipping_address = signal.shipping_address
        if signal.note is not None and signal.note != self.s.note:
            self.s.note = signal.note
            changes.append("note changed")
        if not changes:
            return
        inp, message = self._input, f"Updated by {actor}: " + ", ".join(changes)
        # From v5 the entry is written in the update's own transaction.
        entries = [self.timeline.add("update", message, actor=actor)] if self.timeline.lean else []
        await workflow.execute_activity(
            m.ACT_APPLY_UPDATE,
            m.UpdateInput(inp.order_id, actor, request_id, signal.priority, signal.shipping_address, signal.note, reapproval=reapproval,
                          entries=entries),
            start_to_close_timeout=SHORT_STEP, retry_policy=MIRROR_RETRY,
        )
        if not entries:
            await self.requests.note(message, actor, kind="update")

    def _update_refusal(self, signal: m.UpdateSignal, v4: bool) -> str | None:
        actor = signal.actor
        if self.s.state not in states.CANCELLABLE or self.s.fulfilment_done or self.s.cancel is not None:
            why = "it is being cancelled" if self.s.cancel is not None else f"the order is {self.s.state}"
            return f"Update by {actor} refused: {why}"
        address_changes = signal.shipping_address is not None and signal.shipping_address != self.s.shipping_address
        if v4 and address_changes and self.s.state == states.FULFILLING:
            return f"Update by {actor} refused: the shipping address is locked once fulfilment has started"
        return None

    def _address_consequence(self) -> str:
        """A changed address voids what the approvers said about the old one.

        After the approval, the order goes back through its rule before it
        ships; while approvals are still being collected, those given so far
        no longer count. Auto-approved orders pass their rule again at once.
        Returns what follows, for the timeline ("" when nothing does).
        """
        if not self._quorum():
            return ""
        decided = self.s.state in (states.APPROVED, states.PROCESSING, states.ON_HOLD) or (
            self.s.state == states.PENDING_APPROVAL and self.s.rejection is None and self.gate.decided())
        if decided:
            self.s.reapproval_reason = "the shipping address changed after the approval"
            return "the order goes back for approval before it ships"
        if self.s.state == states.PENDING_APPROVAL and self.s.approvals:
            self.s.approvals = []
            self.s.step = self.gate.waiting_step()
            return "the approvals given so far no longer count"
        return ""
