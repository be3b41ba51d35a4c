"""The orders waiting for a restock, told when stock arrives.

Every way stock comes in lands here once it is committed: a count or receipt
in the admin and the signed inventory webhook (both through
services.stock_set_on_hand). The wake-up carries nothing that counts: each
order reads the stock again and reserves what is there.
"""
from __future__ import annotations

import logging
from collections.abc import Iterable

from orders.inventory.models import Backorder
from temporal_bridge.client.bridge import TemporalUnavailable, WorkflowNotFound
from temporal_bridge.order import calls as order_calls
from temporal_bridge.order import stock_decisions

log = logging.getLogger(__name__)


def backorders_wake(*, product_ids: Iterable[int]) -> tuple[int, int]:
    """Wake the orders with a backorder waiting for one of `product_ids`. Returns (signalled, missed).

    A missed order is not lost: it reads the stock again at its next recheck."""
    waiting = list(Backorder.objects.filter(product_id__in=list(product_ids), status=Backorder.Status.WAITING)
                   .order_by("order_id").values_list("order_id", flat=True).distinct())
    signalled = 0
    for index, order_id in enumerate(waiting):
        try:
            order_calls.signal_order(order_id, stock_decisions.SIGNAL_STOCK_ARRIVED, {})
        except WorkflowNotFound:
            continue
        except TemporalUnavailable as err:
            log.warning("Restock: %d orders not woken (Temporal: %s); they read the stock at their recheck", len(waiting) - index, err)
            return signalled, len(waiting) - signalled
        signalled += 1
    return signalled, len(waiting) - signalled
