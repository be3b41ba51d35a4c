"""The psycopg-shape baseline's database work: what the real path's activities write, through psycopg alone.

The business shape (tools/bench/baseline.py) with its five activities doing
the writes the real activities do for one auto-approved order (read from a
`log_statement=all` trace of the real path), in the bench database's own
tables, the Django ones: the same rows, indexes, constraints and row locks,
so what differs is only how the work is done (no ORM, one transaction and
one order lock per activity, no savepoints, a connection kept per thread).

Per activity, one transaction each:
- reserve stock: the order and its customer locked, the credit check's open
  total, the stock rows locked, 1 reservation, the stock and product
  counters, 3 timeline entries (approved, processing, reserved), the status;
- charge payment: the order locked, 1 payment capture, 1 timeline entry;
- fulfil: 1 timeline entry and the status, then the progress; one heartbeat
  and one progress signal (as fulfil_order);
- ship: the order and its reservations locked, the stock and product
  counters, the reservation shipped, the tracking number, 2 timeline entries;
- notify: the order locked, 1 notification row, 2 timeline entries (emailed,
  fulfilled), the status;
- manager-approved orders, check and record decision: the order locked,
  1 approval decision, 2 timeline entries, the status. (The real path's
  driver also writes the manager's recorded intent through approval_decide;
  this driver only signals.)

Left out, because they are not database work: the payment gateway's fake
call, rendering and "sending" the e-mail, the worker's metrics. Every write
is retry-safe the cheap way (ON CONFLICT DO NOTHING on the same unique keys
the real path relies on).

The driver side (`submit`) writes what order_submit writes: the order, its
line and its "submitted" entry.

Imports no Django; the worker imports this module, the workflow sandbox never does.
"""
from __future__ import annotations

import asyncio
import json
import os
import secrets
import threading
from dataclasses import dataclass
from decimal import Decimal

import psycopg
from temporalio import activity

# The statuses a credit check leaves out of a customer's open total (as holds.hold_read's query).
NOT_OPEN = ("pending_approval", "fulfilled", "rejected", "stopped", "delivered", "expired", "failed", "returned", "cancelled")
RULE = {"policy_id": None, "policy_name": "Small orders", "auto_approve": True, "approvals_required": 1, "requires_senior": False,
        "remind_after_seconds": 86400.0, "escalate_after_seconds": 129600.0, "expire_after_seconds": 172800.0}

_local = threading.local()
_opened: list[psycopg.Connection] = []  # every thread's, to close when the worker stops


@dataclass
class OrderKey:
    """The input of every database activity of the shape (baseline.Entry): the order, and its step's number."""
    order_id: int
    key: str


@dataclass
class DecisionInput:
    """baseline.DecisionRecord."""
    order_id: int
    actor: str
    request_id: str


@dataclass
class FulfilJob:
    """baseline.BaselineInput."""
    order_id: int
    requires_approval: bool
    fulfilment_steps: int = 1
    fulfilment_step_seconds: float = 0.0


@dataclass
class Progress:
    percent: int


def libpq(url: str) -> str:
    return url.replace("postgres://", "postgresql://", 1)


def connection() -> psycopg.Connection:
    """This thread's connection, opened once and kept (what CONN_MAX_AGE gives the real worker)."""
    conn = getattr(_local, "conn", None)
    if conn is None or conn.closed or conn.broken:
        conn = psycopg.connect(libpq(os.environ["DATABASE_URL"]), autocommit=True)
        _local.conn = conn
        _opened.append(conn)
    return conn


def close_connections() -> None:
    """Close every thread's connection (the worker is stopping)."""
    while _opened:
        _opened.pop().close()


def _entries(cur: psycopg.Cursor, order_id: int, entries: list[tuple[str, str, str, str]], actor: str = "") -> None:
    """Timeline entries (key, kind, message, status), each once per key."""
    cur.executemany(
        "INSERT INTO orders_orderevent (order_id, idempotency_key, kind, message, actor, status, created_at) "
        "VALUES (%s, %s, %s, %s, %s, %s, now()) ON CONFLICT (order_id, idempotency_key) DO NOTHING",
        [(order_id, key, kind, message, actor, status) for key, kind, message, status in entries])


