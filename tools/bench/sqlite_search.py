"""`python -m tools.bench.sqlite_search [--rows N]`: the order search on SQLite, the development fallback.

SQLite has no trigram index: orders.selectors.order_search reads the order
table newest first until a page is full (a search matching few orders reads
all of it), and finds a customer's orders by the btree on customer_id. This
measures what that costs at N orders (default 100,000) in-process, as the
`lists` section does on PostgreSQL, in a throwaway database under var/bench/.
No Temporal: the list and the admin's changelist read the database only.
"""
from __future__ import annotations

import argparse
import time

from tools.bench import env
from tools.bench.procs import BASE_DIR

PATHS = {
    "order list: first page": ["/orders/"],
    "order list: search by number, customer name, email": ["/orders/?q=OD-0500", "/orders/?q=Customer+0042", "/orders/?q=buyer42%40"],
    "order list: search matching nothing": ["/orders/?q=no-such-order"],
    "admin changelist: search by number, customer (two words), email": [
        "/admin/orders/order/?q=OD-0500", "/admin/orders/order/?q=Customer+0042", "/admin/orders/order/?q=buyer42%40",
    ],
}


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m tools.bench.sqlite_search", description=__doc__)
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--samples", type=int, default=20, help="requests per path")
    args = parser.parse_args()
    var_dir = BASE_DIR / "var" / "bench" / "sqlite-search"
    var_dir.mkdir(parents=True, exist_ok=True)
    db = env.BenchDatabase("sqlite", "")
    env.create_database(db, var_dir)
    env.configure(db, var_dir, steps=1, step_seconds=0.0)
    import django

    django.setup()
    from django.conf import settings
    from django.contrib.auth import get_user_model
    from django.core.management import call_command
    from django.test import Client

    from orders.models import Order
    from tools.bench import lists, web
    from tools.bench.stats import ms

    call_command("migrate", interactive=False, verbosity=0)
    call_command("collectstatic", interactive=False, verbosity=0)
    settings.ALLOWED_HOSTS = [*settings.ALLOWED_HOSTS, "testserver"]
    admin = get_user_model().objects.create_superuser("bench-admin", "admin@example.com", "unused-" + str(time.time()))
    t0 = time.monotonic()
    lists.generate(args.rows, created_by_id=admin.pk)
    print(f"SQLite, {Order.objects.count():,} orders generated in {time.monotonic() - t0:.1f}s; in-process, {args.samples} requests a path")
    client = Client()
    client.force_login(admin)
    for label, paths in PATHS.items():
        r = web.server_times(client, paths, args.samples * len(paths))
        p50, p95 = web.p50_p95(r.seconds)
        print(f"{label}: p50 {ms(p50)} / p95 {ms(p95)}; HTTP {sorted(r.statuses)}")


if __name__ == "__main__":
    main()
