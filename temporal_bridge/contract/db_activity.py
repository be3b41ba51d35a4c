"""How every activity that touches the database runs.

Activities are sync functions on the worker's thread pool that use the ORM
normally. Each run starts and ends with stale connections closed (a worker
outlives database restarts), and the business errors the order services raise
become non-retryable failures: retrying cannot put a declined card or a
missing item right. Their type is the exception's class name, which the
workflows' retry policies list (ERR_OUT_OF_STOCK, ERR_PAYMENT_DECLINED,
ERR_ORDER_NOT_FOUND).
"""
from __future__ import annotations

import functools
from collections.abc import Callable
from typing import TypeVar

from django.db import close_old_connections
from temporalio.exceptions import ApplicationError

from orders.exceptions import OrderNotFound, OutOfStock, PaymentDeclined

BUSINESS_ERRORS = (OutOfStock, PaymentDeclined, OrderNotFound)
F = TypeVar("F", bound=Callable)


def db_activity(func: F) -> F:
    """Run `func` with fresh DB connections; map business errors to non-retryable ones."""

    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        close_old_connections()
        try:
            return func(*args, **kwargs)
        except BUSINESS_ERRORS as err:
            raise ApplicationError(err.message, type=type(err).__name__, non_retryable=True) from err
        finally:
            close_old_connections()

    return wrapper  # type: ignore[return-value]
