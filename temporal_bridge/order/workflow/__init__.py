"""The order's workflow, one module per collaborator:

- workflow.py   OrderWorkflow: the process, every message and query it accepts, the end of an order
- gate.py       the approval gate: quorum, reminder, escalation, expiry, continue-as-new
- saga.py       stock, payment, fulfilment, shipment, and their compensations
- waits.py      what the saga waits for between steps: credit review, holds, the payment's confirmation, fraud alerts
- timeline.py   the timeline and how each entry reaches the database
- intake.py     how a message is decoded before anything else sees it
- people.py     decisions and edits people send, checked before they count
- conversation.py  questions before deciding: comments, questions, answers
- outside.py    the payment provider's events and the holds
- requests.py   whether a request counts (the desk's record), and its verdict
- decision_rules.py  whether an approval or rejection can count in the order's state
- refusals.py   refused messages: noted, then counted
- service_watch.py  the service-level timers
- outcomes.py   how a run ends early

All of it deterministic and free of Django; the order's state is one
messages.OrderState.
"""
from temporal_bridge.order.workflow.workflow import OrderWorkflow

__all__ = ["OrderWorkflow"]