def _lock_order(cur: psycopg.Cursor, order_id: int) -> tuple:
    row = cur.execute("SELECT o.number, o.total, o.currency, o.customer_id, c.email FROM orders_order o "
                      "JOIN orders_customer c ON c.id = o.customer_id WHERE o.id = %s FOR UPDATE OF o", (order_id,)).fetchone()
    if row is None:
        raise LookupError(f"order {order_id} does not exist")
    return row


@activity.defn(name="db reserve stock")
def reserve_stock(ref: OrderKey) -> int:
    conn = connection()
    with conn.transaction(), conn.cursor() as cur:
        customer_id = _lock_order(cur, ref.order_id)[3]
        # The credit check (holds.hold_read): the customer locked, their other open orders' total.
        cur.execute("SELECT credit_limit FROM orders_customer WHERE id = %s FOR UPDATE", (customer_id,))
        cur.execute("SELECT SUM(total) FROM orders_order WHERE customer_id = %s AND id <> %s AND NOT status = ANY(%s) "
                    "AND hold_stage <> 'credit'", (customer_id, ref.order_id, list(NOT_OPEN)))
        lines = cur.execute("SELECT product_id, quantity FROM orders_orderline WHERE order_id = %s AND NOT dropped ORDER BY product_id",
                            (ref.order_id,)).fetchall()
        rows = cur.execute(
            "SELECT s.id, s.warehouse_id, s.product_id, s.on_hand - s.reserved FROM orders_warehousestock s "
            "JOIN orders_warehouse w ON w.id = s.warehouse_id WHERE s.product_id = ANY(%s) AND w.active "
            "ORDER BY s.product_id, s.warehouse_id FOR UPDATE OF s", ([p for p, _ in lines],)).fetchall()
        units = 0
        for product_id, quantity in lines:
            row = next((r for r in rows if r[2] == product_id and r[3] >= quantity), None)
            if row is None:
                raise RuntimeError(f"order {ref.order_id}: no warehouse holds {quantity} of product {product_id}")
            stock_id, warehouse_id, _, _ = row
            taken = cur.execute(
                "INSERT INTO orders_stockreservation (order_id, product_id, warehouse_id, quantity, status, created_at, updated_at) "
                "VALUES (%s, %s, %s, %s, 'held', now(), now()) ON CONFLICT (order_id, product_id) DO NOTHING RETURNING id",
                (ref.order_id, product_id, warehouse_id, quantity)).fetchone()
            if taken:  # a retry reserves nothing twice
                cur.execute("UPDATE orders_warehousestock SET reserved = reserved + %s WHERE id = %s", (quantity, stock_id))
                cur.execute("UPDATE orders_product SET stock_reserved = stock_reserved + %s WHERE id = %s", (quantity, product_id))
                units += quantity
        _entries(cur, ref.order_id, [
            ("0001-status", "status", "Auto-approved: policy “Small orders”", "approved"),
            ("0002-status", "status", "Processing: reserving stock and taking payment", "processing"),
            ("0003-stock", "stock", f"Reserved {units} units on {len(lines)} lines", ""),
        ])
        cur.execute("UPDATE orders_order SET status = 'processing', updated_at = now() WHERE id = %s", (ref.order_id,))
    return units


@activity.defn(name="db charge payment")
def charge_payment(ref: OrderKey) -> str:
    conn = connection()
    reference = f"CAP-{secrets.token_hex(6).upper()}"
    with conn.transaction(), conn.cursor() as cur:
        _, total, currency, _, _ = _lock_order(cur, ref.order_id)
        cur.execute(
            "INSERT INTO orders_paymenttransaction (order_id, kind, amount, currency, idempotency_key, provider_reference, status, "
            "status_reason, settled_at, created_at) VALUES (%s, 'capture', %s, %s, %s, %s, 'captured', '', now(), now()) "
            "ON CONFLICT (order_id, kind) DO NOTHING", (ref.order_id, total, currency, f"capture-{ref.order_id}", reference))
        _entries(cur, ref.order_id, [("0004-payment", "payment", f"Charged {total} {currency} (ref {reference})", "")])
    return reference


