"""Warehouses: today's single stock figure of each product becomes its stock in
a default warehouse (MAIN), and every reservation so far was held there."""

import django.core.validators
import django.db.models.deletion
from django.db import migrations, models


def into_default_warehouse(apps, schema_editor):
    Warehouse = apps.get_model("orders", "Warehouse")
    WarehouseStock = apps.get_model("orders", "WarehouseStock")
    Product = apps.get_model("orders", "Product")
    StockReservation = apps.get_model("orders", "StockReservation")
    main = Warehouse.objects.create(code="MAIN", name="Main warehouse", is_default=True)
    WarehouseStock.objects.bulk_create(
        WarehouseStock(warehouse=main, product_id=pk, on_hand=on_hand, reserved=reserved)
        for pk, on_hand, reserved in Product.objects.filter(stock_on_hand__gt=0).values_list("pk", "stock_on_hand", "stock_reserved")
        .iterator()
    )
    StockReservation.objects.update(warehouse=main)
    if schema_editor.connection.vendor == "postgresql":
        # Check the new foreign keys now: PostgreSQL refuses to alter a table with checks still pending.
        schema_editor.execute("SET CONSTRAINTS ALL IMMEDIATE")


class Migration(migrations.Migration):

    dependencies = [
        ('orders', '0017_customer_keys'),
    ]

    operations = [
        migrations.CreateModel(
            name='Warehouse',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('code', models.CharField(max_length=12, unique=True, validators=[django.core.validators.RegexValidator('^[A-Z0-9-]{2,12}\\Z', 'A code is 2 to 12 capital letters, digits or dashes.')])),
                ('name', models.CharField(max_length=100)),
                ('address', models.TextField(blank=True)),
                ('active', models.BooleanField(default=True, help_text='Only active warehouses are planned to ship orders.')),
                ('is_default', models.BooleanField(default=False)),
                ('created_at', models.DateTimeField(auto_now_add=True)),
            ],
            options={
                'ordering': ['-is_default', 'code'],
                'constraints': [models.UniqueConstraint(condition=models.Q(('is_default', True)), fields=('is_default',), name='warehouse_one_default')],
            },
        ),
        migrations.AddField(
            model_name='stockreservation',
            name='warehouse',
            field=models.ForeignKey(null=True, on_delete=django.db.models.deletion.PROTECT, related_name='reservations', to='orders.warehouse'),
        ),
        migrations.CreateModel(
            name='WarehouseStock',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('on_hand', models.PositiveIntegerField(default=0)),
                ('reserved', models.PositiveIntegerField(default=0)),
                ('updated_at', models.DateTimeField(auto_now=True)),
                ('product', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='warehouse_stock', to='orders.product')),
                ('warehouse', models.ForeignKey(on_delete=django.db.models.deletion.PROTECT, related_name='stock', to='orders.warehouse')),
            ],
            options={
                'verbose_name_plural': 'warehouse stock',
                'ordering': ['product_id', 'warehouse_id'],
                'constraints': [models.UniqueConstraint(fields=('warehouse', 'product'), name='warehousestock_one_per_warehouse_product'), models.CheckConstraint(condition=models.Q(('reserved__lte', models.F('on_hand'))), name='warehousestock_reserved_within_on_hand')],
            },
        ),
        migrations.RunPython(into_default_warehouse, migrations.RunPython.noop),
        migrations.AlterField(
            model_name='stockreservation',
            name='warehouse',
            field=models.ForeignKey(on_delete=django.db.models.deletion.PROTECT, related_name='reservations', to='orders.warehouse'),
        ),
    ]
