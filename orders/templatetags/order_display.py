"""Template filters: values that come from the workflow as ISO strings, amounts."""
from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

from django import template
from django.utils import dateformat, timezone

from orders.amounts import money as format_money
from orders.inventory.selectors import stock_by_warehouse_text

register = template.Library()


@register.filter
def isotime(value: str | None, fmt: str = "Y-m-d H:i T") -> str:
    """An ISO-8601 timestamp from a snapshot, in the site's time zone.

    Anything unparsable is shown as it came, rather than failing the page.
    """
    if not value:
        return ""
    try:
        moment = datetime.fromisoformat(value)
    except (TypeError, ValueError):
        return str(value)
    if timezone.is_naive(moment):
        moment = moment.replace(tzinfo=UTC)
    return dateformat.format(timezone.localtime(moment), fmt)


@register.filter
def money(value) -> str:
    """An amount with thousands separators and cents (orders.amounts.money); anything else as it is."""
    return format_money(value) if isinstance(value, Decimal) and value.is_finite() else str(value)


@register.filter
def stock_by_warehouse(product) -> str:
    """The units available now in each warehouse, e.g. "MAIN 5 · EAST 7"."""
    return stock_by_warehouse_text(product)
