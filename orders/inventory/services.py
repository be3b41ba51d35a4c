"""Stock per warehouse: reserve an order's lines where the split plan says,
release them, ship them, receive stock.

Row locks, always in one order so concurrent orders never deadlock: the
order first (its callers, orders.steps, lock it), then the (warehouse, product) stock rows by product then
warehouse, then the products' totals by product. The product's totals change
with its warehouse rows, in the same transaction.
"""
from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable

from django.db import transaction
from django.db.models import F

from orders.exceptions import OrderError, OutOfStock
from orders.inventory import restock
from orders.inventory.models import DEFAULT_WAREHOUSE_CODE, Backorder, Warehouse, WarehouseStock
from orders.inventory.selectors import availability, stock_rows, warehouse_order
from orders.models import Order, Product, StockReservation
from temporal_bridge.order import split_plan
from temporal_bridge.order.split_plan import PlannedFulfilment, PlannedLine, SplitPlan


def default_warehouse() -> Warehouse:
    """The default warehouse, made on first need (a flushed test database has none)."""
    warehouse, _ = Warehouse.objects.get_or_create(is_default=True, defaults={"code": DEFAULT_WAREHOUSE_CODE, "name": "Main warehouse"})
    return warehouse


def plan_from_reservations(reservations: Iterable[StockReservation]) -> SplitPlan:
    by_warehouse: dict[str, PlannedFulfilment] = {}
    for reservation in sorted(reservations, key=lambda r: (not r.warehouse.is_default, r.warehouse.code, r.product_id)):
        fulfilment = by_warehouse.setdefault(reservation.warehouse.code, PlannedFulfilment(reservation.warehouse.code))
        fulfilment.lines.append(PlannedLine(reservation.product_id, reservation.quantity))
    return SplitPlan(fulfilments=list(by_warehouse.values()))


@transaction.atomic(savepoint=False)
def stock_reserve(*, order: Order, keep_available: bool = False) -> tuple[SplitPlan, str]:
    """Reserve the (locked) order's lines in the warehouses the split plan chooses.

    All or nothing, unless `keep_available`: then the lines some warehouse
    holds are reserved and the others come back as the plan's unavailable
    lines, with them in words (a person chooses what becomes of them). Lines
    reserved before stay where they are and dropped lines are left out: run
    twice, it reserves nothing new. Returns (the whole plan, the unavailable lines in words).
    """
    reservations = list(order.reservations.select_related("warehouse"))
    lines = [PlannedLine(pid, qty) for pid, qty in order.lines.filter(dropped=False)
             .exclude(product_id__in=[r.product_id for r in reservations]).order_by("product_id").values_list("product_id", "quantity")]
    plan, missing = SplitPlan(), ""
    if lines:
        rows = stock_rows((line.product_id for line in lines), lock=True)
        plan = split_plan.plan_split(lines, availability(rows), warehouse_order())
        missing = unavailable_text(plan, rows) if plan.unavailable else ""
        if plan.unavailable and not keep_available:
            raise OutOfStock(f"Out of stock: no warehouse holds {missing}")
        row_of = {(row.warehouse.code, row.product_id): row for row in rows}
        taken = [(row_of[(f.warehouse, line.product_id)], line.quantity) for f in plan.fulfilments for line in f.lines]
        reservations += StockReservation.objects.bulk_create(
            StockReservation(order=order, product_id=row.product_id, warehouse=row.warehouse, quantity=quantity) for row, quantity in taken)
        move_stock(taken, reserved=+1)
    whole = plan_from_reservations(reservations)
    whole.unavailable = plan.unavailable
    return whole, missing


@transaction.atomic(savepoint=False)
def stock_release(*, order: Order) -> int:
    """Give back the units the (locked) order holds, where it holds them. Returns how many were released now."""
    held = held_reservations(order.pk)
    move_stock(locked_rows_for(held), reserved=-1)
    StockReservation.objects.filter(pk__in=[r.pk for r in held]).update(status=StockReservation.Status.RELEASED)
    Backorder.objects.filter(order=order, status=Backorder.Status.WAITING).update(status=Backorder.Status.CANCELLED)
    return sum(r.quantity for r in held)


@transaction.atomic(savepoint=False)
def stock_ship(*, order: Order, warehouse: str = "") -> int:
    """The (locked) order's reserved units leave their warehouses (or only `warehouse`, by code: one
    fulfilment of a split order). Returns how many shipped now."""
    held = [r for r in held_reservations(order.pk) if not warehouse or r.warehouse.code == warehouse]
    move_stock(locked_rows_for(held), reserved=-1, on_hand=-1)
    StockReservation.objects.filter(pk__in=[r.pk for r in held]).update(status=StockReservation.Status.SHIPPED)
    return sum(r.quantity for r in held)


