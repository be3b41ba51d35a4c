"""Reads of stock per warehouse and of an order's split plan, for pages, the inbox and the API."""
from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime

from django.db.models import Count, Q

from orders.inventory.models import Backorder, Warehouse, WarehouseStock
from orders.models import Order, OrderLine, Product, StockReservation
from temporal_bridge.order import split_plan
from temporal_bridge.order.split_plan import PlannedLine, SplitPlan

RESERVED, PREVIEW = "reserved", "preview"


def stock_by_warehouse(product: Product) -> list[WarehouseStock]:
    """The product's stock rows in its active warehouses, preferred first (prefetch `warehouse_stock__warehouse` for lists)."""
    rows = [row for row in product.warehouse_stock.all() if row.warehouse.active]
    return sorted(rows, key=lambda row: (not row.warehouse.is_default, row.warehouse.code))


def stock_by_warehouse_text(product: Product) -> str:
    """e.g. "MAIN 5 · EAST 7" (units available now in each warehouse that has any)."""
    parts = [f"{row.warehouse.code} {row.available:,}" for row in stock_by_warehouse(product) if row.available > 0]
    return " · ".join(parts) or "none in any warehouse"


def warehouse_order() -> list[str]:
    """The active warehouses' codes, preferred first: the default, then by code."""
    return list(Warehouse.objects.filter(active=True).order_by("-is_default", "code").values_list("code", flat=True))


def stock_rows(product_ids: Iterable[int], *, lock: bool) -> list[WarehouseStock]:
    rows = WarehouseStock.objects.filter(product_id__in=list(product_ids), warehouse__active=True).select_related("warehouse")
    if lock:
        rows = rows.select_for_update(of=("self",))
    return list(rows.order_by("product_id", "warehouse_id"))


def availability(rows: Iterable[WarehouseStock]) -> dict[str, dict[int, int]]:
    available: dict[str, dict[int, int]] = defaultdict(dict)
    for row in rows:
        available[row.warehouse.code][row.product_id] = row.available
    return dict(available)


def plan_preview(lines: Iterable[tuple[int, int]]) -> SplitPlan:
    """How (product id, quantity) lines would split if reserved now (no lock: the reservation plans again under its locks)."""
    planned = [PlannedLine(product_id, quantity) for product_id, quantity in lines]
    return split_plan.plan_split(planned, availability(stock_rows((line.product_id for line in planned), lock=False)), warehouse_order())


@dataclass
class FulfilmentView:
    warehouse: str
    warehouse_name: str
    lines: list[tuple[str, int]]  # (sku, quantity)
    status: str = ""


@dataclass
class OrderPlan:
    """An order's split plan as people see it: reserved (what the reservation chose) or a preview from stock now."""

    source: str
    fulfilments: list[FulfilmentView] = field(default_factory=list)
    unavailable: list[tuple[str, int]] = field(default_factory=list)

    @property
    def is_split(self) -> bool:
        return len(self.fulfilments) > 1

    @property
    def summary(self) -> str:
        parts = [f"{f.warehouse} ({', '.join(f'{qty} × {sku}' for sku, qty in f.lines)})" for f in self.fulfilments]
        text = " + ".join(parts)
        if self.unavailable:
            text += ("; " if text else "") + "unavailable: " + ", ".join(f"{qty} × {sku}" for sku, qty in self.unavailable)
        return text or "nothing to ship"


