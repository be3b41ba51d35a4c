"""What every workflow and the desk agree on, whatever the domain.

A message counts only if the desk wrote it down first (intents.py: the checks
and their digests; confirmations.py: the workflow's batched question to the
desk), raw messages are read without ever failing a workflow task
(decoding.py), the desk's activities run with fresh connections and known
business errors (db_activity.py), within known timeouts (policies.py).
The order, its shipment and the approval workflows all build on these; this
package imports none of them.
"""
