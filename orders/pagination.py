"""Pagination that stays cheap on big tables.

The admin's changelist counts its queryset on every page to draw the page
links. Unfiltered, that is a COUNT(*) over the whole table: on PostgreSQL an
(index-only) scan of every row, 100k orders today and more each day. For an
unfiltered queryset over a big table the planner's own row estimate
(pg_class.reltuples, kept fresh by autovacuum's ANALYZE) is as good for page
links and costs one catalogue lookup. Filtered lists and small tables are
counted exactly, as before.
"""
from __future__ import annotations

from django.core.paginator import Paginator
from django.db import connections
from django.db.models import QuerySet
from django.utils.functional import cached_property

# Below this many rows an exact count is cheap, and the last page must be exact.
EXACT_COUNT_BELOW = 10_000


def estimated_rows(queryset: QuerySet) -> int | None:
    """The planner's row estimate for the queryset's table, or None where there is none (SQLite, never analysed)."""
    connection = connections[queryset.db]
    if connection.vendor != "postgresql":
        return None
    with connection.cursor() as cursor:
        cursor.execute("SELECT reltuples::bigint FROM pg_class WHERE oid = %s::regclass", [queryset.model._meta.db_table])
        row = cursor.fetchone()
    return int(row[0]) if row and row[0] >= 0 else None


class EstimatedCountPaginator(Paginator):
    @cached_property
    def count(self) -> int:
        queryset = self.object_list
        if isinstance(queryset, QuerySet) and not queryset.query.where:
            estimate = estimated_rows(queryset)
            if estimate is not None and estimate >= EXACT_COUNT_BELOW:
                return estimate
        return super().count
