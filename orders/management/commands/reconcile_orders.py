"""manage.py reconcile_orders: no order without a workflow, no mirror drift.

Starts missing workflows, repairs mirrors of finished workflows, lists stuck
orders with the reason. Idempotent; safe to run on a schedule (exit 1 when an
order could not be started or is stuck, so a scheduler can alert).
"""
from __future__ import annotations

from datetime import timedelta

from django.core.management.base import BaseCommand

from orders.operations.reconcile import reconcile
from orders.privacy.retention import retention_erase


class Command(BaseCommand):
    help = "Start workflows for orders that have none, repair mirror drift, record stopped workflows, list stuck orders."

    def add_arguments(self, parser):
        parser.add_argument(
            "--min-age", type=float, default=30.0,
            help="Only orders older than this many seconds, so in-flight submissions are left alone (default: %(default)s).",
        )
        parser.add_argument("--limit", type=int, default=1000, help="At most this many orders per step (default: %(default)s).")

    def handle(self, *args, **options):
        report = reconcile(min_age=timedelta(seconds=options["min_age"]), limit=options["limit"])
        self.stdout.write(
            f"Started {len(report.started)} missing workflows; checked {report.checked} orders in flight; "
            f"repaired {len(report.repaired)} mirrors; {len(report.stopped)} stopped outside the desk; {len(report.stuck)} stuck; "
            f"{len(report.start_failed)} could not be started."
        )
        sent = report.webhooks
        self.stdout.write(f"Webhook events: delivered {sent.delivered}; still waiting {sent.still_pending}; failed {sent.failed}.")
        if sent.temporal_unavailable:
            self.stderr.write("Webhook events wait: Temporal could not be reached; the next run delivers them.")
        for number in report.started:
            self.stdout.write(f"  started   {number}")
        for number in report.repaired:
            self.stdout.write(f"  repaired  {number}")
        for number, why in report.stopped:
            self.stdout.write(f"  stopped   {number}: workflow {why}")
        for number, why in report.stuck:
            self.stdout.write(f"  STUCK     {number}: {why}")
        for workflow_id in report.adopted:
            self.stdout.write(f"  adopted   {workflow_id}: its start had not been recorded")
        for workflow_id in report.unmirrored:
            self.stdout.write(f"  NO MIRROR {workflow_id}: a running order workflow with no order in the database")
        for number in report.start_failed:
            self.stderr.write(f"  could not start {number} (Temporal unavailable?)")
        retention = retention_erase()
        self.stdout.write(retention.summary)
        for customer_id, why in retention.refused:
            self.stderr.write(f"  not erased: customer {customer_id}: {why}")
        if report.no_worker:
            self.stderr.write("No worker is polling the task queue: orders will not move until one runs (manage.py runworker).")
        if report.start_failed or report.stuck:
            raise SystemExit(1)
