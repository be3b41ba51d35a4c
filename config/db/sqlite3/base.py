"""Django's SQLite backend, with reads that survive a number wider than its column.

SQLite stores whatever it is given: a row written before orders.amounts and
the check constraints existed may hold a total wider than numeric(12, 2).
Django's converter then raises InvalidOperation on every read of that row,
which takes down every page listing it, for everyone. Here such a value is
read as it is stored (and logged), so the pages show it and keep working.
PostgreSQL needs none of this: it refuses the value on write.
"""
from __future__ import annotations

import decimal
import logging

from django.db.backends.sqlite3 import base, operations

log = logging.getLogger(__name__)


class DatabaseOperations(operations.DatabaseOperations):
    def get_decimalfield_converter(self, expression):
        quantizing = super().get_decimalfield_converter(expression)
        as_stored = decimal.Context(prec=15).create_decimal_from_float

        def converter(value, expression, connection):
            try:
                return quantizing(value, expression, connection)
            except decimal.InvalidOperation:
                log.warning("A stored number (%r) is wider than its column %s; shown as stored.", value, expression)
                return as_stored(value) if isinstance(value, float) else decimal.Decimal(value)

        return converter


class DatabaseWrapper(base.DatabaseWrapper):
    ops_class = DatabaseOperations
