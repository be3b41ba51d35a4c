"""Warehouses and their stock in the admin.

Stock is counted or received per warehouse here; the change goes through
orders.inventory.services (under the row's lock, never below what orders
hold, the product's total moved with it), not a plain save.
"""
from __future__ import annotations

from django import forms
from django.contrib import admin, messages

from orders.admin_readonly import ReadOnlyAdmin
from orders.exceptions import OrderError
from orders.inventory import services
from orders.inventory.models import Backorder, Warehouse, WarehouseStock


@admin.register(Warehouse)
class WarehouseAdmin(admin.ModelAdmin):
    list_display = ["code", "name", "active", "is_default"]
    list_filter = ["active"]
    search_fields = ["code", "name"]

    def has_delete_permission(self, request, obj=None):
        return False  # stock and reservations refer to it: make it inactive instead


class WarehouseStockForm(forms.ModelForm):
    class Meta:
        model = WarehouseStock
        fields = ["warehouse", "product", "on_hand"]

    def clean(self):
        cleaned = super().clean()
        row = self.instance
        on_hand = cleaned.get("on_hand")
        if row.pk and on_hand is not None and on_hand < row.reserved:
            self.add_error("on_hand", f"{row.reserved} units here are reserved for orders: on hand cannot go below that.")
        return cleaned



@admin.register(WarehouseStock)
class WarehouseStockAdmin(admin.ModelAdmin):
    form = WarehouseStockForm
    list_display = ["product", "warehouse", "on_hand", "reserved", "available"]
    list_filter = ["warehouse"]
    search_fields = ["product__sku", "product__name"]
    list_select_related = ["product", "warehouse"]
    autocomplete_fields = ["product"]

    def get_readonly_fields(self, request, obj=None):
        return ["warehouse", "product", "reserved"] if obj else ["reserved"]

    def has_delete_permission(self, request, obj=None):
        return False

    def save_model(self, request, obj, form, change):
        try:
            saved = services.stock_set_on_hand(warehouse_id=obj.warehouse_id, product_id=obj.product_id, on_hand=obj.on_hand)
        except OrderError as err:
            self.message_user(request, err.message, messages.ERROR)
            return
        obj.pk, obj.reserved = saved.pk, saved.reserved

    @admin.display(description="Available")
    def available(self, obj: WarehouseStock) -> int:
        return obj.available


class WarehouseStockInline(admin.TabularInline):
    """A product's stock by warehouse, as the orders see it; counts and receipts are made under Warehouse stock."""

    model = WarehouseStock
    fields = ["warehouse", "on_hand", "reserved", "available"]
    readonly_fields = fields
    extra = 0
    can_delete = False
    verbose_name_plural = "Stock by warehouse (change it under Warehouse stock)"

    def has_add_permission(self, request, obj=None):
        return False

    @admin.display(description="Available")
    def available(self, obj: WarehouseStock) -> int:
        return obj.available


@admin.register(Backorder)
class BackorderAdmin(ReadOnlyAdmin):
    """Written by the order's workflow (its stock decision); read here."""

    list_display = ["order", "product", "quantity", "status", "warehouse", "until"]
    list_filter = ["status", "warehouse"]
    search_fields = ["order__number", "product__sku"]
    list_select_related = ["order", "product", "warehouse"]
