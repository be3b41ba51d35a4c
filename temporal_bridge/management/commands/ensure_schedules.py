"""manage.py ensure_schedules: create or update the desk's Temporal Schedules.

Idempotent: run it on every deploy (`make run` does). Today there is one, the
daily digest of pending approvals (APPROVAL_DIGEST_CRON, in TIME_ZONE), which
starts ApprovalDigestWorkflow on the order task queue.
"""
from __future__ import annotations

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from temporal_bridge.approvals import calls as approval_calls
from temporal_bridge.approvals import messages as approval
from temporal_bridge.client.bridge import TemporalUnavailable


class Command(BaseCommand):
    help = "Create or update the Temporal Schedules (the daily approvals digest). Safe to run repeatedly."

    def add_arguments(self, parser):
        parser.add_argument("--digest-cron", default=settings.APPROVAL_DIGEST_CRON,
                            help="When the approvals digest runs, as cron in TIME_ZONE (default: %(default)s).")

    def handle(self, *args, **options):
        try:
            outcome = approval_calls.ensure_digest_schedule(cron=options["digest_cron"], time_zone=settings.TIME_ZONE)
        except TemporalUnavailable as err:
            raise CommandError(f"Temporal is not reachable at {settings.TEMPORAL_ADDRESS}: {err}") from err
        except Exception as err:  # e.g. an invalid cron expression, refused by the server
            raise CommandError(f"Could not create or update schedule {approval.DIGEST_SCHEDULE_ID!r}: {err}") from err
        self.stdout.write(f"Schedule {approval.DIGEST_SCHEDULE_ID!r} {outcome}: {options['digest_cron']} ({settings.TIME_ZONE}), "
                          f"task queue {settings.TEMPORAL_TASK_QUEUE!r}.")
