"""Record the histories of orders whose reservation checks the credit itself (behind "credit-with-stock"),
for the replay test.

    .venv/bin/python -m tests.temporal_bridge.record_credit_histories 1.3

Beside record_histories.py (whose stories and `record` it reuses): the stories go to histories/<release>/credit_*.json.
"""
from __future__ import annotations

import os
import sys

import django

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings_test")
django.setup()

from tests.temporal_bridge.helpers import ActivityMocks  # noqa: E402
from tests.temporal_bridge.order.test_credit_review import over_the_limit  # noqa: E402
from tests.temporal_bridge.record_histories import (  # noqa: E402
    HISTORIES,
    approved_and_fulfilled,
    auto_approved,
    credit_held_then_cancelled,
    credit_held_then_limit_raised,
    record,
)

STORIES = {
    "credit_checked_with_the_stock_auto_approved": (auto_approved, ActivityMocks()),
    "credit_checked_with_the_stock_approved": (approved_and_fulfilled, ActivityMocks()),
    "credit_held_by_the_reservation_then_limit_raised": (credit_held_then_limit_raised, over_the_limit()),
    "credit_held_by_the_reservation_then_cancelled": (credit_held_then_cancelled, over_the_limit()),
}


def main(version: str) -> None:
    target = HISTORIES / version
    target.mkdir(parents=True, exist_ok=True)
    record(target, STORIES, plain=True)


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: python -m tests.temporal_bridge.record_credit_histories <release, e.g. 1.3>")
    main(sys.argv[1])
