"""The arithmetic of an approval quorum, shared by the workflow and Django.

Free of Django and of I/O, so the workflow sandbox imports it and the views
and selectors apply exactly the same rules to the database mirror: a rule
checked twice must be the same rule.
"""
from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

from temporal_bridge.approvals.messages import ApprovalProgress, ApprovalRule


def quorum_met(rule: ApprovalRule, senior_flags: Sequence[bool]) -> bool:
    """Whether approvals from distinct people (one senior flag each) satisfy `rule`."""
    if len(senior_flags) < rule.approvals_required:
        return False
    return not rule.requires_senior or any(senior_flags)


def senior_slot_only(rule: ApprovalRule, senior_flags: Sequence[bool]) -> bool:
    """True when only a senior approver's approval can still count.

    With N required and a senior among them, a non-senior approval that
    would leave no slot for the senior is not counted: otherwise the order
    would collect N approvals and still wait.
    """
    if not rule.requires_senior or any(senior_flags):
        return False
    return rule.approvals_required - len(senior_flags) <= 1


def still_needed(rule: ApprovalRule, senior_flags: Sequence[bool]) -> str:
    """What the order still needs, in words ("" when the quorum is met)."""
    if quorum_met(rule, senior_flags):
        return ""
    remaining = max(1, rule.approvals_required - len(senior_flags))
    needs_senior = rule.requires_senior and not any(senior_flags)
    count = f"{remaining} more approval{'s' if remaining != 1 else ''}"
    if not needs_senior:
        return f"needs {count}"
    if remaining == 1:
        return f"needs a senior approver ({count})"
    return f"needs {count}, at least one from a senior approver"


def describe_rule(rule: ApprovalRule) -> str:
    """One line for the detail page, the timeline and the emails."""
    name = f"“{rule.policy_name}”: " if rule.policy_name else ""
    if rule.auto_approve:
        return f"{name}approved automatically"
    n = rule.approvals_required
    who = "1 approval" if n == 1 else f"{n} approvals from different people"
    if rule.requires_senior:
        who += ", from a senior approver" if n == 1 else ", at least one senior"
    times = []
    if rule.remind_after_seconds:
        times.append(f"reminder after {hours(rule.remind_after_seconds)}")
    if rule.escalate_after_seconds:
        times.append(f"escalation after {hours(rule.escalate_after_seconds)}")
    times.append(f"expires after {hours(rule.expire_after_seconds)}")
    return f"{name}{who}; {', '.join(times)}"


def awaiting_text(rule: ApprovalRule) -> str:
    """What the gate waits for, for the timeline ("a manager's decision")."""
    if rule.approvals_required == 1 and not rule.requires_senior:
        return "a manager's decision"
    if rule.approvals_required == 1:
        return "a senior approver's decision"
    senior = ", at least one senior" if rule.requires_senior else ""
    return f"{rule.approvals_required} approvals from different managers{senior}"


def first_expiry(rule: ApprovalRule, submitted_at: datetime) -> datetime:
    """When a new order's approval expires: its rule's window, counted from submission."""
    return submitted_at + timedelta(seconds=rule.expire_after_seconds)


def awaiting_note(rule: ApprovalRule, expire_at: datetime) -> str:
    """The gate's note on the timeline as the order starts (or restarts) to wait: what for, and by when."""
    policy = f" (policy “{rule.policy_name}”)" if rule.policy_name else ""
    return f"Awaiting {awaiting_text(rule)}{policy}, due by {expire_at:%Y-%m-%d %H:%M} UTC"


def hours(seconds: float) -> str:
    value = seconds / 3600
    if value >= 1 and float(value).is_integer():
        return f"{int(value)} h"
    if value >= 1:
        return f"{value:.1f} h"
    minutes = seconds / 60
    return f"{int(minutes)} min" if float(minutes).is_integer() else f"{minutes:.1f} min"


def single_manager_rule(*, requires_approval: bool, approval_deadline_seconds: float) -> ApprovalRule:
    """The rule of an order no approval policy covers: one manager, one deadline."""
    return ApprovalRule(auto_approve=not requires_approval, expire_after_seconds=approval_deadline_seconds)


def approval_progress(
    rule: ApprovalRule, approvals: Sequence[tuple[str, bool]], *, pending: bool, remind_at: str | None = None,
    escalate_at: str | None = None, expire_at: str | None = None, reminded: bool = False, escalated: bool = False,
) -> ApprovalProgress:
    """Where an order stands against its rule: the workflow's query and the
    database mirror both answer with this. `approvals` are (approver, senior)
    in the order they counted; `pending` is whether the gate still waits."""
    flags = [senior for _, senior in approvals]
    return ApprovalProgress(
        rule=describe_rule(rule), required=0 if rule.auto_approve else rule.approvals_required,
        approved=len(approvals), approved_by=[actor for actor, _ in approvals],
        requires_senior=rule.requires_senior, senior_approved=any(flags),
        still_needed=still_needed(rule, flags) if pending and not rule.auto_approve else "",
        remind_at=remind_at, escalate_at=escalate_at, expire_at=expire_at,
        reminded=reminded, escalated=escalated, auto_approve=rule.auto_approve,
    )
