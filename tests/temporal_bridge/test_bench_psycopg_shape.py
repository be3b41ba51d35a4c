"""The psycopg-shape baseline writes, for each order, what the real path writes, and each write happens once.

`make bench` divides the real path's throughput by this shape's, as "what
the work itself costs": a shape that skipped a write (or did one twice)
would make that ratio a lie. Checked on real Temporal and real PostgreSQL.
"""
from __future__ import annotations

import uuid
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal

import psycopg
import pytest
from django.conf import settings
from django.db import connection
from temporalio.worker import Worker

from approvals.models import ApprovalDecision
from orders.models import CustomerNotification, Order, Product, StockReservation, WarehouseStock
from orders.payments.models import PaymentTransaction
from orders.timeline.models import OrderEvent
from tools.bench import baseline, baseline_db, history


def _url() -> str:
    db = settings.DATABASES["default"]
    return f"postgresql://{db['USER']}:{db['PASSWORD']}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"


@pytest.fixture
def on_postgresql(monkeypatch):
    if connection.vendor != "postgresql":
        pytest.skip("the psycopg shape writes PostgreSQL's tables through psycopg: the bench skips it on SQLite (its row says so)")
    monkeypatch.setenv("DATABASE_URL", _url())
    yield
    baseline_db.close_connections()


class Orders:
    """As the bench's driver: each order written as order_submit writes it, then its workflow started."""

    def __init__(self, conn, who: baseline_db.Buyer, *, requires_approval: bool, clerk: str) -> None:
        self.conn, self.who, self.requires_approval, self.clerk = conn, who, requires_approval, clerk
        self.ids: list[int] = []

    def submit(self, index: int, workflow_id: str) -> int:
        order_id = baseline_db.submit(self.conn, self.who, workflow_id=workflow_id, requires_approval=self.requires_approval,
                                      clerk=self.clerk)
        self.ids.append(order_id)
        return order_id

    def started(self, order_id: int) -> None:
        baseline_db.started(self.conn, order_id)


@pytest.mark.django_db(transaction=True)
def test_each_order_of_the_psycopg_shape_ends_with_the_rows_a_real_order_has(on_postgresql, temporal_dev_server, customer, clerk):
    widget = Product.objects.create(sku="PS-1", name="Widget", price=Decimal("10.00"), stock_on_hand=100)
    stock = WarehouseStock.objects.get(product=widget)

    async def body(scenario):
        client = scenario.env.client
        runs = {}
        with ThreadPoolExecutor(max_workers=4) as executor, psycopg.connect(_url(), autocommit=True) as conn:
            who = baseline_db.buyer(conn, sku=widget.sku, clerk=clerk.username, customer=customer.name)
            async with Worker(client, task_queue=scenario.task_queue, workflows=list(baseline.WORKFLOWS.values()),
                              activities=[baseline.noop, baseline.fulfil, *baseline_db.ACTIVITIES], activity_executor=executor):
                for approval, count in ((False, 2), (True, 1)):
                    prefix = f"psycopg-{approval}-{uuid.uuid4().hex[:6]}"
                    orders = Orders(conn, who, requires_approval=approval, clerk=clerk.username)
                    _, failures = await baseline.drive(client, task_queue=scenario.task_queue, count=count, requires_approval=approval,
                                                       steps=1, step_seconds=0.0, prefix=prefix, timeout=60, shape="psycopg",
                                                       orders=orders)
                    assert failures == 0, approval
                    ids = [f"{prefix}-{i}" for i in range(count)]
                    runs[approval] = (orders.ids, await history.count(client, ids, timeout=30))
        return runs

    runs, _ = temporal_dev_server.play(body, start_worker=False)
    # The business shape: 5 activities and the progress signal; a manager's order adds its decision and the approval signal.
    for approval, (activities, signals) in ((False, (5, 1)), (True, (6, 2))):
        ids, counts = runs[approval]
        assert (counts.workflows, counts.activities, counts.signals) == (len(ids), activities, signals), approval
        for order in Order.objects.filter(pk__in=ids):
            assert (order.status, order.progress, order.workflow_id != "") == ("fulfilled", 100, True)
            assert order.tracking_number.startswith(f"1Z{order.pk:08d}")
            kinds = list(OrderEvent.objects.filter(order=order).order_by("idempotency_key").values_list("kind", flat=True))
            real_kinds = ["submitted", *(["note"] if approval else []), "status", "status", "stock", "payment", "status", "fulfilment",
                          "shipment", "notification", "status"]
            assert sorted(kinds) == sorted(real_kinds)
            payment = PaymentTransaction.objects.get(order=order)
            assert (payment.kind, payment.status, payment.amount) == ("capture", "captured", Decimal("10.00"))
            assert list(StockReservation.objects.filter(order=order).values_list("status", "quantity")) == [("shipped", 1)]
            assert CustomerNotification.objects.filter(order=order, kind="fulfilled").count() == 1
            assert ApprovalDecision.objects.filter(order=order).count() == (1 if approval else 0)
    # Three units left the warehouse, none is still held for an order.
    stock.refresh_from_db()
    widget.refresh_from_db()
    assert (stock.on_hand, stock.reserved, widget.stock_on_hand, widget.stock_reserved) == (97, 0, 97, 0)


@pytest.mark.django_db(transaction=True)
def test_a_retried_step_of_the_psycopg_shape_moves_nothing_twice(on_postgresql, customer, clerk):
    widget = Product.objects.create(sku="PS-2", name="Widget", price=Decimal("10.00"), stock_on_hand=5)
    with psycopg.connect(_url(), autocommit=True) as conn:
        who = baseline_db.buyer(conn, sku=widget.sku, clerk=clerk.username, customer=customer.name)
        order_id = baseline_db.submit(conn, who, workflow_id="retry-1", requires_approval=False, clerk=clerk.username)
    ref = baseline_db.OrderKey(order_id, "0001")
    for step in (baseline_db.reserve_stock, baseline_db.reserve_stock, baseline_db.charge_payment, baseline_db.charge_payment,
                 baseline_db.ship, baseline_db.ship, baseline_db.notify, baseline_db.notify):
        step(ref)  # an activity's retry runs it again with the same input
    stock = WarehouseStock.objects.get(product=widget)
    assert (stock.on_hand, stock.reserved) == (4, 0)
    assert StockReservation.objects.filter(order_id=order_id).count() == 1
    assert PaymentTransaction.objects.filter(order_id=order_id).count() == 1
    assert CustomerNotification.objects.filter(order_id=order_id).count() == 1
    assert OrderEvent.objects.filter(order_id=order_id).count() == 9  # submitted + the 8 the steps write, each once
    assert Order.objects.get(pk=order_id).status == "fulfilled"


@pytest.mark.django_db(transaction=True)
def test_the_psycopg_shape_refuses_an_order_it_cannot_find(on_postgresql):
    with pytest.raises(LookupError):
        baseline_db.charge_payment(baseline_db.OrderKey(987654321, "0001"))