def _fulfilling(order_id: int) -> None:
    conn = connection()
    with conn.transaction(), conn.cursor() as cur:
        _entries(cur, order_id, [("0005-status", "status", "Fulfilment started", "fulfilling")])
        cur.execute("UPDATE orders_order SET status = 'fulfilling', progress = 0, updated_at = now() WHERE id = %s", (order_id,))


def _progress(order_id: int, percent: int) -> None:
    connection().execute("UPDATE orders_order SET progress = %s, updated_at = now() WHERE id = %s AND progress < %s",
                         (percent, order_id, percent))


@activity.defn(name="db fulfil")
async def fulfil(job: FulfilJob) -> int:
    """As fulfil_order: its first entries, then per step a heartbeat, the progress written and signalled.

    The writes go to a thread of the loop's default pool, which keeps its connection."""
    info = activity.info()
    await asyncio.to_thread(_fulfilling, job.order_id)
    for step in range(job.fulfilment_steps):
        await asyncio.sleep(job.fulfilment_step_seconds)
        activity.heartbeat(step + 1)
        percent = round(100 * (step + 1) / job.fulfilment_steps)
        await asyncio.to_thread(_progress, job.order_id, percent)
        await activity.client().get_workflow_handle(info.workflow_id).signal("progress", Progress(percent))
    return job.fulfilment_steps


@activity.defn(name="db ship")
def ship(ref: OrderKey) -> str:
    conn = connection()
    with conn.transaction(), conn.cursor() as cur:
        _lock_order(cur, ref.order_id)
        held = cur.execute("SELECT id, warehouse_id, product_id, quantity FROM orders_stockreservation "
                           "WHERE order_id = %s AND status = 'held' ORDER BY product_id, warehouse_id FOR UPDATE",
                           (ref.order_id,)).fetchall()
        for _, warehouse_id, product_id, quantity in held:
            cur.execute("UPDATE orders_warehousestock SET reserved = reserved - %s, on_hand = on_hand - %s "
                        "WHERE warehouse_id = %s AND product_id = %s", (quantity, quantity, warehouse_id, product_id))
            cur.execute("UPDATE orders_product SET stock_reserved = stock_reserved - %s, stock_on_hand = stock_on_hand - %s "
                        "WHERE id = %s", (quantity, quantity, product_id))
        if held:
            cur.execute("UPDATE orders_stockreservation SET status = 'shipped' WHERE id = ANY(%s)", ([r[0] for r in held],))
        tracking = f"1Z{ref.order_id:08d}{secrets.token_hex(4).upper()}"
        tracking = cur.execute("UPDATE orders_order SET tracking_number = CASE WHEN tracking_number = '' THEN %s ELSE tracking_number END, "
                               "progress = 100, updated_at = now() WHERE id = %s RETURNING tracking_number",
                               (tracking, ref.order_id)).fetchone()[0]
        _entries(cur, ref.order_id, [
            ("0006-fulfilment", "fulfilment", "Fulfilment complete", ""),
            ("0007-shipment", "shipment", f"Shipped with Order Desk Freight, tracking number {tracking}", ""),
        ])
    return tracking


@activity.defn(name="db notify")
def notify(ref: OrderKey) -> bool:
    conn = connection()
    with conn.transaction(), conn.cursor() as cur:
        number, _, _, _, email = _lock_order(cur, ref.order_id)
        sent = cur.execute(
            "INSERT INTO orders_customernotification (order_id, kind, idempotency_key, recipient, subject, sent_at) "
            "VALUES (%s, 'fulfilled', 'notify-fulfilled', %s, %s, now()) ON CONFLICT (order_id, idempotency_key) DO NOTHING RETURNING id",
            (ref.order_id, email, f"Your order {number} has shipped")).fetchone()
        _entries(cur, ref.order_id, [
            ("0008-notification", "notification", "Customer emailed (fulfilled)", ""),
            ("0009-status", "status", "Fulfilled", "fulfilled"),
        ])
        cur.execute("UPDATE orders_order SET status = 'fulfilled', progress = 100, hold_stage = '', awaiting_stock = false, "
                    "updated_at = now() WHERE id = %s", (ref.order_id,))
    return sent is not None


