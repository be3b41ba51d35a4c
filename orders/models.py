"""Order records: the database mirror of what the workflows decide.

The workflow owns each order's lifecycle; these tables hold what it has
recorded (status, events, payments, reservations) so list pages, the admin and
reports read PostgreSQL and never call Temporal per row.
"""
from __future__ import annotations

from decimal import Decimal

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models, transaction
from django.db.models import F, Q
from django.urls import reverse

from orders.amounts import MAX_AMOUNT, MAX_QUANTITY, MONEY_DIGITS, MONEY_PLACES, validate_price

# Django registers an app's models from this one module: each domain's tables
# live beside that domain's code and are named here. They refer to the core
# models by name ("orders.Order"), so nothing imports this module back.
from orders.api.models import ApiKey, IdempotencyRecord
from orders.delivery.models import OperationsTask, Parcel, ParcelEvent
from orders.holds.models import CircuitBreaker, FulfilmentPause, HoldEvent
from orders.intents.models import RecordedIntent
from orders.inventory.models import DEFAULT_WAREHOUSE_CODE, Backorder, Warehouse, WarehouseStock
from orders.payments.models import PaymentTransaction
from orders.privacy.models import CustomerDataKey, CustomerErasure
from orders.timeline.models import OrderEvent
from orders.webhooks.models import WebhookEvent
from temporal_bridge.approvals import rules as approval_rules
from temporal_bridge.approvals.messages import ApprovalRule
from temporal_bridge.order import states

__all__ = [
    "ApiKey", "Backorder", "CircuitBreaker", "Customer", "CustomerDataKey", "CustomerErasure", "CustomerNotification",
    "FulfilmentPause", "HoldEvent", "IdempotencyRecord", "OperationsTask", "Order", "OrderEvent", "OrderLine",
    "OrderStatus", "Parcel", "ParcelEvent", "PaymentTransaction", "Priority", "Product", "RecordedIntent",
    "StockReservation", "Warehouse", "WarehouseStock", "WebhookEvent",
]


class Customer(models.Model):
    name = models.CharField(max_length=200)
    email = models.EmailField()
    # The simulated payment provider declines a charge above this amount
    # (see orders.payments.gateway); it stands in for a card's available credit.
    credit_limit = models.DecimalField(max_digits=12, decimal_places=2, default=Decimal("100000.00"))
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]
        indexes = [models.Index(fields=["name"], name="customer_name_idx")]

    def __str__(self) -> str:
        return self.name


class Product(models.Model):
    sku = models.CharField(max_length=40, unique=True)
    name = models.CharField(max_length=200)
    price = models.DecimalField(max_digits=MONEY_DIGITS, decimal_places=MONEY_PLACES, validators=[validate_price])
    # The totals over the product's warehouses (orders.inventory): set once, as
    # the opening stock of a new product, then kept by the inventory services.
    stock_on_hand = models.PositiveIntegerField(default=0)
    # Units promised to orders that are reserved but not yet shipped.
    stock_reserved = models.PositiveIntegerField(default=0)
    active = models.BooleanField(default=True)

    class Meta:
        ordering = ["sku"]
        constraints = [
            models.CheckConstraint(condition=Q(stock_reserved__lte=F("stock_on_hand")), name="product_reserved_within_on_hand"),
            models.CheckConstraint(condition=Q(price__gte=0, price__lte=MAX_AMOUNT), name="product_price_in_range"),
        ]

    def __str__(self) -> str:
        return f"{self.sku} · {self.name}"

    @property
    def stock_available(self) -> int:
        return self.stock_on_hand - self.stock_reserved

    @transaction.atomic
    def save(self, *args, **kwargs) -> None:
        """A new product's opening stock is stock in the default warehouse, so
        the totals equal the sum over the warehouses from the first moment."""
        adding = self._state.adding
        super().save(*args, **kwargs)
        if adding and self.stock_on_hand:
            warehouse, _ = Warehouse.objects.get_or_create(
                is_default=True, defaults={"code": DEFAULT_WAREHOUSE_CODE, "name": "Main warehouse"})
            WarehouseStock.objects.create(warehouse=warehouse, product=self, on_hand=self.stock_on_hand, reserved=self.stock_reserved)


class Priority(models.TextChoices):
    LOW = "low", "Low"
    NORMAL = "normal", "Normal"
    HIGH = "high", "High"
    URGENT = "urgent", "Urgent"


