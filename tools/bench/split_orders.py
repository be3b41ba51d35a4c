"""Split orders: three-warehouse orders per second against single-warehouse ones, in the same run.

Both kinds have three lines and are approved automatically; the split one
takes each line from another warehouse (three fulfilments, three
warehouses' stock rows locked), the other all three from the default
warehouse. Rounds alternate, so the machine's other work hits both alike.
"""
from __future__ import annotations

import time
import uuid
from decimal import Decimal

from orders import services
from orders.inventory import services as inventory
from orders.models import Product, Warehouse
from tools.bench import lifecycle
from tools.bench.context import Context, cores, meters, pg_backend_pids

SECTION = "Split orders"
STOCK = 2_000_000_000


def _fixtures() -> tuple[list[Product], list[Product]]:
    """(three products each held in one warehouse only, three products all in the default warehouse)."""
    warehouses = [inventory.default_warehouse()]
    warehouses += [Warehouse.objects.get_or_create(code=code, defaults={"name": f"Bench {code}"})[0] for code in ("EAST", "WEST")]
    apart, together = [], []
    for i, warehouse in enumerate(warehouses):
        product, created = Product.objects.get_or_create(sku=f"BENCH-SPLIT-{i}", defaults={"name": f"Split {i}", "price": Decimal("10")})
        if created:
            inventory.stock_set_on_hand(warehouse_id=warehouse.pk, product_id=product.pk, on_hand=STOCK)
        apart.append(product)
        together.append(Product.objects.get_or_create(sku=f"BENCH-ONE-{i}", defaults={"name": f"One {i}", "price": Decimal("10"),
                                                                                     "stock_on_hand": STOCK})[0])
    return apart, together


def split(ctx: Context) -> None:
    s, t = ctx.sizes, ctx.table
    fx = ctx.fx()
    apart, together = _fixtures()
    queue = f"bench-split-{uuid.uuid4().hex[:6]}"
    worker = ctx.procs.runworker("worker-split", address=ctx.address, task_queue=queue, concurrency=20)
    ctx.use_task_queue(queue)
    per_round = max(1, s.orders // s.throughput_rounds)
    sides = {"three warehouses": apart, "one warehouse": together}
    seconds = dict.fromkeys(sides, 0.0)
    failures = dict.fromkeys(sides, 0)
    used_by: dict[str, list[dict]] = {side: [] for side in sides}
    try:
        for r in range(s.throughput_rounds):
            order = list(sides) if r % 2 == 0 else list(reversed(sides))
            for side in order:
                with meters({"worker": lambda: [worker.pid], "Temporal": lambda: [ctx.temporal_pid],
                             "PostgreSQL": pg_backend_pids}) as used:
                    rate, failed = _throughput(fx, sides[side], per_round, s.timeout)
                seconds[side] += per_round / rate
                failures[side] += failed
                used_by[side].append(used)
        n = per_round * s.throughput_rounds
        rates = {side: n / seconds[side] for side in sides}
        for side in sides:
            t.add(SECTION, f"{side}: 3 lines, auto-approved, {n} orders in {s.throughput_rounds} alternating rounds",
                  f"{rates[side]:.1f} orders/s", "", f"cores (last round): {cores(used_by[side][-1])}")
        t.add(SECTION, "ratio three warehouses / one warehouse", f"{rates['three warehouses'] / rates['one warehouse']:.2f}")
        if any(failures.values()):
            t.errors.append("split orders that did not end fulfilled: " + ", ".join(f"{side} {failures[side]}" for side in sides))
    finally:
        ctx.procs.stop(worker)


def _throughput(fx: lifecycle.Fixtures, products: list[Product], count: int, timeout: float) -> tuple[float, int]:
    t0 = time.monotonic()
    ids = [services.order_submit(customer=fx.customer, lines=[services.LineRequest(p, 1) for p in products], created_by=fx.clerk,
                                 shipping_address="1 Bench Street").pk for _ in range(count)]
    done, failures = lifecycle.wait_terminal(ids, timeout)
    return count / (done - t0), failures
