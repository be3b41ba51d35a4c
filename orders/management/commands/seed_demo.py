"""manage.py seed_demo: demo users, warehouses, products (stock per warehouse), customers and submitted orders.

Orders go through `order_submit`, so each gets a real workflow (Temporal and
a worker must be reachable for them to move). Idempotent for users, products
and customers; `--if-empty` seeds orders only on a database that has none.
"""
from __future__ import annotations

import random
from decimal import Decimal

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from orders import roles, services
from orders.inventory import services as inventory
from orders.models import Customer, Order, Priority, Product, Warehouse

DEMO_PASSWORD = "demo"
USERS = [
    # username, groups, is_staff, is_superuser
    ("clerk", [roles.CLERKS], False, False),
    ("manager", [roles.MANAGERS], True, False),
    ("manager2", [roles.MANAGERS], True, False),
    ("senior", [roles.MANAGERS, roles.SENIOR_MANAGERS], True, False),
    ("auditor", [roles.AUDITORS], False, False),
    ("dpo", [roles.DATA_PROTECTION], True, False),
    ("admin", [], True, True),
]
WAREHOUSES = [
    # code, name, address (MAIN is the default warehouse the migration made)
    ("MAIN", "Main warehouse", "1 Depot Road\nSpringfield"),
    ("EAST", "East coast warehouse", "40 Harbor Street\nNewark"),
    ("WEST", "West coast warehouse", "7 Desert Way\nReno"),
]
# Stock per warehouse (MAIN, EAST, WEST) differs: the cheap lines are in MAIN
# only, so a gadget or a monitor ordered with them splits across two warehouses.
PRODUCTS = [
    ("WID-100", "Standard widget", "12.50", (5000, 0, 0)),
    ("WID-200", "Heavy-duty widget", "48.00", (1200, 0, 0)),
    ("GAD-310", "Gadget, pro edition", "189.00", (0, 250, 150)),
    ("SRV-900", "Rack server", "4200.00", (10, 30, 0)),
    ("CAB-005", "Cable kit", "6.75", (10000, 0, 0)),
    ("MON-270", "27-inch monitor", "329.00", (0, 0, 150)),
    ("DSK-160", "Standing desk", "640.00", (60, 0, 0)),
    ("RAR-001", "Limited-edition print", "950.00", (0, 2, 0)),
]
CUSTOMERS = [
    ("Acme Corporation", "purchasing@acme.example", "250000"),
    ("Globex Ltd", "orders@globex.example", "100000"),
    ("Initech", "procurement@initech.example", "60000"),
    ("Umbrella Health", "supply@umbrella.example", "120000"),
    ("Hooli", "buy@hooli.example", "500000"),
    # Low credit limit: larger orders from them are declined by the payment provider.
    ("Tiny Startup", "founder@tiny.example", "800"),
]


class Command(BaseCommand):
    help = "Create demo users (password 'demo'), products, customers and N orders with real workflows."

    def add_arguments(self, parser):
        parser.add_argument("--orders", type=int, default=12, help="Orders to submit (default: %(default)s).")
        parser.add_argument("--if-empty", action="store_true", help="Submit orders only if there are none yet.")
        parser.add_argument("--seed", type=int, default=7, help="Random seed, for repeatable demo data.")

    def handle(self, *args, **options):
        if options["orders"] < 0:
            raise CommandError("--orders must be 0 or more")
        users = self._users()
        products = self._products()
        customers = self._customers()
        if options["if_empty"] and Order.objects.exists():
            self.stdout.write("Orders exist already; not seeding more.")
            return
        rng = random.Random(options["seed"])
        for index in range(options["orders"]):
            order = self._submit(rng, index, users["clerk"], products, customers)
            self.stdout.write(f"  {order.number}  {order.customer.name:<18} {order.total:>10} {order.currency}  "
                              f"{order.approval_rule_text or ('needs approval' if order.requires_approval else 'auto-approved')}")
        self.stdout.write(self.style.SUCCESS(
            f"Demo data ready: {len(users)} users (password '{DEMO_PASSWORD}'), {len(products)} products, "
            f"{len(customers)} customers, {options['orders']} new orders."
        ))

    def _users(self) -> dict:
        User = get_user_model()
        users = {}
        for username, groups, is_staff, is_superuser in USERS:
            user, created = User.objects.get_or_create(username=username, defaults={"email": f"{username}@orderdesk.example"})
            if created:
                user.set_password(DEMO_PASSWORD)
            user.is_staff, user.is_superuser = is_staff, is_superuser
            user.save()
            user.groups.set(Group.objects.filter(name__in=groups))
            users[username] = user
        return users

    def _warehouses(self) -> list[Warehouse]:
        warehouses = [inventory.default_warehouse()]
        warehouses += [Warehouse.objects.get_or_create(code=code, defaults={"name": name, "address": address})[0]
                       for code, name, address in WAREHOUSES[1:]]
        if not warehouses[0].address:
            Warehouse.objects.filter(pk=warehouses[0].pk).update(address=WAREHOUSES[0][2])
        return warehouses

    def _products(self) -> list[Product]:
        warehouses = self._warehouses()
        products = []
        for sku, name, price, stock in PRODUCTS:
            product, created = Product.objects.get_or_create(sku=sku, defaults={"name": name, "price": Decimal(price)})
            if created:
                for warehouse, units in zip(warehouses, stock, strict=True):
                    if units:
                        inventory.stock_set_on_hand(warehouse_id=warehouse.pk, product_id=product.pk, on_hand=units)
                product.refresh_from_db()
            products.append(product)
        return products

    def _customers(self) -> list[Customer]:
        return [
            Customer.objects.get_or_create(name=name, defaults={"email": email, "credit_limit": Decimal(limit)})[0]
            for name, email, limit in CUSTOMERS
        ]

    def _submit(self, rng: random.Random, index: int, clerk, products, customers) -> Order:
        # Alternate small (auto-approved) and larger (needs a manager) orders; every sixth is large.
        cheap = [p for p in products if p.price < Decimal("50")]
        pricey = [p for p in products if Decimal("150") <= p.price < Decimal("1000") and p.stock_on_hand >= 20]
        servers = [p for p in products if p.price >= Decimal("1000") and p.stock_on_hand >= 10]
        if index % 6 == 5 and servers:
            # Large: above the "Large orders" policy's 10,000, so two managers, one of them senior.
            picks = [(rng.choice(servers), 3)]
        elif index % 2 == 0:
            picks = [(rng.choice(cheap), rng.randint(1, 8))]
        else:
            picks = [(rng.choice(pricey), rng.randint(2, 6)), (rng.choice(cheap), rng.randint(1, 20))]
        customer = customers[index % (len(customers) - 1)]  # the low-limit customer only by hand
        with transaction.atomic():
            return services.order_submit(
                customer=customer,
                lines=[services.LineRequest(product, qty) for product, qty in picks],
                created_by=clerk,
                shipping_address=f"{customer.name}\n{100 + index} Market Street\nSpringfield",
                priority=rng.choice([Priority.NORMAL, Priority.NORMAL, Priority.HIGH, Priority.LOW, Priority.URGENT]),
                note="" if index % 3 else "Deliver to the loading dock.",
            )
