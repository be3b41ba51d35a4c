"""Recorded intents: what a person asked the desk to send, written down before it is sent.

The Temporal frontend is reachable by more than our views, so a signal that
names a real manager proves nothing about who sent it. The service that
authorises a person's request writes one row (order, request id, actor, on
behalf of, signal, digest of the content) and commits it before the signal
goes; the workflow counts the message only if the database holds that row
(approvals.identity.messages_confirm). The contract both sides share is
temporal_bridge.order.intents.

Registered into the orders app from the end of orders/models.py (the model)
and orders/admin.py (its read-only admin), as orders/api/ is.
"""