class OrderStatus(models.TextChoices):
    PENDING_APPROVAL = states.PENDING_APPROVAL, states.LABELS[states.PENDING_APPROVAL]
    APPROVED = states.APPROVED, states.LABELS[states.APPROVED]
    PROCESSING = states.PROCESSING, states.LABELS[states.PROCESSING]
    FULFILLING = states.FULFILLING, states.LABELS[states.FULFILLING]
    FULFILLED = states.FULFILLED, states.LABELS[states.FULFILLED]
    REJECTED = states.REJECTED, states.LABELS[states.REJECTED]
    CANCELLED = states.CANCELLED, states.LABELS[states.CANCELLED]
    EXPIRED = states.EXPIRED, states.LABELS[states.EXPIRED]
    FAILED = states.FAILED, states.LABELS[states.FAILED]
    STOPPED = states.STOPPED, states.LABELS[states.STOPPED]
    ON_HOLD = states.ON_HOLD, states.LABELS[states.ON_HOLD]
    PARTIALLY_SHIPPED = states.PARTIALLY_SHIPPED, states.LABELS[states.PARTIALLY_SHIPPED]
    IN_TRANSIT = states.IN_TRANSIT, states.LABELS[states.IN_TRANSIT]
    DELIVERED = states.DELIVERED, states.LABELS[states.DELIVERED]
    RETURNED = states.RETURNED, states.LABELS[states.RETURNED]


