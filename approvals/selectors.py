"""Reads for approvals: which policy applies, who may still decide, what awaits whom.

All from the database mirror, never Temporal per row. The quorum arithmetic
is the workflow's own (temporal_bridge.approvals.rules), applied to the
decisions the workflow has recorded.
"""
from __future__ import annotations

from collections.abc import Iterable
from decimal import Decimal

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractBaseUser
from django.db.models import Count, Exists, F, IntegerField, OuterRef, Q, QuerySet, Subquery, Value
from django.db.models.functions import Coalesce

from approvals.models import SENIOR_PERMISSION, ApprovalDecision, ApprovalPolicy
from orders.models import Customer, Order
from orders.webhooks import services as webhooks
from orders.webhooks.models import WebhookEvent
from temporal_bridge.approvals import rules as approval_rules
from temporal_bridge.approvals.messages import ApprovalProgress, ApprovalRule
from temporal_bridge.order import messages as m
from temporal_bridge.order import payments, states

APPROVE_PERMISSION = "orders.approve_order"


def policy_for(*, total: Decimal, customer: Customer | None) -> ApprovalPolicy | None:
    """The active policy for an order of `total` by `customer`: the customer's own first."""
    # The query only narrows the candidates to the order's scope; which one
    # applies is decided by matching_policy, the same code the what-if runs.
    in_scope = Q(customer=customer) | Q(customer__isnull=True) if customer else Q(customer__isnull=True)
    return matching_policy(ApprovalPolicy.objects.filter(in_scope, active=True), total=total, customer_id=customer.pk if customer else None)


def matching_policy(policies: Iterable[ApprovalPolicy], *, total: Decimal, customer_id: int | None) -> ApprovalPolicy | None:
    """Of `policies` (saved or not), the one an order of `total` by customer `customer_id` gets.

    Pure (no queries): active, in scope (the customer's own or a general
    one), and covering the total; the customer's own wins, then the highest
    "from total", then the oldest. An unsaved policy counts as the newest.
    """
    candidates = [
        p for p in policies
        if p.active and p.customer_id in (customer_id, None)
        and p.min_total <= total and (p.max_total is None or total < p.max_total)
    ]
    return min(candidates, key=lambda p: (p.customer_id is None, -p.min_total, p.pk is None, p.pk or 0), default=None)


def approval_rule_for(*, total: Decimal, customer: Customer | None) -> ApprovalRule:
    """The rule an order submitted now gets: its policy's, else the settings' fallback."""
    return rule_for(policy_for(total=total, customer=customer), total=total)


def rule_for(policy: ApprovalPolicy | None, *, total: Decimal) -> ApprovalRule:
    """The rule an order of `total` matched to `policy` gets (pure).

    The fallback (ORDER_AUTO_APPROVE_BELOW, ORDER_APPROVAL_DEADLINE_HOURS) only
    applies when no active policy covers the total.
    """
    if policy is not None:
        return policy.as_rule()
    return ApprovalRule(
        policy_name="", auto_approve=total < settings.ORDER_AUTO_APPROVE_BELOW,
        expire_after_seconds=float(settings.ORDER_APPROVAL_DEADLINE_HOURS) * 3600,
    )


def order_rule(order: Order) -> ApprovalRule:
    """The rule frozen on `order` at submission (or the one its old fields imply)."""
    if order.approval_rule:
        return ApprovalRule(**order.approval_rule)
    return approval_rules.single_manager_rule(
        requires_approval=order.requires_approval, approval_deadline_seconds=float(settings.ORDER_APPROVAL_DEADLINE_HOURS) * 3600,
    )


def is_senior(user: AbstractBaseUser) -> bool:
    return user.has_perm(SENIOR_PERMISSION)


def counting_decisions() -> QuerySet[ApprovalDecision]:
    """Decisions that still count: not voided by a later change of address, nor withdrawn."""
    return ApprovalDecision.objects.filter(superseded=False, withdrawn_at__isnull=True)


def recorded_approvals(order: Order) -> list[ApprovalDecision]:
    return list(counting_decisions().filter(order=order, decision=ApprovalDecision.Decision.APPROVED).order_by("created_at", "id"))


def decided_by(username: str) -> Q:
    """Decisions in which `username` counts: their own, or one taken on their behalf."""
    return Q(approver_username=username) | Q(on_behalf_of_username=username)


def has_decided(order: Order, user: AbstractBaseUser) -> bool:
    return counting_decisions().filter(decided_by(user.get_username()), order=order).exists()


def senior_slot_only(order: Order) -> bool:
    """Whether only a senior approver's approval can still count on `order`."""
    if not order.requires_senior:
        return False
    return approval_rules.senior_slot_only(order_rule(order), [d.senior for d in recorded_approvals(order)])


