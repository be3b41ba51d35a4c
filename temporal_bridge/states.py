"""Order states: the names shared by the workflow query and the DB mirror.

Lives in the bridge, free of Django, so the workflow sandbox can import it;
the orders app imports it from here.
"""

PENDING_APPROVAL = "pending_approval"
APPROVED = "approved"
PROCESSING = "processing"
FULFILLING = "fulfilling"
FULFILLED = "fulfilled"
REJECTED = "rejected"
CANCELLED = "cancelled"
EXPIRED = "expired"
FAILED = "failed"
# The workflow was closed by something other than its own logic: an operator
# terminated or cancelled it, a run timeout passed, it failed. The desk can do
# nothing more with it; the cause is in the order's timeline.
STOPPED = "stopped"

LABELS = {
    PENDING_APPROVAL: "Pending approval",
    APPROVED: "Approved",
    PROCESSING: "Processing",
    FULFILLING: "Fulfilling",
    FULFILLED: "Fulfilled",
    REJECTED: "Rejected",
    CANCELLED: "Cancelled",
    EXPIRED: "Expired",
    FAILED: "Failed",
    STOPPED: "Stopped",
}

TERMINAL = frozenset({FULFILLED, REJECTED, CANCELLED, EXPIRED, FAILED, STOPPED})
# Cancel is accepted until fulfilment ends.
CANCELLABLE = frozenset({PENDING_APPROVAL, APPROVED, PROCESSING, FULFILLING})
