"""How a message reaches the collaborator that handles it: decoded
defensively first, so that no shape of payload can fail a workflow task.

Anyone who reaches the Temporal frontend can send any signal with any
payload. Every handler of OrderWorkflow takes `*args` (the SDK then decodes
the payloads as plain JSON, whatever their number) and passes them here with
the parser of temporal_bridge.order.message_checks for its message. What does not
parse, and messages of a name the order does not know, are refused and
counted (refusals.py), never written one by one.

Deterministic and free of Django, like the workflow itself.
"""
from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import Any, TypeVar

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from temporal_bridge.contract.decoding import Refused, display
    from temporal_bridge.order.workflow import refusals as kinds
    from temporal_bridge.order.workflow.refusals import Refusals

T = TypeVar("T")


class Intake:
    def __init__(self, refusals: Refusals) -> None:
        self._refusals = refusals

    async def take(self, args: Sequence[Any], parse: Callable[[Sequence[Any]], T], handle: Callable[[T], Awaitable[None]]) -> None:
        """Parse the payloads; hand the message on, or note why it cannot count."""
        try:
            message = parse(args)
        except Refused as refused:
            # A malformed message claims no request id: an attacker must not be
            # able to burn the id a real page is about to send.
            return await self._refusals.note(kinds.MALFORMED, refused.reason, refused.actor)
        await handle(message)

    async def ignore_unknown(self, name: str) -> None:
        """A signal of a name the order does not know: noted, then counted."""
        text = f"Message {display(name)!r} ignored: the order workflow has no such message"
        await self._refusals.note(kinds.UNKNOWN, text, "")
