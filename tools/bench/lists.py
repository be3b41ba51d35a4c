"""Bulk-generated orders, for the list pages at 100k rows and more (PostgreSQL; SQLite for tools.bench.sqlite_search)."""
from __future__ import annotations

from decimal import Decimal

from django.db import connection

from orders.models import Customer, Order

# A plausible mix for a desk that has run a while: mostly finished orders.
STATUS_MIX = [("fulfilled", 80), ("pending_approval", 5), ("fulfilling", 2), ("processing", 1), ("approved", 1),
              ("rejected", 5), ("cancelled", 3), ("expired", 2), ("failed", 1)]


def generate(rows: int, *, created_by_id: int, customers: int = 1000, first_customer: int | None = None) -> int:
    """`rows` orders (no lines or events: the list pages read the order table only), then ANALYZE.

    One template row is written through the ORM, so every column (including
    ones added later) has its model default; the rest are copied from it in
    SQL with their own id, number, workflow id, status, customer, total and age.
    The `customers` customers are made here, or are those from `first_customer`
    on (made by an earlier call, so their names stay one each). Returns the first.
    """
    if first_customer is None:
        first_customer = Customer.objects.bulk_create(
            Customer(name=f"Customer {i:04d} Trading", email=f"buyer{i}@example.com", credit_limit=Decimal("100000"))
            for i in range(customers)
        )[0].pk
    template = Order.objects.create(customer_id=first_customer, created_by_id=created_by_id, total=Decimal("10"),
                                    shipping_address="1 Bench Street")
    columns = [f.column for f in Order._meta.concrete_fields]
    status_case = "CASE " + " ".join(
        f"WHEN g %% 100 < {upper} THEN '{status}'" for status, upper in _cumulative(STATUS_MIX)
    ) + " END"
    overrides = {
        "id": "s.id",
        "number": "'OD-' || lpad(s.id::text, greatest(6, length(s.id::text)), '0')",  # as services numbers them: OD-{id:06d}
        "workflow_id": "'order-' || s.id",
        "status": status_case.replace("g %%", "s.g %%"),
        "customer_id": f"{first_customer} + (s.g::bigint * 7919) %% {customers}",
        "total": "((s.g * 37) %% 2000 + 5)::numeric",
        "requires_approval": "((s.g * 37) %% 2000 + 5) >= 500",
        "created_at": f"now() - ({rows} - s.g) * interval '1 minute'",
        "updated_at": f"now() - ({rows} - s.g) * interval '1 minute'",
        "workflow_started_at": f"now() - ({rows} - s.g) * interval '1 minute'",
    }
    if connection.vendor == "sqlite":
        _generate_sqlite(rows, template, columns, status_case, first_customer, customers)
        return first_customer
    select = ", ".join(overrides.get(c, f't."{c}"') for c in columns)
    with connection.cursor() as cursor:
        cursor.execute(
            f'INSERT INTO orders_order ({", ".join(chr(34) + c + chr(34) for c in columns)}) '
            f"SELECT {select} FROM orders_order t, "
            f"(SELECT nextval(pg_get_serial_sequence('orders_order', 'id')) AS id, g FROM generate_series(1, %s) g) s "
            f"WHERE t.id = %s",
            [rows, template.pk],
        )
        cursor.execute("ANALYZE orders_order")
        cursor.execute("ANALYZE orders_customer")
    template.delete()
    return first_customer


def _generate_sqlite(rows: int, template: Order, columns: list[str], status_case: str, first_customer: int, customers: int) -> None:
    """The same rows on SQLite: ids follow the template's (SQLite has no sequence to draw from), times are the template's."""
    overrides = {
        "id": "t.id + s.g",
        "number": "printf('OD-%%06d', t.id + s.g)",
        "workflow_id": "'order-' || (t.id + s.g)",
        "status": status_case.replace("g %%", "s.g %%"),
        "customer_id": f"{first_customer} + (s.g * 7919) %% {customers}",
        "total": "((s.g * 37) %% 2000 + 5)",
        "requires_approval": "((s.g * 37) %% 2000 + 5) >= 500",
    }
    select = ", ".join(overrides.get(c, f't."{c}"') for c in columns)
    with connection.cursor() as cursor:
        cursor.execute(
            f"WITH RECURSIVE s(g) AS (SELECT 1 UNION ALL SELECT g + 1 FROM s WHERE g < %s) "
            f'INSERT INTO orders_order ({", ".join(chr(34) + c + chr(34) for c in columns)}) '
            f"SELECT {select} FROM orders_order t, s WHERE t.id = %s",
            [rows, template.pk],
        )
        cursor.execute("ANALYZE")
    template.delete()


def _cumulative(mix):
    total = 0
    for status, share in mix:
        total += share
        yield status, total
