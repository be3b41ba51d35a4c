"""What service levels and holds cost on PostgreSQL at 100k orders: the list's
"Breached" filter, the operations page's breach counts, the banner's reads,
and the per-call reads a charge and a hold check add.

    DATABASE_URL=postgres://... ORDER_DESK_BENCH_DB=orderdesk_bench_x .venv/bin/python -m tools.bench.sla_queries [--rows N]

Creates (and drops at the end) its own database on the server of DATABASE_URL.
Prints medians over repeated calls; figures, not assertions.
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import time

from tools.bench.env import BENCH_DB_NAME, _libpq, choose_database


def median_ms(func, repeat: int = 30) -> float:
    func()  # warm the plan and the cache
    samples = []
    for _ in range(repeat):
        start = time.perf_counter()
        func()
        samples.append((time.perf_counter() - start) * 1000)
    return statistics.median(samples)


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=100_000)
    args = parser.parse_args()
    db = choose_database()
    if db.engine != "postgresql":
        print(f"needs PostgreSQL: {db.why_not_pg}")
        return 1
    import psycopg

    with psycopg.connect(_libpq(db.admin_url), autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {BENCH_DB_NAME} WITH (FORCE)")
        conn.execute(f"CREATE DATABASE {BENCH_DB_NAME}")
    os.environ["DATABASE_URL"] = db.url
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    os.environ.setdefault("DJANGO_DEBUG", "1")
    try:
        return _measure(args.rows)
    finally:
        from django.db import connections

        connections.close_all()
        with psycopg.connect(_libpq(db.admin_url), autocommit=True) as conn:
            conn.execute(f"DROP DATABASE IF EXISTS {BENCH_DB_NAME} WITH (FORCE)")


def _measure(rows: int) -> int:
    import django

    django.setup()
    from django.contrib.auth import get_user_model
    from django.core.management import call_command
    from django.db import connection
    from django.utils import timezone

    from orders import selectors
    from orders.holds import breaker
    from orders.holds import services as holds
    from orders.timeline import service_levels as sla
    from tools.bench import lists

    call_command("migrate", verbosity=0)
    user = get_user_model().objects.create_user("bench")
    lists.generate(rows, created_by_id=user.pk)
    with connection.cursor() as cursor:
        # 1 order in 100 breached (approval, or approval and processing); its breach entries written the last 2 days.
        cursor.execute("UPDATE orders_order SET sla_breached = true, sla_breached_stages = CASE WHEN id % 200 = 0 "
                       "THEN 'approval,processing' ELSE 'approval' END WHERE id % 100 = 0")
        cursor.execute("INSERT INTO orders_orderevent (order_id, kind, message, actor, idempotency_key, created_at, status) "
                       "SELECT id, 'service_level', 'Service level breached: approval over 24 h', '', '0003-service_level', "
                       "now() - (id % 2880) * interval '1 minute', '' FROM orders_order WHERE sla_breached")
        cursor.execute("ANALYZE orders_order")
        cursor.execute("ANALYZE orders_orderevent")
    now = timezone.now()
    figures = [
        ("list ?breached=on, first page (25 rows)", median_ms(lambda: selectors.order_list(breached=True))),
        ("list, no filter, first page (before: for comparison)", median_ms(lambda: selectors.order_list())),
        ("operations: breaches by stage (open, last 24 h)", median_ms(lambda: sla.breaches_by_stage(now=now))),
        ("banner: pause and breakers (every full page)", median_ms(holds.holds_in_force)),
        ("hold_read payment, breaker closed (per order)", median_ms(lambda: holds.hold_read(1, "payment"))),
        ("breaker success bookkeeping, closed (per charge)", median_ms(lambda: breaker.record_success("payments"))),
    ]
    from orders.models import Order

    plan = Order.objects.filter(sla_breached=True).order_by("-id")[:26].explain()
    print(f"PostgreSQL, {rows:,} orders, {rows // 100:,} breached")
    for label, ms in figures:
        print(f"  {label:<58} {ms:8.2f} ms")
    print("plan of the breached list page:\n  " + plan.replace("\n", "\n  "))
    return 0


if __name__ == "__main__":
    sys.exit(main())
