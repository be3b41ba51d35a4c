"""Timeouts and retry policies of the workflows' activities.

Free of Django: the workflow sandbox imports it.
"""
from __future__ import annotations

from datetime import timedelta

from temporalio.common import RetryPolicy

# Writes to our own database: retried until they succeed (a database restart
# must not fail an order), with backoff so a long outage costs little.
MIRROR_RETRY = RetryPolicy(initial_interval=timedelta(seconds=1), backoff_coefficient=2.0, maximum_interval=timedelta(seconds=30))
# The desk's confirmation of a message (a read): a person waits for its
# verdict, so the first retry comes sooner; the message waits, never refused.
CONFIRM_RETRY = RetryPolicy(initial_interval=timedelta(milliseconds=200), backoff_coefficient=2.0,
                            maximum_interval=timedelta(seconds=30))
SHORT_STEP = timedelta(seconds=30)
# Activities that only write our own database finish in milliseconds; a short
# timeout means a worker killed mid-write is retried elsewhere within seconds.
DB_STEP = timedelta(seconds=10)
FULFIL_HEARTBEAT = timedelta(seconds=5)
# Reminder and escalation emails: a mail outage must not hold the approval
# gate for long (decisions and the expiry wait behind it), so they give up
# after about a minute and the timeline says so.
NOTICE_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=2), backoff_coefficient=2.0, maximum_interval=timedelta(seconds=20), maximum_attempts=5,
)
