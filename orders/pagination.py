"""Pagination that stays cheap on big tables.

The admin's changelist counts its queryset on every page to draw the page
links. Unfiltered, that is a COUNT(*) over the whole table: on PostgreSQL an
(index-only) scan of every row, 100k orders today and more each day. For an
unfiltered queryset over a big table the planner's own row estimate
(pg_class.reltuples, kept fresh by autovacuum's ANALYZE) is as good for page
links and costs one catalogue lookup. Filtered lists and small tables are
counted exactly, as before.

A filtered list (a search, a status) is counted up to EXACT_COUNT_BELOW rows
(COUNT over a LIMITed subquery: it stops there). Past that, on PostgreSQL, the
planner's estimate for the filtered query stands in: a search matching most of
the table must not count all of it to draw page links.
"""
from __future__ import annotations

import json

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


def estimated_query_rows(queryset: QuerySet) -> int | None:
    """The planner's row estimate for the whole queryset (EXPLAIN, not run), or None off PostgreSQL."""
    connection = connections[queryset.db]
    if connection.vendor != "postgresql":
        return None
    sql, params = queryset.order_by().query.sql_with_params()
    with connection.cursor() as cursor:
        cursor.execute(f"EXPLAIN (FORMAT JSON) {sql}", params)
        plan = cursor.fetchone()[0]
    if isinstance(plan, str):
        plan = json.loads(plan)
    return int(plan[0]["Plan"]["Plan Rows"])


class EstimatedCountPaginator(Paginator):
    @cached_property
    def count(self) -> int:
        queryset = self.object_list
        if not isinstance(queryset, QuerySet):
            return super().count
        if not queryset.query.where:
            estimate = estimated_rows(queryset)
            if estimate is not None and estimate >= EXACT_COUNT_BELOW:
                return estimate
            return super().count
        if connections[queryset.db].vendor != "postgresql":
            return super().count  # no estimate to fall back on: exact
        counted = queryset.order_by()[:EXACT_COUNT_BELOW].count()
        if counted < EXACT_COUNT_BELOW:
            return counted
        return max(counted, estimated_query_rows(queryset) or 0)