@transaction.atomic
def stock_set_on_hand(*, warehouse_id: int, product_id: int, on_hand: int) -> WarehouseStock:
    """A count or a receipt in the admin: the warehouse holds `on_hand` units now.

    Never below what it has promised to orders; the product's total moves by the difference."""
    if on_hand < 0:
        raise OrderError("Units on hand cannot be negative.")
    row, _ = WarehouseStock.objects.get_or_create(warehouse_id=warehouse_id, product_id=product_id)
    row = WarehouseStock.objects.select_for_update().get(pk=row.pk)
    if on_hand < row.reserved:
        raise OrderError(f"{row.reserved} units here are reserved for orders: on hand cannot go below that.")
    change = on_hand - row.on_hand
    if change:
        WarehouseStock.objects.filter(pk=row.pk).update(on_hand=on_hand)
        Product.objects.filter(pk=product_id).update(stock_on_hand=F("stock_on_hand") + change)
        row.on_hand = on_hand
    if change > 0:
        # Once committed, so the orders woken read the new stock.
        transaction.on_commit(lambda: restock.backorders_wake(product_ids=[product_id]))
    return row


@transaction.atomic
def stock_receive(*, warehouse_id: int, product_id: int, units: int) -> WarehouseStock:
    """Units arriving at a warehouse (the inventory system's webhook): added to what it has on hand."""
    row, _ = WarehouseStock.objects.get_or_create(warehouse_id=warehouse_id, product_id=product_id)
    row = WarehouseStock.objects.select_for_update().get(pk=row.pk)
    return stock_set_on_hand(warehouse_id=warehouse_id, product_id=product_id, on_hand=row.on_hand + units)


def held_in(*, order_id: int) -> list[str]:
    """The codes of the warehouses still holding units for the order (fulfilments not shipped), in the warehouses' order."""
    held = StockReservation.objects.filter(order_id=order_id, status=StockReservation.Status.HELD)
    return list(held.order_by("-warehouse__is_default", "warehouse__code").values_list("warehouse__code", flat=True).distinct())


def shipped_from(*, order_id: int) -> list[str]:
    """The codes of the warehouses the order's units left, in the warehouses' order (the default first)."""
    shipped = StockReservation.objects.filter(order_id=order_id, status=StockReservation.Status.SHIPPED)
    return list(shipped.order_by("-warehouse__is_default", "warehouse__code").values_list("warehouse__code", flat=True).distinct())


def held_reservations(order_id: int) -> list[StockReservation]:
    """The order's held reservations, locked (the order is locked first: no one else moves them).

    Their rows only: locking the warehouses read with them would block every
    other order's reservation there (its insert checks the warehouse key) while
    this one waits for stock rows that order holds, a deadlock."""
    held = StockReservation.objects.filter(order_id=order_id, status=StockReservation.Status.HELD)
    return list(held.select_for_update(of=("self",)).select_related("warehouse").order_by("product_id", "warehouse_id"))


def locked_rows_for(reservations: list[StockReservation]) -> list[tuple[WarehouseStock, int]]:
    """The stock rows behind `reservations`, locked in product then warehouse order, with the units each holds."""
    wanted = {(r.warehouse_id, r.product_id): r.quantity for r in reservations}
    if not wanted:
        return []
    rows = (WarehouseStock.objects.select_for_update()
            .filter(product_id__in={p for _, p in wanted}, warehouse_id__in={w for w, _ in wanted})
            .order_by("product_id", "warehouse_id"))
    return [(row, wanted[(row.warehouse_id, row.product_id)]) for row in rows if (row.warehouse_id, row.product_id) in wanted]


def move_stock(moves: list[tuple[WarehouseStock, int]], *, reserved: int = 0, on_hand: int = 0) -> None:
    """Move each row's units by `reserved` and `on_hand` (+1/-1 times the units), and the products' totals with them."""
    totals: dict[int, int] = defaultdict(int)
    for row, units in moves:
        WarehouseStock.objects.filter(pk=row.pk).update(reserved=F("reserved") + reserved * units, on_hand=F("on_hand") + on_hand * units)
        totals[row.product_id] += units
    for product_id in sorted(totals):
        units = totals[product_id]
        Product.objects.filter(pk=product_id).update(stock_reserved=F("stock_reserved") + reserved * units,
                                                     stock_on_hand=F("stock_on_hand") + on_hand * units)


def unavailable_text(plan: SplitPlan, rows: list[WarehouseStock]) -> str:
    """Which lines no warehouse holds in full, and the most one warehouse has of each."""
    best: dict[int, int] = defaultdict(int)
    sku = dict(Product.objects.filter(pk__in=[line.product_id for line in plan.unavailable]).values_list("pk", "sku"))
    for row in rows:
        best[row.product_id] = max(best[row.product_id], row.available)
    def most(product_id: int) -> str:
        return f"at most {best[product_id]} in any one warehouse" if best[product_id] else "none in any warehouse"

    return ", ".join(f"{line.quantity} × {sku.get(line.product_id, line.product_id)} ({most(line.product_id)})"
                     for line in plan.unavailable)

