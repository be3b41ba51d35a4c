"""What an approver needs to decide without opening three pages: what is
ordered (the first lines and how many more), the priority, the service-level
time left, and one sentence saying why this person is asked.

The same sentence appears in the inbox row, on the order page and in the
e-mails. Reads for a whole page of orders cost the same few queries whatever
the page's size (the lines in one, the approvals so far in one).
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser

from approvals import selectors
from orders.inventory import selectors as inventory
from orders.models import Order, OrderLine
from temporal_bridge.approvals import rules
from temporal_bridge.approvals.messages import ApprovalRule

# Lines named in a row; the rest are counted.
FIRST_LINES = 2


@dataclass(frozen=True)
class InboxRow:
    order: Order
    approved: int
    lines: list[OrderLine]
    more_lines: int
    sla_due: datetime
    why: str
    plan: inventory.OrderPlan | None  # where it ships from (split across warehouses or not)

    @property
    def what(self) -> str:
        """"3 × Widget, 1 × Server and 2 more lines"."""
        named = ", ".join(f"{line.quantity} × {line.product.name}" for line in self.lines)
        more = f" and {self.more_lines} more line{'s' if self.more_lines != 1 else ''}" if self.more_lines else ""
        return named + more


def why_you(rule: ApprovalRule, *, approved: int, senior_approved: bool, you_are_senior: bool) -> str:
    """One sentence: the rule, and which part of it this person's approval would fill.

    "Large orders: 2 approvals from different managers, at least one senior; you would fill the senior slot."
    """
    name = f"{rule.policy_name}: " if rule.policy_name else ""
    needs = f"{name}{rules.awaiting_text(rule)}"
    n = rule.approvals_required
    if rule.requires_senior and not senior_approved and you_are_senior:
        part = "you would fill the senior slot"
    elif n == 1:
        part = "your decision settles it"
    elif approved + 1 >= n:
        part = f"yours would be the last of the {n} approvals"
    else:
        part = f"yours would be approval {approved + 1} of {n}"
    return f"{needs[0].upper()}{needs[1:]}; {part}."


def sla_due(order: Order) -> datetime:
    """When the approval stage's service-level target runs out (it starts at submission)."""
    return order.created_at + timedelta(hours=settings.ORDER_DESK_SLA_APPROVAL_HOURS)


def inbox_rows(orders: Sequence[Order], user: AbstractBaseUser) -> list[InboxRow]:
    """The rows of one page of orders awaiting `user`: a fixed number of queries, whatever the page's size."""
    orders = list(orders)
    lines: dict[int, list[OrderLine]] = {order.pk: [] for order in orders}
    for line in OrderLine.objects.filter(order__in=orders).select_related("product").order_by("order_id", "id"):
        lines[line.order_id].append(line)
    counts = selectors.approval_counts(orders)
    plans = inventory.order_plans(orders)
    senior = selectors.is_senior(user)
    rows = []
    for order in orders:
        approved, senior_approved = counts.get(order.pk, (0, False))
        own = lines[order.pk]
        rows.append(InboxRow(
            order=order, approved=approved, lines=own[:FIRST_LINES], more_lines=max(0, len(own) - FIRST_LINES), sla_due=sla_due(order),
            why=why_you(selectors.order_rule(order), approved=approved, senior_approved=senior_approved, you_are_senior=senior),
            plan=plans.get(order.pk),
        ))
    return rows


def order_why_you(order: Order, user: AbstractBaseUser) -> str:
    """The sentence for one order and one approver (the order page, an e-mail)."""
    approved, senior_approved = selectors.approval_counts([order]).get(order.pk, (0, False))
    return why_you(selectors.order_rule(order), approved=approved, senior_approved=senior_approved,
                   you_are_senior=selectors.is_senior(user))

