"""Warehouses and the stock each holds.

A product's stock lives per (warehouse, product); the product's own
stock_on_hand and stock_reserved are the totals over its warehouses, kept
equal to their sum by orders.inventory.services, which changes both under the
same row locks (list pages and the new-order form read the totals).
"""
from __future__ import annotations

from django.core.validators import RegexValidator
from django.db import models
from django.db.models import F, Q

DEFAULT_WAREHOUSE_CODE = "MAIN"


class Warehouse(models.Model):
    code = models.CharField(max_length=12, unique=True,
                            validators=[RegexValidator(r"^[A-Z0-9-]{2,12}\Z", "A code is 2 to 12 capital letters, digits or dashes.")])
    name = models.CharField(max_length=100)
    address = models.TextField(blank=True)
    active = models.BooleanField(default=True, help_text="Only active warehouses are planned to ship orders.")
    # The warehouse a product's opening stock goes to, and the first choice when several could ship an order.
    is_default = models.BooleanField(default=False)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-is_default", "code"]
        constraints = [
            models.UniqueConstraint(fields=["is_default"], condition=Q(is_default=True), name="warehouse_one_default"),
        ]

    def __str__(self) -> str:
        return f"{self.code} · {self.name}"


class WarehouseStock(models.Model):
    warehouse = models.ForeignKey(Warehouse, on_delete=models.PROTECT, related_name="stock")
    product = models.ForeignKey("orders.Product", on_delete=models.CASCADE, related_name="warehouse_stock")
    on_hand = models.PositiveIntegerField(default=0)
    # Units promised to orders that are reserved here but not yet shipped.
    reserved = models.PositiveIntegerField(default=0)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["product_id", "warehouse_id"]
        verbose_name_plural = "warehouse stock"
        constraints = [
            models.UniqueConstraint(fields=["warehouse", "product"], name="warehousestock_one_per_warehouse_product"),
            models.CheckConstraint(condition=Q(reserved__lte=F("on_hand")), name="warehousestock_reserved_within_on_hand"),
        ]

    def __str__(self) -> str:
        return f"{self.product} at {self.warehouse.code}: {self.available} available"

    @property
    def available(self) -> int:
        return self.on_hand - self.reserved


class Backorder(models.Model):
    """A line no warehouse held, which a person chose to wait for: filled by a restock, or dropped at its deadline."""

    class Status(models.TextChoices):
        WAITING = "waiting", "Waiting for a restock"
        FILLED = "filled", "Filled"
        DROPPED = "dropped", "Dropped"
        CANCELLED = "cancelled", "Cancelled with the order"

    order = models.ForeignKey("orders.Order", on_delete=models.CASCADE, related_name="backorders")
    product = models.ForeignKey("orders.Product", on_delete=models.PROTECT, related_name="backorders")
    quantity = models.PositiveIntegerField()
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.WAITING)
    until = models.DateTimeField(help_text="Dropped if not restocked by then.")
    # Where it is expected (where the rest of the order ships from), then where it was filled from.
    warehouse = models.ForeignKey(Warehouse, on_delete=models.PROTECT, null=True, blank=True, related_name="backorders")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["until", "id"]
        constraints = [models.UniqueConstraint(fields=["order", "product"], name="backorder_one_per_order_product")]
        indexes = [models.Index(fields=["product"], condition=Q(status="waiting"), name="backorder_waiting_idx")]

    def __str__(self) -> str:
        return f"{self.quantity} × {self.product} for {self.order} ({self.status})"
