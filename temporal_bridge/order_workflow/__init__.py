"""The order's workflow, one module per collaborator:

- workflow.py   OrderWorkflow: the process, the query, the end of an order
- gate.py       the approval gate: quorum, reminder, escalation, expiry, continue-as-new
- legacy_gate.py  the v1 single-decision gate, until it is retired
- saga.py       stock, payment, fulfilment, shipment, and their compensations
- timeline.py   the timeline and how each entry reaches the database
- people.py     the messages people send, checked before they count
- requests.py   whether a request counts (the desk's record), and its verdict
- decision_rules.py  whether an approval or rejection can count in the order's state
- refusals.py   refused messages: noted, then counted
- outcomes.py   how a run ends early

All of it deterministic and free of Django; the order's state is one
messages.OrderState.
"""
from temporal_bridge.order_workflow.workflow import LEAN_RECORDS_PATCH, QUORUM_PATCH, OrderWorkflow

__all__ = ["LEAN_RECORDS_PATCH", "QUORUM_PATCH", "OrderWorkflow"]