@activity.defn(name="db check and record decision")
def record_decision(decision: DecisionInput) -> bool:
    conn = connection()
    with conn.transaction(), conn.cursor() as cur:
        _lock_order(cur, decision.order_id)
        new = cur.execute(
            "INSERT INTO approvals_approvaldecision (order_id, approver_username, decision, comment, request_id, created_at, senior, "
            "superseded, on_behalf_of_username, withdrawal_reason) VALUES (%s, %s, 'approve', '', %s, now(), false, false, '', '') "
            "ON CONFLICT (order_id, request_id) DO NOTHING RETURNING id",
            (decision.order_id, decision.actor, decision.request_id)).fetchone()
        _entries(cur, decision.order_id, [("0001-note", "note", f"Approval by {decision.actor} recorded", ""),
                                          ("0001-status", "status", f"Approved by {decision.actor}", "approved")])
        cur.execute("UPDATE orders_order SET status = 'approved', updated_at = now() WHERE id = %s AND status = 'pending_approval'",
                    (decision.order_id,))
    return new is not None


ACTIVITIES = [reserve_stock, charge_payment, fulfil, ship, notify, record_decision]


# --- The driver's side: what order_submit writes --------------------------------------------


@dataclass
class Buyer:
    customer_id: int
    clerk_id: int
    product_id: int
    price: Decimal


def buyer(conn: psycopg.Connection, *, sku: str, clerk: str, customer: str) -> Buyer:
    """The bench's fixtures (lifecycle.seed), by their names."""
    customer_id = conn.execute("SELECT id FROM orders_customer WHERE name = %s", (customer,)).fetchone()[0]
    clerk_id = conn.execute("SELECT id FROM auth_user WHERE username = %s", (clerk,)).fetchone()[0]
    product_id, price = conn.execute("SELECT id, price FROM orders_product WHERE sku = %s", (sku,)).fetchone()
    return Buyer(customer_id, clerk_id, product_id, price)


def submit(conn: psycopg.Connection, who: Buyer, *, workflow_id: str, requires_approval: bool, clerk: str) -> int:
    """One order of one unit, as order_submit writes it (one transaction); its id."""
    with conn.transaction(), conn.cursor() as cur:
        order_id = cur.execute(
            "INSERT INTO orders_order (customer_id, created_by_id, status, total, currency, priority, shipping_address, note, "
            "requires_approval, approval_rule, approvals_required, requires_senior, escalated, awaiting_answer, progress, "
            "tracking_number, failure_reason, sla_breached, sla_breached_stages, hold_stage, awaiting_stock, created_at, updated_at) "
            "VALUES (%s, %s, 'pending_approval', %s, 'USD', 'normal', '1 Bench Street', '', %s, %s, 1, false, false, false, 0, "
            "'', '', false, '', '', false, now(), now()) RETURNING id",
            (who.customer_id, who.clerk_id, who.price, requires_approval, json.dumps({**RULE, "auto_approve": not requires_approval})),
        ).fetchone()[0]
        number = f"PS-{order_id:06d}"
        cur.execute("UPDATE orders_order SET number = %s, workflow_id = %s WHERE id = %s", (number, workflow_id, order_id))
        cur.execute("INSERT INTO orders_orderline (order_id, product_id, quantity, unit_price, dropped) VALUES (%s, %s, 1, %s, false)",
                    (order_id, who.product_id, who.price))
        _entries(cur, order_id, [("0000-submitted", "submitted", f"Order {number} submitted ({who.price} USD)", "pending_approval")],
                 actor=clerk)
    return order_id


def started(conn: psycopg.Connection, order_id: int) -> None:
    """The workflow started (order_start_workflow's mark)."""
    conn.execute("UPDATE orders_order SET workflow_started_at = now() WHERE id = %s AND workflow_started_at IS NULL", (order_id,))
