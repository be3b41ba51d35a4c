"""Refused messages cost a counter, not a table.

Anyone who reaches the Temporal frontend can send an order thousands of
messages that cannot count. The first few of each kind go on the timeline as
they come, so a person sees what was refused and why; after that they are
counted, and a summary entry ("312 more messages the desk did not record
refused") is written when the count reaches 10, 100, 1,000... and, for the
rest, with the order's next write (before it continues as new or ends). The
timeline, the mirror and the page stay small whatever the flood.

Refusals of a message the desk confirmed (a real person's request refused
by the order's rules) are not counted here: they are few, and always noted.
"""
from __future__ import annotations

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from temporal_bridge.order import messages as m
    from temporal_bridge.order.records import MirrorInput
    from temporal_bridge.order.workflow.timeline import Timeline

# Each kind of refusal, as the summary names it.
MALFORMED = "malformed"
UNKNOWN = "unknown"
UNCONFIRMED = "unconfirmed"
REPEATED = "repeated"
OUT_OF_TURN = "out_of_turn"
LABELS = {
    MALFORMED: "malformed messages",
    UNKNOWN: "messages of a name the order does not know",
    UNCONFIRMED: "messages the desk did not record",
    REPEATED: "repeated requests",
    OUT_OF_TURN: "messages the order could not take in its state",
}
# Noted one by one, per kind, before counting starts.
FIRST_NOTED = 3


class Refusals:
    def __init__(self, state: m.OrderState, timeline: Timeline) -> None:
        self._s = state
        self._timeline = timeline

    async def note(self, kind: str, text: str, actor: str) -> None:
        counts = self._s.refusals
        counts[kind] = counts.get(kind, 0) + 1
        if counts[kind] <= FIRST_NOTED:
            await self._timeline.write_now([self._timeline.add("note", text, actor=actor)])
            return
        unreported = self._s.refusals_unreported
        unreported[kind] = unreported.get(kind, 0) + 1
        if _is_power_of_ten(counts[kind] - FIRST_NOTED):
            await self._timeline.write_now([self._summary(kind)])

    def summarise(self) -> None:
        """The counts not yet on the timeline, as entries written with the order's next write."""
        for kind in list(self._s.refusals_unreported):
            self._s.unwritten.append(self._summary(kind))

    def _summary(self, kind: str) -> MirrorInput:
        count = self._s.refusals_unreported.pop(kind)
        return self._timeline.add("note", f"{count} more {LABELS[kind]} refused ({self._s.refusals[kind]} in all)")


def _is_power_of_ten(n: int) -> bool:
    """10, 100, 1000...: a flood of N refusals writes about log10(N) summaries."""
    return n >= 10 and str(n).rstrip("0") == "1"
