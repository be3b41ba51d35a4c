"""The read_hold activity: may the order charge / go to fulfilment now, or must it wait?"""
from __future__ import annotations

from temporalio import activity

from orders.holds import services as holds
from temporal_bridge import messages as m
from temporal_bridge.activities import db_activity


@activity.defn(name=m.ACT_READ_HOLD)
@db_activity
def read_hold(hold: m.HoldInput) -> m.HoldResult:
    return holds.hold_read(hold.order_id, hold.stage)


HOLD_ACTIVITIES = [read_hold]
