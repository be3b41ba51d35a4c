"""manage.py reconcile_orders: no order without a workflow survives.

Finds orders whose workflow start failed (the web process died between the
commit and the start, or Temporal was down) and starts them. Idempotent and
safe to run on a schedule: a workflow that already exists is left alone.
"""
from __future__ import annotations

from datetime import timedelta

from django.core.management.base import BaseCommand
from django.utils import timezone

from orders import services
from orders.models import Order


class Command(BaseCommand):
    help = "Start workflows for orders that have none."

    def add_arguments(self, parser):
        parser.add_argument("--min-age", type=float, default=30.0,
                            help="Only orders older than this many seconds, so in-flight submissions are left alone (default: %(default)s).")

    def handle(self, *args, **options):
        cutoff = timezone.now() - timedelta(seconds=options["min_age"])
        missing = Order.objects.filter(workflow_started_at__isnull=True, created_at__lte=cutoff).order_by("id")
        started, failed = [], []
        for order_id, number in missing.values_list("id", "number"):
            (started if services.order_start_workflow(order_id=order_id) else failed).append(number)
        self.stdout.write(f"Orders without a workflow: {len(started) + len(failed)}; started: {len(started)}; still failing: {len(failed)}")
        for number in started:
            self.stdout.write(f"  started {number}")
        for number in failed:
            self.stderr.write(f"  could not start {number} (Temporal unavailable?)")
        if failed:
            raise SystemExit(1)
