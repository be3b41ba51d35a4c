"""Whether an approval or a rejection can count now, by the order's own state:
the rules the workflow applies before and after the desk confirms a decision
(people.py). Pure functions of the state; no I/O, no workflow calls.
"""
from __future__ import annotations

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from temporal_bridge.approvals import rules
    from temporal_bridge.order import messages as m
    from temporal_bridge.order import states
    from temporal_bridge.order.workflow.gate import ApprovalGate


def who(signal: m.DecisionSignal) -> str:
    return f"{signal.actor} on behalf of {signal.on_behalf_of}" if signal.on_behalf_of else signal.actor


def refusal(s: m.OrderState, inp: m.OrderWorkflowInput, gate: ApprovalGate, verdict: str, signal: m.DecisionSignal,
            senior: bool | None) -> str | None:
    """Why this decision cannot count now (None: it can). `senior` None: not known yet."""
    rule, actor, delegator, name = gate.rule, signal.actor, signal.on_behalf_of, who(signal)
    word = "Approval" if verdict == "approved" else "Rejection"
    if s.state != states.PENDING_APPROVAL or gate.decided() or s.cancel is not None or rule.auto_approve:
        return f"Decision by {name} ignored: the order is no longer awaiting approval"
    if s.question is not None:
        return f"Decision by {name} refused: the order waits for {inp.requested_by}'s answer to {s.question.actor}'s question"
    if actor == inp.requested_by:
        return f"Decision by {name} ignored: the requester cannot decide on their own order"
    if delegator and delegator == inp.requested_by:
        return f"Decision by {name} ignored: {delegator} is the requester, and nobody decides on their own order"
    if any(a.actor == actor for a in s.approvals):
        return f"{word} by {name} ignored: {actor} has already approved; one person counts once"
    # Through a delegation both people count: the substitute and the one they stood in for.
    if delegator and any(a.actor == delegator for a in s.approvals):
        return f"{word} by {name} ignored: {delegator} has already approved; one person counts once"
    for approver, stood_in_for in delegated_approvals(s):
        if stood_in_for in (actor, delegator):
            return f"{word} by {name} ignored: {approver} already approved on behalf of {stood_in_for}; one person counts once"
    if verdict == "rejected" and not signal.comment.strip():
        return f"Rejection by {name} ignored: a reason is required"
    if verdict == "approved" and senior is False and rules.senior_slot_only(rule, gate.senior_flags()):
        return f"Approval by {name} ignored: the remaining approval must come from a senior approver"
    return None


def delegated_approvals(s: m.OrderState) -> list[tuple[str, str]]:
    """(approver, the delegator they approved for) of the approvals that count.

    Derived from the decision records (carried over continue-as-new), so the
    approvals keep their shape; an approver counts once per round, and their
    latest approval is the one that counts.
    """
    pairs = []
    for approval in s.approvals:
        approver = approval.actor
        record = next((d for d in reversed(s.decisions) if d.actor == approver and d.decision == "approved" and not d.withdrawn), None)
        if record is not None and record.on_behalf_of:
            pairs.append((approver, record.on_behalf_of))
    return pairs


def withdrawal_refusal(s: m.OrderState, gate: ApprovalGate, signal: m.DecisionSignal) -> str | None:
    """Why `signal.actor` cannot take their approval back now (None: they can).

    Only while the order still waits for more approvals: once the quorum is
    met the order has moved on (stock, payment), and a withdrawal would undo
    nothing. Only one's own approval, given for oneself, and with a reason.
    """
    actor = signal.actor
    if signal.on_behalf_of:
        return f"Withdrawal by {who(signal)} refused: only the approver who gave an approval can withdraw it"
    if s.approvals and rules.quorum_met(gate.rule, gate.senior_flags()):
        return f"Withdrawal by {actor} refused: the quorum was met and the order has moved on"
    if s.state != states.PENDING_APPROVAL or gate.decided() or s.cancel is not None:
        return f"Withdrawal by {actor} refused: the order is no longer awaiting approval"
    if not any(a.actor == actor for a in s.approvals):
        return f"Withdrawal by {actor} refused: {actor} has no approval on this order that counts"
    if not signal.comment.strip():
        return f"Withdrawal by {actor} refused: a reason is required"
    return None
