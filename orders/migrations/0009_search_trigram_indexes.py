"""Trigram indexes for the order and customer searches, on PostgreSQL only.

The searches are icontains: UPPER(column) LIKE UPPER('%text%'), which no btree
can serve. pg_trgm's GIN indexes on the same UPPER(column) expressions can
(substring and prefix). pg_trgm is a trusted extension since PostgreSQL 13:
the database's owner may create it, no superuser needed.

Built CONCURRENTLY (so the migration is not atomic): a deploy onto a big order
table keeps taking orders while the index builds. A build interrupted halfway
leaves an invalid index behind; the DROP ... IF EXISTS before each build clears
it when the migration runs again.

SQLite gets nothing here: its searches read the tables (orders.selectors.order_search).
Reversing drops the indexes and leaves the extension, which other objects may use.
"""
from django.db import migrations

INDEXES = [
    ("order_number_trgm_idx", "orders_order", "number"),
    ("customer_name_trgm_idx", "orders_customer", "name"),
    ("customer_email_trgm_idx", "orders_customer", "email"),
]


def create(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    schema_editor.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
    for name, table, column in INDEXES:
        schema_editor.execute(f'DROP INDEX CONCURRENTLY IF EXISTS "{name}"')
        # The expression as Django writes it for icontains, so the planner recognises it.
        schema_editor.execute(f'CREATE INDEX CONCURRENTLY "{name}" ON "{table}" USING gin ((UPPER("{column}"::text)) gin_trgm_ops)')


def drop(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    for name, _table, _column in INDEXES:
        schema_editor.execute(f'DROP INDEX CONCURRENTLY IF EXISTS "{name}"')


class Migration(migrations.Migration):
    atomic = False

    dependencies = [
        ("orders", "0008_event_time_from_the_workflow"),
    ]

    operations = [migrations.RunPython(create, drop)]
