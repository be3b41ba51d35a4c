"""Checking an intake request body, field by field.

JSON is typed: "3" is not a quantity and true is not a customer id, so the
checks are strict and each failure names its field (`lines[0].sku`). The
limits here are the ones the OpenAPI document states (orders.api.schema).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from django.core.exceptions import ValidationError
from django.core.validators import validate_email

from orders.amounts import MAX_ID, MAX_QUANTITY
from orders.models import Customer, Priority, Product

MAX_LINES = 50
MAX_ADDRESS = 500
MAX_NOTE = 1000
MAX_REASON = 500
MAX_SKU = 40
MAX_EMAIL = 254
CREATE_FIELDS = {"customer_id", "customer_email", "lines", "shipping_address", "priority", "note"}
LINE_FIELDS = {"sku", "quantity"}


@dataclass
class Errors:
    fields: dict[str, list[str]] = field(default_factory=dict)

    def add(self, name: str, message: str) -> None:
        self.fields.setdefault(name, []).append(message)

    def __bool__(self) -> bool:
        return bool(self.fields)


def clean_text(value: Any, name: str, errors: Errors, *, max_length: int, required: bool) -> str | None:
    if value is None and not required:
        return ""
    if not isinstance(value, str):
        errors.add(name, "Must be a string.")
        return None
    if "\x00" in value:
        errors.add(name, "Must not contain NUL characters.")
        return None
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        errors.add(name, "Must be valid Unicode text.")
        return None
    if len(value) > max_length:
        errors.add(name, f"At most {max_length} characters.")
        return None
    if required and not value.strip():
        errors.add(name, "This field is required.")
        return None
    return value.strip()


def clean_int(value: Any, name: str, errors: Errors, *, minimum: int, maximum: int) -> int | None:
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int):
        errors.add(name, "Must be an integer.")
        return None
    if not minimum <= value <= maximum:
        errors.add(name, f"Must be between {minimum} and {maximum}.")
        return None
    return value


def _unknown(data: dict, allowed: set[str], prefix: str, errors: Errors) -> None:
    for name in sorted(set(data) - allowed):
        errors.add(f"{prefix}{name}", "Unknown field.")


@dataclass
class CreateRequest:
    customer: Customer
    lines: list[tuple[Product, int]]
    shipping_address: str
    priority: str
    note: str


def clean_create(data: Any) -> tuple[CreateRequest | None, Errors]:
    """The order a create request asks for, or the errors that refuse it."""
    errors = Errors()
    if not isinstance(data, dict):
        errors.add("body", "Must be a JSON object.")
        return None, errors
    _unknown(data, CREATE_FIELDS, "", errors)

    customer = _clean_customer(data, errors)
    lines = _clean_lines(data.get("lines"), errors)
    address = clean_text(data.get("shipping_address"), "shipping_address", errors, max_length=MAX_ADDRESS, required=True)
    note = clean_text(data.get("note"), "note", errors, max_length=MAX_NOTE, required=False)
    priority = data.get("priority", Priority.NORMAL)
    if priority not in Priority.values:  # also refuses non-strings
        errors.add("priority", f"Must be one of: {', '.join(Priority.values)}.")
    if errors:
        return None, errors
    return CreateRequest(customer=customer, lines=lines, shipping_address=address, priority=priority, note=note), errors


def _clean_customer(data: dict, errors: Errors) -> Customer | None:
    has_id, has_email = "customer_id" in data, "customer_email" in data
    if has_id == has_email:
        errors.add("customer_id", "Give exactly one of customer_id and customer_email.")
        return None
    if has_id:
        pk = clean_int(data["customer_id"], "customer_id", errors, minimum=1, maximum=MAX_ID)
        if pk is None:
            return None
        customer = Customer.objects.filter(pk=pk).first()
        if customer is None:
            errors.add("customer_id", f"No customer with id {pk}.")
        return customer
    email = clean_text(data["customer_email"], "customer_email", errors, max_length=MAX_EMAIL, required=True)
    if email is None:
        return None
    try:
        validate_email(email)
    except ValidationError:
        errors.add("customer_email", "Must be an email address.")
        return None
    matches = list(Customer.objects.filter(email__iexact=email).order_by("id")[:2])
    if not matches:
        errors.add("customer_email", f"No customer with email {email}.")
        return None
    if len(matches) > 1:
        errors.add("customer_email", f"Several customers have email {email}; use customer_id.")
        return None
    return matches[0]


def _clean_lines(value: Any, errors: Errors) -> list[tuple[Product, int]]:
    if not isinstance(value, list):
        errors.add("lines", "Must be a list of {sku, quantity} objects." if value is not None else "This field is required.")
        return []
    if not 1 <= len(value) <= MAX_LINES:
        errors.add("lines", f"Between 1 and {MAX_LINES} lines.")
        return []
    wanted: list[tuple[int, str, int]] = []
    for index, line in enumerate(value):
        name = f"lines[{index}]"
        if not isinstance(line, dict):
            errors.add(name, "Must be an object with sku and quantity.")
            continue
        _unknown(line, LINE_FIELDS, f"{name}.", errors)
        sku = clean_text(line.get("sku"), f"{name}.sku", errors, max_length=MAX_SKU, required=True)
        quantity = clean_int(line.get("quantity"), f"{name}.quantity", errors, minimum=1, maximum=MAX_QUANTITY)
        if sku is not None and quantity is not None:
            wanted.append((index, sku, quantity))
    products = {p.sku: p for p in Product.objects.filter(sku__in={sku for _, sku, _ in wanted})}
    lines = []
    for index, sku, quantity in wanted:
        product = products.get(sku)
        if product is None:
            errors.add(f"lines[{index}].sku", f"No product with SKU {sku}.")
        elif not product.active:
            errors.add(f"lines[{index}].sku", f"{sku} is no longer sold.")
        else:
            lines.append((product, quantity))
    return lines


def clean_cancel(data: Any) -> tuple[str | None, Errors]:
    errors = Errors()
    if not isinstance(data, dict):
        errors.add("body", "Must be a JSON object.")
        return None, errors
    _unknown(data, {"reason"}, "", errors)
    reason = clean_text(data.get("reason"), "reason", errors, max_length=MAX_REASON, required=True)
    return (None if errors else reason), errors
