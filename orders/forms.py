"""Forms for the order pages. All validation happens here, on the server."""
from __future__ import annotations

from django import forms
from django.forms import formset_factory

from orders.amounts import MAX_ID, MAX_QUANTITY, money
from orders.inventory.selectors import stock_by_warehouse_text
from orders.models import Customer, OrderStatus, Priority, Product
from temporal_bridge.order.stock_decisions import CHOICES as STOCK_CHOICES
from temporal_bridge.order.stock_decisions import MAX_CHOICES as MAX_STOCK_CHOICES


def request_id_field() -> forms.CharField:
    """The id a form carries so that submitting it twice counts once."""
    return forms.RegexField(regex=r"^[A-Za-z0-9-]{8,64}$", required=False, widget=forms.HiddenInput)


# A keyset cursor is an order id: whatever else arrives was not made by our links.
CURSOR_ERRORS = {key: "Not a position in the list." for key in ("invalid", "min_value", "max_value")}


class OrderFilterForm(forms.Form):
    status = forms.ChoiceField(choices=[("", "All states"), *OrderStatus.choices], required=False)
    q = forms.CharField(
        required=False, max_length=100, label="Search", widget=forms.TextInput(attrs={"placeholder": "Order number or customer"}),
    )
    breached = forms.BooleanField(required=False, label="Service level breached")
    late = forms.BooleanField(required=False, label="Late parcels only")
    stock = forms.BooleanField(required=False, label="Waiting for a stock decision")
    # A code typed, not a select: the list page spends no query on the warehouses.
    warehouse = forms.RegexField(regex=r"^[A-Za-z0-9-]{2,12}$", required=False, label="Warehouse",
                                 widget=forms.TextInput(attrs={"placeholder": "Code, e.g. EAST", "size": 8}))

    def clean_warehouse(self) -> str:
        return self.cleaned_data["warehouse"].upper()
    before = forms.IntegerField(required=False, min_value=1, max_value=MAX_ID, widget=forms.HiddenInput, error_messages=CURSOR_ERRORS)
    after = forms.IntegerField(required=False, min_value=1, max_value=MAX_ID, widget=forms.HiddenInput, error_messages=CURSOR_ERRORS)


class ProductChoiceField(forms.ModelChoiceField):
    """Products are few: a select, each option with its price and the units free now, by warehouse."""

    def label_from_instance(self, product: Product) -> str:
        return (f"{product.sku} · {product.name} — {money(product.price)} "
                f"({product.stock_available:,} available: {stock_by_warehouse_text(product)})")


class OrderForm(forms.Form):
    # Thousands of customers: never rendered as a select. The page offers the
    # matches of a search as radio buttons of this name (orders/_customer_picker.html).
    customer = forms.ModelChoiceField(queryset=Customer.objects.all(), widget=forms.HiddenInput)
    priority = forms.ChoiceField(choices=Priority.choices, initial=Priority.NORMAL)
    shipping_address = forms.CharField(widget=forms.Textarea(attrs={"rows": 3}), max_length=500)
    note = forms.CharField(widget=forms.Textarea(attrs={"rows": 2}), max_length=1000, required=False)
    # Made when the form is shown: posting the same form twice makes one order.
    request_id = request_id_field()


class OrderLineForm(forms.Form):
    product = ProductChoiceField(queryset=Product.objects.filter(active=True).prefetch_related("warehouse_stock__warehouse"),
                                 required=False)
    quantity = forms.IntegerField(min_value=1, max_value=MAX_QUANTITY, required=False)

    def clean(self):
        cleaned = super().clean()
        product, quantity = cleaned.get("product"), cleaned.get("quantity")
        if product and not quantity and "quantity" not in self.errors:
            self.add_error("quantity", "Enter a quantity for this product.")
        if quantity and not product and "product" not in self.errors:
            self.add_error("product", "Choose a product for this quantity.")
        return cleaned


class BaseOrderLineFormSet(forms.BaseFormSet):
    def clean(self):
        if any(self.errors):
            return
        if not self.filled_lines():
            raise forms.ValidationError("Add at least one line with a product and a quantity.")

    def filled_lines(self) -> list[tuple[Product, int]]:
        return [(f.cleaned_data["product"], f.cleaned_data["quantity"]) for f in self.forms if f.cleaned_data.get("product")]


OrderLineFormSet = formset_factory(OrderLineForm, formset=BaseOrderLineFormSet, extra=4, max_num=50, validate_max=True)


class CustomerSearchForm(forms.Form):
    """The new-order form's customer search: the text typed, and the customer already chosen (kept)."""

    customer_search = forms.CharField(required=False, max_length=100, strip=True)
    customer = forms.IntegerField(required=False, min_value=1, max_value=MAX_ID)


class ReasonForm(forms.Form):
    reason = forms.CharField(max_length=500, label="Reason", error_messages={"required": "A reason is required."})
    request_id = request_id_field()

    def clean_reason(self):
        reason = self.cleaned_data["reason"].strip()
        if not reason:
            raise forms.ValidationError("A reason is required.")
        return reason


def on_behalf_of_field() -> forms.CharField:
    """Whom the approver stands in for under a delegation (empty: themselves)."""
    return forms.CharField(max_length=150, required=False, widget=forms.HiddenInput)


class ApproveForm(forms.Form):
    comment = forms.CharField(max_length=500, required=False, label="Comment")
    request_id = request_id_field()
    on_behalf_of = on_behalf_of_field()


class ReleaseHoldForm(forms.Form):
    """A manager releases a fraud hold; the comment says why the alert was judged safe."""

    comment = forms.CharField(max_length=500, required=False, label="Comment")
    request_id = request_id_field()


class RejectForm(ReasonForm):
    on_behalf_of = on_behalf_of_field()


class UpdateForm(forms.Form):
    priority = forms.ChoiceField(choices=Priority.choices)
    shipping_address = forms.CharField(widget=forms.Textarea(attrs={"rows": 3}), max_length=500)
    note = forms.CharField(widget=forms.Textarea(attrs={"rows": 2}), max_length=1000, required=False)
    request_id = request_id_field()


class StockDecisionForm(forms.Form):
    """A choice per line no warehouse holds: fields "line-<product id>" = drop or backorder."""

    request_id = request_id_field()

    def clean(self):
        cleaned = super().clean()
        choices = {}
        for name, value in self.data.items():
            if not name.startswith("line-"):
                continue
            product_id = name.removeprefix("line-")
            if not product_id.isdigit() or len(product_id) > 18 or value not in STOCK_CHOICES:
                raise forms.ValidationError("Choose drop or backorder for each missing line.")
            choices[int(product_id)] = value
        if not choices or len(choices) > MAX_STOCK_CHOICES:
            raise forms.ValidationError("Choose drop or backorder for each missing line.")
        cleaned["choices"] = choices
        return cleaned
