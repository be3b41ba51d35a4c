"""A busy desk's audit trail, generated fast, for the export's memory test and the bench.

Orders through the ORM (few), then timeline entries and decisions as plain
`executemany` batches (COPY on PostgreSQL, where executemany managed ~2,500
rows/s): a model instance per row would make 100,000 rows take tens of
seconds, and the point is the export, not the writing. Times spread
over `span` so the two tables interleave as they do on a real desk.
"""
from __future__ import annotations

from datetime import UTC, datetime, timedelta

from django.db import connection

from approvals.models import ApprovalDecision
from orders.models import Order
from orders.timeline.models import OrderEvent
from temporal_bridge.order import states

BATCH = 10_000
START = datetime(2025, 1, 1, tzinfo=UTC)


def generate_trail(*, orders: int, events_per_order: int, decisions_per_order: int, customer, created_by,
                   span: timedelta = timedelta(days=365)) -> int:
    """Write the rows; returns how many (entries + decisions)."""
    made = Order.objects.bulk_create(
        Order(customer=customer, created_by=created_by, status=states.FULFILLED, shipping_address="1 Bench Street") for _ in range(orders))
    step = span / orders
    adapt = connection.ops.adapt_datetimefield_value

    def events():
        for j, order in enumerate(made):
            base = START + j * step
            for n in range(events_per_order):
                yield (order.pk, OrderEvent.Kind.STATUS.value, f"Step {n} of order {order.pk}: moved on; the customer was told.",
                       "worker", f"{n:06d}-status", adapt(base + timedelta(seconds=7 * n)))

    def decisions():
        for j, order in enumerate(made):
            base = START + j * step
            for n in range(decisions_per_order):
                yield (order.pk, created_by.pk, created_by.get_username(), "approved", False,
                       f"Checked order {order.pk} against the contract; approval {n}.", f"bulk-{order.pk}-{n}", False,
                       adapt(base + timedelta(seconds=7 * n + 3)))

    _insert(OrderEvent, ["order_id", "kind", "message", "actor", "idempotency_key", "created_at"], events())
    _insert(ApprovalDecision, ["order_id", "approver_id", "approver_username", "decision", "senior", "comment", "request_id",
                               "superseded", "created_at"], decisions())
    return orders * (events_per_order + decisions_per_order)


def _insert(model, fields: list[str], rows) -> None:
    meta = model._meta
    columns = ", ".join(connection.ops.quote_name(meta.get_field(f).column) for f in fields)
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor, cursor.copy(f"COPY {connection.ops.quote_name(meta.db_table)} ({columns}) FROM STDIN") as copy:
            for row in rows:
                copy.write_row(row)
        return
    sql = f"INSERT INTO {connection.ops.quote_name(meta.db_table)} ({columns}) VALUES ({', '.join(['%s'] * len(fields))})"
    with connection.cursor() as cursor:
        batch = []
        for row in rows:
            batch.append(row)
            if len(batch) == BATCH:
                cursor.executemany(sql, batch)
                batch = []
        if batch:
            cursor.executemany(sql, batch)
