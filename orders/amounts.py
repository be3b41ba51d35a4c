"""What an order can hold: quantities and amounts within their columns.

The one place that knows the bounds. `order_submit` (the form, the intake
API, seed_demo) checks every line and the total here before it writes
anything, the model fields and the database check constraints use the same
numbers, and the forms state the same per-line limit. A total wider than
`numeric(12, 2)` must never reach the database: PostgreSQL refuses it with a
500, and SQLite stores it and then fails every read of the row.
"""
from __future__ import annotations

from decimal import Decimal, InvalidOperation

from django.core.exceptions import ValidationError

from orders.exceptions import OrderError

# The largest primary key (a bigint): a larger number names no row, and on
# SQLite it cannot even be sent to the database.
MAX_ID = 2**63 - 1
# Units of one product in one order (after repeated lines are merged).
MAX_QUANTITY = 10_000
# Every amount column (prices, line prices, totals) is numeric(MONEY_DIGITS, MONEY_PLACES).
MONEY_DIGITS = 12
MONEY_PLACES = 2
MAX_AMOUNT = Decimal(10) ** (MONEY_DIGITS - MONEY_PLACES) - Decimal(1).scaleb(-MONEY_PLACES)  # 9,999,999,999.99


class AmountOutOfRange(OrderError):
    """A quantity or amount the order's columns cannot hold."""


def money(value: Decimal) -> str:
    return f"{value:,.2f}"


def check_quantity(quantity: int, *, sku: str) -> None:
    if quantity < 1:
        raise AmountOutOfRange(f"Quantity for {sku} must be at least 1.")
    if quantity > MAX_QUANTITY:
        raise AmountOutOfRange(
            f"{sku}: {quantity:,} units in one order; an order holds at most {MAX_QUANTITY:,} units of a product. "
            "Split it into several orders."
        )


def check_amount(value: Decimal, *, what: str) -> None:
    """A price or total: not negative, at most MAX_AMOUNT, whole cents."""
    try:
        in_cents = value == value.quantize(Decimal(1).scaleb(-MONEY_PLACES))
    except InvalidOperation:
        in_cents = False
    if not value.is_finite() or value < 0:
        raise AmountOutOfRange(f"{what} must be a positive amount.")
    if value > MAX_AMOUNT:
        raise AmountOutOfRange(
            f"{what} {money(value)} exceeds the largest total an order can hold ({money(MAX_AMOUNT)}). Split it into several orders."
        )
    if not in_cents:
        raise AmountOutOfRange(f"{what} {value} has more than {MONEY_PLACES} decimal places.")


def line_total(*, sku: str, unit_price: Decimal, quantity: int) -> Decimal:
    """unit_price × quantity, with the quantity, the price and the product checked."""
    check_quantity(quantity, sku=sku)
    check_amount(unit_price, what=f"The price of {sku}")
    amount = unit_price * quantity
    check_amount(amount, what=f"The line total for {sku}")
    return amount


def total_of(line_totals) -> Decimal:
    """The sum of checked line totals, itself checked."""
    total = sum(line_totals, Decimal("0"))
    check_amount(total, what="The order total")
    return total


def order_total(lines) -> Decimal:
    """The total of (sku, unit_price, quantity) lines, each checked, and the total itself.

    Raises AmountOutOfRange before anything is written.
    """
    return total_of(line_total(sku=sku, unit_price=unit_price, quantity=quantity) for sku, unit_price, quantity in lines)


def validate_price(value: Decimal) -> None:
    """Model-field validator for a product's price (the admin's form runs it)."""
    try:
        check_amount(value, what="The price")
    except AmountOutOfRange as err:
        raise ValidationError(err.message, code="amount_out_of_range") from err
