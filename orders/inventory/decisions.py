"""What becomes of the lines no warehouse holds, as a person chose (or a
backorder's deadline decided): dropped lines leave the total, backordered
ones wait for a restock, filled ones were reserved when stock came.

A dropped line changes the total before the payment is taken, so the charge
is for what remains. When the remaining total falls under another approval
rule than the one the approvers saw, the order's rule becomes the new one
and the workflow sends the order back for approval under it.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import datetime
from decimal import Decimal

from django.db import transaction
from django.db.models import F, Sum
from django.utils import timezone

from approvals import selectors as approvals
from orders.amounts import MONEY_PLACES, money
from orders.inventory.models import Backorder
from orders.inventory.services import default_warehouse
from orders.models import Order, OrderLine, StockReservation
from temporal_bridge.approvals.messages import ApprovalRule
from temporal_bridge.order import stock_decisions as sd
from temporal_bridge.order.split_plan import PlannedLine

CENT = Decimal(1).scaleb(-MONEY_PLACES)


@dataclass
class DecisionApplied:
    total: Decimal
    lines_left: int
    # The approval rule the remaining total falls under (the workflow compares it with the one its approvers met).
    rule: ApprovalRule
    # Whether that rule is another one than the order had (its approvals then no longer count).
    other_rule: bool
    text: str


@transaction.atomic
def stock_decision_apply(*, order: Order, dropped: list[PlannedLine], backordered: list[PlannedLine], filled: list[PlannedLine],
                         backorder_until: datetime | None, why: str) -> DecisionApplied:
    """Apply the decision to the (locked) order. Run twice, it changes nothing more."""
    reserved = set(StockReservation.objects.filter(order=order).values_list("product_id", flat=True))
    # A reserved line is never dropped (the units are held for it); only lines still missing are.
    drop_ids = [line.product_id for line in dropped if line.product_id not in reserved]
    sku = dict(OrderLine.objects.filter(order=order).values_list("product_id", "product__sku"))
    OrderLine.objects.filter(order=order, product_id__in=drop_ids).update(dropped=True)
    Backorder.objects.filter(order=order, product_id__in=drop_ids, status=Backorder.Status.WAITING).update(
        status=Backorder.Status.DROPPED, updated_at=timezone.now())
    # Expected where the rest of the order ships from (the default warehouse if nothing does); a restock elsewhere fills it too.
    expected = (StockReservation.objects.filter(order=order).order_by("-warehouse__is_default", "warehouse__code")
                .values_list("warehouse_id", flat=True).first()) or default_warehouse().pk
    for line in backordered:
        if line.product_id in sku and backorder_until is not None:
            Backorder.objects.get_or_create(order=order, product_id=line.product_id,
                                            defaults={"quantity": line.quantity, "until": backorder_until, "warehouse_id": expected})
    for reservation in StockReservation.objects.filter(order=order, product_id__in=[line.product_id for line in filled]):
        Backorder.objects.filter(order=order, product_id=reservation.product_id, status=Backorder.Status.WAITING).update(
            status=Backorder.Status.FILLED, warehouse_id=reservation.warehouse_id, updated_at=timezone.now())

    before = order.total
    remaining = OrderLine.objects.filter(order=order, dropped=False)
    # Quantized: SQLite's sum of products drops the cents' places PostgreSQL keeps.
    total = (remaining.aggregate(total=Sum(F("unit_price") * F("quantity")))["total"] or Decimal("0")).quantize(CENT)
    old = approvals.order_rule(order)
    rule = approvals.approval_rule_for(total=total, customer=order.customer) if total != before or drop_ids else old
    other_rule = sd.rule_key(rule) != sd.rule_key(old)
    if total != before or other_rule:
        fields: dict = {"total": total, "updated_at": timezone.now()}
        if other_rule:
            fields.update(approval_rule=asdict(rule), approvals_required=rule.approvals_required, requires_senior=rule.requires_senior)
        Order.objects.filter(pk=order.pk).update(**fields)
        order.total = total

    parts = []
    if drop_ids:
        parts.append(f"dropped {_lines(dropped, sku, drop_ids)} ({why})")
    if backordered:
        until = f" until {backorder_until:%Y-%m-%d %H:%M} UTC" if backorder_until else ""
        parts.append(f"backordered {_lines(backordered, sku)}{until}")
    if filled:
        parts.append(f"restocked and reserved {_lines(filled, sku)}")
    text = "Stock decision: " + "; ".join(parts or ["nothing to change"])
    if total != before:
        text += f"; the total is now {money(total)} {order.currency} (was {money(before)}), and the payment will be for that"
    if other_rule:
        text += ", under another approval rule: the order goes back for approval"
    return DecisionApplied(total=total, lines_left=remaining.count(), rule=rule, other_rule=other_rule, text=text)


def _lines(lines: list[PlannedLine], sku: dict[int, str], only: list[int] | None = None) -> str:
    return ", ".join(f"{line.quantity} × {sku.get(line.product_id, line.product_id)}" for line in lines
                     if only is None or line.product_id in only)
