"""What every collaborator that takes people's messages for OrderWorkflow holds.

People (decisions), Conversation (comments and questions), Withdrawals and
StockWait (the stock decision) each read and change the order's state, write
its timeline, consult the approval gate, confirm requests with the desk and
decode through the intake: one constructor for all of them.

Deterministic and free of Django, like the workflow itself.
"""
from __future__ import annotations

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from temporal_bridge.order import messages as m
    from temporal_bridge.order.workflow.gate import ApprovalGate
    from temporal_bridge.order.workflow.intake import Intake
    from temporal_bridge.order.workflow.requests import Requests
    from temporal_bridge.order.workflow.timeline import Timeline


class MessageCollaborator:
    def __init__(self, inp: m.OrderWorkflowInput, state: m.OrderState, timeline: Timeline, gate: ApprovalGate, requests: Requests,
                 intake: Intake) -> None:
        self._inp = inp
        self._s = state
        self._timeline = timeline
        self._gate = gate
        self._requests = requests
        self._intake = intake
