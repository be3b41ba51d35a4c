"""What a chaos run must find once every order has finished: none lost, none
charged twice or refunded wrongly, no drift between the database mirror and
the workflow, no event written twice, and stock (per product and per
warehouse) exactly what the reservations say.

Django is set up by the run (tools/chaos/run.py) before these are called.
"""
from __future__ import annotations

import time
from collections import Counter
from dataclasses import dataclass, field

# The stock the run seeds (run.seed): what is on hand now must be this less what shipped.
INITIAL_STOCK = {"CHEAP": 100_000, "DEAR": 100_000, "SCARCE": 12, "FAR": 100_000}


@dataclass
class Results:
    counts: Counter = field(default_factory=Counter)
    problems: list[str] = field(default_factory=list)

    def check(self, ok: bool, problem: str) -> None:
        if not ok:
            self.problems.append(problem)


def settled_status(order_id: int, patience: float = 30.0):
    """The workflow's status once it has closed (or `patience` has run out).

    The terminal entry is mirrored by the workflow's last activity, so the
    database can say "fulfilled" one workflow task before the run completes;
    on a slow machine the check would otherwise race that last task.
    """
    from temporal_bridge.order import status as workflow_status

    give_up = time.monotonic() + patience
    while True:
        status = workflow_status.describe_order(order_id, timeout=10)
        if not status.running or time.monotonic() > give_up:
            return status
        time.sleep(0.5)


def verify(kinds: dict[str, str]) -> Results:
    """Every invariant over the finished run; `kinds`: each planned order's number and what was done to it."""
    from django.db.models import Sum

    from orders.models import Order, Product, StockReservation, WarehouseStock
    from orders.payments.models import PaymentTransaction
    from orders.payments.services import shipped_value
    from orders.timeline.models import OrderEvent
    from temporal_bridge.order import states

    results = Results()
    orders = list(Order.objects.all())
    results.counts["orders"] = len(orders)
    for order in orders:
        results.counts[f"state {order.status}"] += 1
        if order.status not in states.TERMINAL or order.workflow_started_at is None:
            results.counts["LOST"] += 1
            results.problems.append(f"{order.number} lost: {order.status}, workflow started {order.workflow_started_at}")
            continue
        status = settled_status(order.pk)
        final = status.result
        if final is None:
            results.problems.append(f"{order.number}: workflow {status.status} without a result")
            continue
        events = list(OrderEvent.objects.filter(order=order).order_by("idempotency_key").values_list("message", flat=True))
        drift = (order.status != final.state or order.tracking_number != final.tracking_number
                 or events != [e.message for e in final.timeline])
        results.counts["DRIFT"] += drift
        results.check(not drift, f"{order.number}: mirror {order.status} ≠ workflow {final.state} or timelines differ")
        messages = [e.message for e in final.timeline]
        captures = PaymentTransaction.objects.filter(order=order, kind="capture").count()
        refunds = PaymentTransaction.objects.filter(order=order, kind="refund").count()
        charged = any(msg.startswith("Charged") for msg in messages)
        results.counts["captures"] += captures
        results.counts["refunds"] += refunds
        results.check(captures == (1 if charged else 0), f"{order.number}: {captures} captures, charged in timeline: {charged}")
        results.check(refunds == (1 if charged and final.state in (states.CANCELLED, states.FAILED) else 0),
                      f"{order.number}: {refunds} refunds for a {final.state} order (charged: {charged})")
        if refunds == 1 and captures == 1:
            # A split order cancelled between its parcels keeps what shipped paid for: the refund is the rest.
            capture = PaymentTransaction.objects.get(order=order, kind="capture").amount
            refund = PaymentTransaction.objects.get(order=order, kind="refund").amount
            results.check(refund == capture - shipped_value(order),
                          f"{order.number}: refunded {refund} of {capture}, but {shipped_value(order)} worth shipped")
        if any(msg.startswith("Cancel requested") for msg in messages):
            results.check(final.state == states.CANCELLED, f"{order.number}: cancel accepted but ended {final.state}")
        keys = OrderEvent.objects.filter(order=order).values_list("idempotency_key", flat=True)
        results.counts["duplicated events"] += len(events) - len(set(keys))

    by_number = {o.number: o for o in orders}
    expected = {"auto": {states.FULFILLED}, "approve": {states.FULFILLED}, "reject": {states.REJECTED},
                "cancel_pending": {states.CANCELLED}, "cancel_fulfilment": {states.CANCELLED, states.FULFILLED},
                "declined": {states.CANCELLED}, "scarce": {states.FULFILLED, states.CANCELLED}, "split": {states.FULFILLED}}
    for number, kind in kinds.items():
        order = by_number.get(number)
        if order and order.status in states.TERMINAL:
            results.check(order.status in expected[kind], f"{number} ({kind}) ended {order.status}")

    for product in Product.objects.all():
        held = StockReservation.objects.filter(product=product, status="held").aggregate(n=Sum("quantity"))["n"] or 0
        shipped = StockReservation.objects.filter(product=product, status="shipped").aggregate(n=Sum("quantity"))["n"] or 0
        initial = INITIAL_STOCK[product.sku]
        results.check(product.stock_reserved == held, f"{product.sku}: reserved {product.stock_reserved} ≠ held reservations {held}")
        results.check(product.stock_on_hand == initial - shipped,
                      f"{product.sku}: on hand {product.stock_on_hand} ≠ {initial} - shipped {shipped}")
        results.check(held == 0, f"{product.sku}: {held} units still held after every order finished")
    # Stock per warehouse: each row as its reservations say, the product's totals their sum.
    for row in WarehouseStock.objects.select_related("warehouse", "product"):
        mine = StockReservation.objects.filter(product=row.product, warehouse=row.warehouse)
        held = mine.filter(status="held").aggregate(n=Sum("quantity"))["n"] or 0
        shipped = mine.filter(status="shipped").aggregate(n=Sum("quantity"))["n"] or 0
        initial = INITIAL_STOCK[row.product.sku]
        where = f"{row.product.sku} at {row.warehouse.code}"
        results.check(row.reserved == held, f"{where}: reserved {row.reserved} ≠ held reservations {held}")
        results.check(row.on_hand == initial - shipped, f"{where}: on hand {row.on_hand} ≠ {initial} - shipped {shipped}")
    for product in Product.objects.all():
        rows = WarehouseStock.objects.filter(product=product).aggregate(on_hand=Sum("on_hand"), reserved=Sum("reserved"))
        results.check((product.stock_on_hand, product.stock_reserved) == (rows["on_hand"], rows["reserved"]),
                      f"{product.sku}: totals {product.stock_on_hand}/{product.stock_reserved} ≠ its warehouses' {rows}")
    split = Order.objects.filter(reservations__warehouse__code="EAST").filter(reservations__warehouse__code="MAIN").distinct().count()
    results.counts["split orders"] = split
    return results
