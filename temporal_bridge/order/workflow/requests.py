"""A person's requests to the order: whether each counts, and the verdict the
page that sent it reads back.

Every request is checked the same way: the order's own rules first (cheap),
then the desk's record of the request and the sender's rights now (the
database, temporal_bridge.contract.confirmations), then the rules again, since other
messages of the same task may have moved the order. The verdict per request
id is what the `verdict` query returns. A collaborator of OrderWorkflow,
composed beside the timeline and the refusals.

Deterministic and free of Django, like the workflow itself.
"""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from temporal_bridge.contract.confirmations import DeskConfirmations
    from temporal_bridge.contract.decoding import display
    from temporal_bridge.contract.intents import ActorCheckResult, IntentCheck, message_digest
    from temporal_bridge.order import messages as m
    from temporal_bridge.order.workflow import refusals as kinds
    from temporal_bridge.order.workflow.refusals import Refusals
    from temporal_bridge.order.workflow.timeline import Timeline


class Requests:
    def __init__(self, inp: m.OrderWorkflowInput, state: m.OrderState, timeline: Timeline, refusals: Refusals,
                 confirmations: DeskConfirmations) -> None:
        self._inp = inp
        self._s = state
        self._timeline = timeline
        self._refusals = refusals
        self._confirmations = confirmations
        # The request ids in the state's verdicts; rebuilt from the state when needed.
        self._verdict_ids: set[str] | None = None

    # --- Verdicts ----------------------------------------------------------------------------

    def verdict(self, request_id: str) -> m.RequestVerdict:
        found = next((v for v in reversed(self._s.verdicts) if v.request_id == request_id), None)
        return found or m.RequestVerdict(request_id, m.VERDICT_UNKNOWN)

    def set_verdict(self, request_id: str, status: str, reason: str = "", action: str = "") -> None:
        """The request's verdict, newest last, each request once, at most MAX_VERDICTS.

        Cheap whatever the list's length: a flood of raw signals sets one
        verdict each, thousands in one activation, which must stay well
        inside the SDK's deadlock timeout.
        """
        verdicts = self._s.verdicts
        if self._verdict_ids is None or len(self._verdict_ids) != len(verdicts):
            self._verdict_ids = {v.request_id for v in verdicts}  # after a continue-as-new, or a list cut elsewhere
        if request_id in self._verdict_ids:
            at = next(i for i in range(len(verdicts) - 1, -1, -1) if verdicts[i].request_id == request_id)
            del verdicts[at]
        verdicts.append(m.RequestVerdict(request_id, status, reason, action))
        self._verdict_ids.add(request_id)
        while len(verdicts) > m.MAX_VERDICTS:
            self._verdict_ids.discard(verdicts.pop(0).request_id)

    # --- Notes and refusals ----------------------------------------------------------------------

    async def note(self, message: str, actor: str, kind: str = "note") -> None:
        """A person's message on the timeline, written at once."""
        await self._timeline.write_now([self._timeline.add(kind, message, actor=actor)])

    async def refuse(self, request_id: str, text: str, actor: str, action: str, kind: str = "") -> None:
        """Note a refusal on the timeline; the verdict carries the reason alone.
        With a `kind`, a refusal of a message nobody confirmed: counted once there are many."""
        self.set_verdict(request_id, m.VERDICT_REFUSED, text.split(": ", 1)[-1], action)
        if kind:
            return await self._refusals.note(kind, text, actor)
        await self.note(text, actor)

    # --- Whether a request counts ------------------------------------------------------------------

    async def confirmed(self, signal: str, message: Any, word: str,
                        refusal_of: Callable[[bool | None], str | None]) -> ActorCheckResult | None:
        """Whether a person's message counts: the order's rules (`refusal_of`,
        given the sender's seniority once known), the desk's record of the
        request and the sender's rights now, then the rules again. None:
        refused, and noted. The request id is remembered only once confirmed,
        so a forged message cannot burn the id a real page is about to send.
        """
        request_id, actor, on_behalf_of = message.request_id, message.actor, getattr(message, "on_behalf_of", "")
        who = f"{actor} on behalf of {on_behalf_of}" if on_behalf_of else actor
        repeated = f"{word} by {who} ignored: request {display(request_id)} was already received"
        if request_id in self._s.seen_requests:
            await self._refusals.note(kinds.REPEATED, repeated, actor)
            return None
        refusal = refusal_of(None)
        if refusal is not None:
            await self.refuse(request_id, refusal, actor, signal, kind=kinds.OUT_OF_TURN)
            return None
        self.set_verdict(request_id, m.VERDICT_CHECKING, action=signal)
        check = await self._confirmations.intent(IntentCheck(
            order_id=self._inp.order_id, signal=signal, request_id=request_id, actor=actor,
            digest=message_digest(signal, message), on_behalf_of=on_behalf_of,
        ))
        if not check.allowed:
            await self.refuse(request_id, f"{word} by {who} refused: {check.reason}", actor, signal, kind=kinds.UNCONFIRMED)
            return None
        if request_id in self._s.seen_requests:  # the same request twice in one task (a double POST)
            await self._refusals.note(kinds.REPEATED, repeated, actor)
            return None
        self._s.seen_requests[request_id] = signal
        refusal = refusal_of(check.senior)
        if refusal is not None:
            await self.refuse(request_id, refusal, actor, signal)
            return None
        self.set_verdict(request_id, m.VERDICT_ACCEPTED, action=signal)
        return check
