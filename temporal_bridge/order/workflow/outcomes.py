"""How an order's run can end early, and the words of an activity's failure."""
from __future__ import annotations

from temporalio.exceptions import ActivityError, ApplicationError, ChildWorkflowError


class OrderFailed(Exception):
    """A business failure that ends the order in `failed` after compensation."""


class OrderCancelled(Exception):
    """The cancel request was honoured; compensation follows."""


def cause(err: ActivityError | ChildWorkflowError) -> str:
    """The business message behind an activity's (or a child workflow's) failure, for the timeline."""
    reason = err.cause
    if isinstance(reason, ApplicationError):
        return reason.message
    return str(reason or err)
