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
# A fraud alert holds the order for a manager's decision (release, or cancel with refund).
ON_HOLD = "on_hold"
# Orders whose delivery is tracked: shipped and followed through the carrier's
# events until delivered (or returned to us). Untracked orders end at FULFILLED.
IN_TRANSIT = "in_transit"
# A split order some of whose parcels have shipped while other parts are still
# packed or waiting their turn (fulfilment_states says when). Not terminal: a
# cancel still stops the parts not shipped, and only those are compensated.
PARTIALLY_SHIPPED = "partially_shipped"
DELIVERED = "delivered"
RETURNED = "returned"

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
    ON_HOLD: "On hold",
    PARTIALLY_SHIPPED: "Partially shipped",
    IN_TRANSIT: "In transit",
    DELIVERED: "Delivered",
    RETURNED: "Returned",
}

TERMINAL = frozenset({FULFILLED, REJECTED, CANCELLED, EXPIRED, FAILED, STOPPED, DELIVERED, RETURNED})
# Cancel is accepted until fulfilment ends; a partially shipped order's cancel
# stops (and refunds) only the parts not shipped.
CANCELLABLE = frozenset({PENDING_APPROVAL, APPROVED, PROCESSING, FULFILLING, PARTIALLY_SHIPPED, ON_HOLD})


# The actions a page may offer (the names of messages.ACTION_*), in the
# order the buttons appear.
APPROVE, REJECT, CANCEL, UPDATE = "approve", "reject", "cancel", "update"
# Questions before deciding. ASK sends the order back to its requester;
# while the question is open only ANSWER (the requester's) moves it on.
ASK, ANSWER = "ask", "answer"
# A manager's answer to a fraud hold (cancel is the other).
RELEASE_HOLD = "release_hold"


def allowed_actions(state: str, *, awaiting_decision: bool, cancel_requested: bool = False,
                    fulfilment_done: bool = False, question_open: bool = False, questions: bool = False) -> list[str]:
    """What people may still do with an order: the workflow's query and the
    database mirror both answer with this. `awaiting_decision`: the approval
    gate still takes decisions (pending, quorum not met, no rejection);
    `questions`: offer ASK while decisions are taken; `question_open`: one waits
    for the requester's answer."""
    if state == ON_HOLD and not cancel_requested:
        return [RELEASE_HOLD, CANCEL]  # even after fulfilment: nothing has shipped
    if state in TERMINAL or cancel_requested or fulfilment_done:
        return []
    actions = [CANCEL, UPDATE] if state in CANCELLABLE else []
    if state == PENDING_APPROVAL and question_open:
        actions = [ANSWER, *actions]
    elif state == PENDING_APPROVAL and awaiting_decision:
        actions = [APPROVE, REJECT, *([ASK] if questions else []), *actions]
    return actions