def decision_records(order: Order) -> list[m.DecisionRecord]:
    """The decisions recorded for the order, oldest first, shaped like the workflow query's."""
    return [
        m.DecisionRecord(d.approver_username, d.decision, d.comment, d.created_at.isoformat(), d.request_id, senior=d.senior,
                         on_behalf_of=d.on_behalf_of_username, withdrawn=d.withdrawn_at is not None)
        for d in ApprovalDecision.objects.filter(order=order).order_by("created_at", "id")
    ]


def mirror_progress(order: Order) -> ApprovalProgress | None:
    """The approval gate as the mirror records it, through the workflow's own rule."""
    if not order.approval_rule:
        return None
    return approval_rules.approval_progress(
        order_rule(order), [(d.approver_username, d.senior) for d in recorded_approvals(order)],
        pending=order.status == states.PENDING_APPROVAL,
        expire_at=order.approval_deadline.isoformat() if order.approval_deadline else None, escalated=order.escalated,
    )


# --- Who decides -------------------------------------------------------------------------


def approvers() -> QuerySet:
    """Active users who may approve orders (through a group, directly, or as superusers)."""
    return get_user_model().objects.with_perm(APPROVE_PERMISSION).filter(is_active=True).order_by("username")


def senior_approvers() -> QuerySet:
    return approvers().filter(pk__in=get_user_model().objects.with_perm(SENIOR_PERMISSION).values("pk"))


def awaiting_decision(user: AbstractBaseUser, *, waiting_on_requester: bool = False) -> QuerySet[Order]:
    """Orders awaiting a decision from `user`, soonest due first.

    Pending, not their own, not already approved by them, and, for a user
    without the senior permission, not an order that only a senior approval
    can still move. An order sent back with a question waits on its
    requester, not on a decision: only with `waiting_on_requester`, and then
    only those.
    """
    decided = counting_decisions().filter(decided_by(user.get_username()), order=OuterRef("pk"))
    queryset = (
        Order.objects.filter(status=states.PENDING_APPROVAL, requires_approval=True, awaiting_answer=waiting_on_requester)
        .exclude(created_by=user)
        .exclude(Exists(decided))
    )
    if not is_senior(user):
        approvals = counting_decisions().filter(order=OuterRef("pk"), decision=ApprovalDecision.Decision.APPROVED)
        approved_count = approvals.order_by().values("order").annotate(n=Count("pk")).values("n")
        queryset = queryset.annotate(
            approved_count=Coalesce(Subquery(approved_count, output_field=IntegerField()), Value(0)),
            senior_approved=Exists(approvals.filter(senior=True)),
        ).exclude(requires_senior=True, senior_approved=False, approved_count__gte=F("approvals_required") - 1)
    return (
        queryset.select_related("customer", "created_by")
        # An order whose workflow has not recorded its deadline yet is not the
        # most urgent; say so explicitly, as SQLite and PostgreSQL place NULLs
        # at opposite ends by default.
        .order_by(F("approval_deadline").asc(nulls_last=True), "id")
    )


# The nav badge counts no further: "99+" tells a manager as much as 50,000
# would, and counting stops after 100 rows instead of reading every pending order.
BADGE_CAP = 99


def awaiting_decision_badge(user: AbstractBaseUser) -> str:
    """The nav badge: how many orders await `user`'s decision ("" for none, "99+" past the cap)."""
    n = awaiting_decision(user).order_by()[: BADGE_CAP + 1].count()
    return f"{BADGE_CAP}+" if n > BADGE_CAP else (str(n) if n else "")


def approval_counts(orders: list[Order]) -> dict[int, tuple[int, bool]]:
    """order id -> (approvals recorded, any senior) for a page of orders, in one query."""
    rows = (
        counting_decisions().filter(order__in=orders, decision=ApprovalDecision.Decision.APPROVED)
        .values("order_id").annotate(n=Count("pk"), seniors=Count("pk", filter=Q(senior=True)))
    )
    return {row["order_id"]: (row["n"], row["seniors"] > 0) for row in rows}


def fraud_holds(limit: int = 50) -> list[tuple[Order, str]]:
    """Orders held on a payment provider's fraud alert, longest held first, with the alert's reason.

    Holds of other kinds (a paused fulfilment, an open breaker) are operations',
    not managers': only orders with a fraud alert on record are tasks here.
    """
    alerts = WebhookEvent.objects.filter(order=OuterRef("pk"), provider=payments.PROVIDER_PAYMENTS, type=webhooks.FRAUD_ALERT_TYPE)
    held = list(
        Order.objects.filter(status=states.ON_HOLD).filter(Exists(alerts))
        .select_related("customer", "created_by").order_by("updated_at", "id")[:limit]
    )
    reasons = webhooks.latest_fraud_reason(order.pk for order in held)
    return [(order, reasons.get(order.pk, "")) for order in held]
