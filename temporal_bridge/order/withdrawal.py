"""Withdrawing one's own approval while the order still waits for more.

The message is shaped like a decision (temporal_bridge.order.messages.DecisionSignal):
the actor, the request id and, in `comment`, the reason, which is required.
Free of Django: the workflow sandbox imports it.
"""
from __future__ import annotations

SIGNAL_WITHDRAW_APPROVAL = "withdraw_approval"
# The workflow.patched() id of the handler: a run that met this signal before
# the handler existed had it ignored as unknown, and must replay so.
PATCH_WITHDRAW_APPROVAL = "withdraw-approval"
# The decision recorded for a withdrawal (DecisionInput.decision); the approval
# it takes back is named by DecisionInput.withdraws.
WITHDRAWN = "withdrawn"
