"""The orders waiting on a hold, told when it is lifted.

Both ways a hold ends come here: staff resuming fulfilment (services) and the
payments breaker closing by itself (breaker).
"""
from __future__ import annotations

import logging
from collections.abc import Iterable

from orders.models import Order
from temporal_bridge.client.bridge import TemporalUnavailable, WorkflowNotFound
from temporal_bridge.order import calls as order_calls
from temporal_bridge.order import holds, states
from temporal_bridge.order.holds import HoldsLifted

log = logging.getLogger(__name__)


def holds_lifted_signal(*, by: str, stages: Iterable[str], customer_id: int | None = None) -> tuple[int, int]:
    """Send "holds lifted" to every order in flight (of one customer, if given) waiting on a hold of `stages`.
    Returns (signalled, missed).

    A missed order is not lost: it reads its hold again at its recheck. Once
    Temporal is unreachable the rest are not tried (each would wait in vain).
    """
    held = Order.objects.filter(hold_stage__in=list(stages)).exclude(status__in=states.TERMINAL)
    if customer_id is not None:
        held = held.filter(customer_id=customer_id)
    waiting = list(held.values_list("pk", flat=True))
    signalled = 0
    for index, order_id in enumerate(waiting):
        try:
            order_calls.signal_order(order_id, holds.SIGNAL_HOLDS_LIFTED, HoldsLifted(by=by))
        except WorkflowNotFound:
            continue
        except TemporalUnavailable as err:
            log.warning("Holds lifted: %d orders not signalled (Temporal: %s); they recheck their hold", len(waiting) - index, err)
            return signalled, len(waiting) - signalled
        signalled += 1
    return signalled, len(waiting) - signalled