class Order(models.Model):
    number = models.CharField(max_length=20, unique=True, null=True, blank=True)
    customer = models.ForeignKey(Customer, on_delete=models.PROTECT, related_name="orders")
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="orders_created")
    status = models.CharField(max_length=20, choices=OrderStatus.choices, default=OrderStatus.PENDING_APPROVAL)
    total = models.DecimalField(max_digits=MONEY_DIGITS, decimal_places=MONEY_PLACES, default=Decimal("0"))
    currency = models.CharField(max_length=3, default="USD")
    priority = models.CharField(max_length=10, choices=Priority.choices, default=Priority.NORMAL)
    shipping_address = models.TextField()
    note = models.TextField(blank=True)
    requires_approval = models.BooleanField(default=True)
    approval_deadline = models.DateTimeField(null=True, blank=True)
    # The approval policy in force at submission, frozen as the workflow got it
    # (ApprovalRule as a dict): editing a policy changes no order in flight.
    approval_rule = models.JSONField(default=dict, blank=True)
    # From the rule, as columns, so the inbox can filter on them.
    approvals_required = models.PositiveSmallIntegerField(default=1)
    requires_senior = models.BooleanField(default=False)
    # Set by the workflow when the decision is overdue past the escalation time.
    escalated = models.BooleanField(default=False)
    # A question to the requester waits for their answer (set by a "question"
    # timeline entry, cleared by an "answer" one): the inbox shows the order
    # apart, as waiting on its requester, not as a decision to make.
    awaiting_answer = models.BooleanField(default=False)
    progress = models.PositiveSmallIntegerField(default=0)
    tracking_number = models.CharField(max_length=40, blank=True)
    failure_reason = models.CharField(max_length=300, blank=True)
    workflow_id = models.CharField(max_length=64, unique=True, null=True, blank=True)
    # The request id the new-order form carried: the same form posted twice
    # (a double click, a re-sent POST) makes one order. Unique per creator.
    submission_key = models.CharField(max_length=64, null=True, blank=True, editable=False)
    # Null until the workflow start succeeded; reconcile_orders starts the rest.
    workflow_started_at = models.DateTimeField(null=True, blank=True)
    # Set by the mirror from the workflow's "service_level" entries: some stage
    # overran its target (which ones: comma-separated, in the way's order).
    sla_breached = models.BooleanField(default=False)
    sla_breached_stages = models.CharField(max_length=60, blank=True)
    # The stage ("payment", "fulfilment") whose hold the order's workflow waits
    # on now, from its "hold"/"hold_released" entries: a resume signals these.
    hold_stage = models.CharField(max_length=20, blank=True, db_index=True)
    # Some lines are in no warehouse and the workflow waits for a person to
    # choose per line (drop, backorder, or cancel the order): from its
    # "stock_wait" / "stock_decided" entries, for the list's filter.
    awaiting_stock = models.BooleanField(default=False, db_index=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-id"]
        permissions = [
            ("approve_order", "Can approve or reject orders"),
            ("cancel_order", "Can cancel orders"),
            # The Temporal UI's codec endpoint (temporal_bridge/client/codec_server.py): staff with it read payloads in clear.
            ("view_decoded_payloads", "Can view decoded workflow payloads in the Temporal UI"),
        ]
        indexes = [
            # The list page: newest first, optionally filtered by status.
            models.Index(fields=["status", "-id"], name="order_status_id_idx"),
            models.Index(fields=["customer", "-id"], name="order_customer_id_idx"),
            models.Index(fields=["workflow_started_at"], name="order_wf_started_idx"),
            # The list's "Breached" filter, newest first: only the breached orders are in it.
            models.Index(fields=["-id"], condition=Q(sla_breached=True), name="order_breached_id_idx"),
        ]
        constraints = [
            # orders.amounts checks before writing; this keeps anything else from storing the impossible.
            models.CheckConstraint(condition=Q(total__gte=0, total__lte=MAX_AMOUNT), name="order_total_in_range"),
            models.UniqueConstraint(fields=["created_by", "submission_key"], name="order_submitted_once_per_key"),
        ]

    def __str__(self) -> str:
        return self.number or f"Order #{self.pk}"

    def get_absolute_url(self) -> str:
        return reverse("orders:detail", args=[self.pk])

    @property
    def is_terminal(self) -> bool:
        return self.status in states.TERMINAL

    @property
    def status_label(self) -> str:
        return states.LABELS.get(self.status, self.status)

    @property
    def approval_rule_text(self) -> str:
        """Which approval rule applies, in words; empty for orders from before policies."""
        if not self.approval_rule:
            return ""
        return approval_rules.describe_rule(ApprovalRule(**self.approval_rule))


class OrderLine(models.Model):
    order = models.ForeignKey(Order, on_delete=models.CASCADE, related_name="lines")
    product = models.ForeignKey(Product, on_delete=models.PROTECT, related_name="order_lines")
    quantity = models.PositiveIntegerField(validators=[MinValueValidator(1), MaxValueValidator(MAX_QUANTITY)])
    unit_price = models.DecimalField(max_digits=MONEY_DIGITS, decimal_places=MONEY_PLACES, validators=[validate_price])
    # In no warehouse, and dropped by a person's choice or a backorder's deadline: kept for the record, no longer in the total.
    dropped = models.BooleanField(default=False)

    class Meta:
        ordering = ["id"]
        constraints = [
            models.UniqueConstraint(fields=["order", "product"], name="orderline_one_per_product"),
            models.CheckConstraint(condition=Q(quantity__gte=1), name="orderline_quantity_positive"),
            models.CheckConstraint(condition=Q(quantity__lte=MAX_QUANTITY), name="orderline_quantity_at_most_max"),
            models.CheckConstraint(condition=Q(unit_price__gte=0, unit_price__lte=MAX_AMOUNT), name="orderline_unit_price_in_range"),
        ]

    def __str__(self) -> str:
        return f"{self.quantity} × {self.product.sku}"

    @property
    def line_total(self) -> Decimal:
        return self.unit_price * self.quantity


class StockReservation(models.Model):
    class Status(models.TextChoices):
        HELD = "held", "Held"
        RELEASED = "released", "Released"
        SHIPPED = "shipped", "Shipped"

    order = models.ForeignKey(Order, on_delete=models.CASCADE, related_name="reservations")
    product = models.ForeignKey(Product, on_delete=models.PROTECT, related_name="reservations")
    # The warehouse that holds (or shipped) the units: one per line, as the split plan chose.
    warehouse = models.ForeignKey(Warehouse, on_delete=models.PROTECT, related_name="reservations")
    quantity = models.PositiveIntegerField()
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.HELD)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["order", "product"], name="reservation_one_per_order_product"),
        ]

    def __str__(self) -> str:
        return f"{self.quantity} × {self.product.sku} from {self.warehouse.code} for {self.order} ({self.status})"


class CustomerNotification(models.Model):
    """The emails sent to customers, one per order and idempotency key."""

    order = models.ForeignKey(Order, on_delete=models.CASCADE, related_name="notifications")
    kind = models.CharField(max_length=20)
    idempotency_key = models.CharField(max_length=100)
    recipient = models.EmailField()
    subject = models.CharField(max_length=200)
    sent_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["sent_at", "id"]
        constraints = [
            models.UniqueConstraint(fields=["order", "idempotency_key"], name="notification_once_per_key"),
        ]

    def __str__(self) -> str:
        return f"{self.subject} → {self.recipient}"