def order_plans(orders: Iterable[Order]) -> dict[int, OrderPlan | None]:
    """Each order's split plan, in a few queries for any number of orders (the inbox, the API's lists).

    Reserved: the warehouses and lines the reservation chose, each fulfilment
    with its stock's status. Not reserved yet: a preview from the stock as it
    is now (the reservation plans again, under its locks, when the order gets
    there). None for a finished order that never reserved (nothing will ship).
    """
    orders = list(orders)
    plans: dict[int, OrderPlan | None] = {}
    reserved: dict[int, list[StockReservation]] = defaultdict(list)
    for reservation in (StockReservation.objects.filter(order__in=orders).select_related("warehouse", "product")
                        .order_by("-warehouse__is_default", "warehouse__code", "product__sku")):
        reserved[reservation.order_id].append(reservation)
    lines: dict[int, list[tuple[int, str, int]]] = defaultdict(list)
    for order_id, product_id, sku, quantity in (OrderLine.objects.filter(order__in=orders, dropped=False).order_by("product_id")
                                                .values_list("order_id", "product_id", "product__sku", "quantity")):
        lines[order_id].append((product_id, sku, quantity))
    for order in orders:
        if reserved[order.pk]:
            plan = plans[order.pk] = _reserved_plan(reserved[order.pk])
            # A line neither reserved nor dropped waits for a stock decision or a restock.
            held = {r.product_id for r in reserved[order.pk]}
            plan.unavailable = [(sku, quantity) for product_id, sku, quantity in lines[order.pk] if product_id not in held]
    to_preview = [order for order in orders if order.pk not in plans and not order.is_terminal]
    plans.update({order.pk: None for order in orders if order.pk not in plans and order.is_terminal})
    if not to_preview:
        return plans
    rows = stock_rows({product_id for order_lines in lines.values() for product_id, _, _ in order_lines}, lock=False)
    available, preferred = availability(rows), warehouse_order()
    names = dict(Warehouse.objects.values_list("code", "name"))
    for order in to_preview:
        sku = {product_id: code for product_id, code, _ in lines[order.pk]}
        plan = split_plan.plan_split([PlannedLine(pid, qty) for pid, _, qty in lines[order.pk]], available, preferred)
        plans[order.pk] = OrderPlan(
            PREVIEW,
            [FulfilmentView(f.warehouse, names.get(f.warehouse, ""), [(sku[line.product_id], line.quantity) for line in f.lines])
             for f in plan.fulfilments],
            [(sku[line.product_id], line.quantity) for line in plan.unavailable],
        )
    return plans


def order_plan(order: Order) -> OrderPlan | None:
    return order_plans([order])[order.pk]


def _reserved_plan(reservations: list[StockReservation]) -> OrderPlan:
    by_warehouse: dict[str, FulfilmentView] = {}
    statuses: dict[str, set[str]] = defaultdict(set)
    for reservation in reservations:
        code = reservation.warehouse.code
        view = by_warehouse.setdefault(code, FulfilmentView(code, reservation.warehouse.name, []))
        view.lines.append((reservation.product.sku, reservation.quantity))
        statuses[code].add(reservation.status)
    for code, view in by_warehouse.items():
        # One status per fulfilment: its lines move together (reserved, shipped or released).
        view.status = sorted(statuses[code])[0] if len(statuses[code]) == 1 else "mixed"
    return OrderPlan(RESERVED, list(by_warehouse.values()))


def lines_awaiting_decision(order: Order) -> list[OrderLine]:
    """The lines of an order waiting for a stock decision: neither reserved nor dropped (none unless it waits)."""
    if not order.awaiting_stock:
        return []
    reserved = StockReservation.objects.filter(order=order).values("product_id")
    return list(order.lines.filter(dropped=False).exclude(product_id__in=reserved).select_related("product").order_by("product_id"))


@dataclass
class BackorderCount:
    warehouse: str
    waiting: int
    late: int


def backorders_by_warehouse(*, now: datetime) -> list[BackorderCount]:
    """Backorders waiting for a restock, and those of them past their deadline (dropped at their order's next check), by warehouse."""
    rows = (Backorder.objects.filter(status=Backorder.Status.WAITING).values("warehouse__code")
            .annotate(waiting=Count("id"), late=Count("id", filter=Q(until__lt=now))).order_by("warehouse__code"))
    return [BackorderCount(row["warehouse__code"] or "—", row["waiting"], row["late"]) for row in rows]
