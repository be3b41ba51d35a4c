"""Bounds on quantities and amounts (orders.amounts), enforced by the database.

Before the checks are added, rows that break them are named and the migration
stops: only SQLite can hold such a row (PostgreSQL refused it), written by the
bug these checks close; deciding what the order should have been is a person's call.
"""

import django.core.validators
import orders.amounts
from decimal import Decimal
from django.conf import settings
from django.db import migrations, models


BOUNDS = [
    ("orders_order", "total < 0 OR total > 9999999999.99"),
    ("orders_orderline", "quantity < 1 OR quantity > 10000 OR unit_price < 0 OR unit_price > 9999999999.99"),
    ("orders_product", "price < 0 OR price > 9999999999.99"),
]


def refuse_rows_out_of_bounds(apps, schema_editor):
    found = []
    with schema_editor.connection.cursor() as cursor:
        for table, condition in BOUNDS:
            cursor.execute(f"SELECT id FROM {table} WHERE {condition} ORDER BY id")  # noqa: S608 (constants)
            ids = [row[0] for row in cursor.fetchall()]
            if ids:
                found.append(f"{table} ids {', '.join(map(str, ids[:20]))}{' …' if len(ids) > 20 else ''}")
    if found:
        raise RuntimeError(
            "Rows hold quantities or amounts beyond their columns (see orders/amounts.py): " + "; ".join(found)
            + ". Correct or delete them (manage.py dbshell), then run migrate again."
        )


class Migration(migrations.Migration):

    dependencies = [
        ('orders', '0003_api_keys'),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.RunPython(refuse_rows_out_of_bounds, migrations.RunPython.noop, elidable=True),
        migrations.AlterField(
            model_name='orderline',
            name='quantity',
            field=models.PositiveIntegerField(validators=[django.core.validators.MinValueValidator(1), django.core.validators.MaxValueValidator(10000)]),
        ),
        migrations.AlterField(
            model_name='orderline',
            name='unit_price',
            field=models.DecimalField(decimal_places=2, max_digits=12, validators=[orders.amounts.validate_price]),
        ),
        migrations.AlterField(
            model_name='product',
            name='price',
            field=models.DecimalField(decimal_places=2, max_digits=12, validators=[orders.amounts.validate_price]),
        ),
        migrations.AddConstraint(
            model_name='order',
            constraint=models.CheckConstraint(condition=models.Q(('total__gte', 0), ('total__lte', Decimal('9999999999.99'))), name='order_total_in_range'),
        ),
        migrations.AddConstraint(
            model_name='orderline',
            constraint=models.CheckConstraint(condition=models.Q(('quantity__lte', 10000)), name='orderline_quantity_at_most_max'),
        ),
        migrations.AddConstraint(
            model_name='orderline',
            constraint=models.CheckConstraint(condition=models.Q(('unit_price__gte', 0), ('unit_price__lte', Decimal('9999999999.99'))), name='orderline_unit_price_in_range'),
        ),
        migrations.AddConstraint(
            model_name='product',
            constraint=models.CheckConstraint(condition=models.Q(('price__gte', 0), ('price__lte', Decimal('9999999999.99'))), name='product_price_in_range'),
        ),
    ]
