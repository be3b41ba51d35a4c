"""The order's timeline, and how each entry reaches the database mirror.

Every transition is appended here; the query shows these entries and the
mirror holds the same ones under the same keys. An entry that only records a
change of state (approved, processing, ...) waits in `state.unwritten` until
the next business step, which writes it in the transaction of its own effect
(a StepRecord), so a step and its record commit together. Entries people
must see while the order waits for them are written at once, with all that
wait, in one activity.

Keys are "NNNN-kind", NNNN the entry's position: a step's position is taken
when it starts (entries that arrive meanwhile come after it), and its entry
is inserted there when its result comes back.
"""
from __future__ import annotations

from collections.abc import Callable

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from temporal_bridge.contract.policies import DB_STEP, MIRROR_RETRY
    from temporal_bridge.order import messages as m
    from temporal_bridge.order import records, states
    from temporal_bridge.order.records import EntriesInput, MirrorInput, StepRecord, TimelineEntry


class Timeline:
    def __init__(self, state: m.OrderState, order_id: int) -> None:
        self._s = state
        self._order_id = order_id
        # Writes under way outside the signal handlers (the service-level
        # watcher's): continue-as-new waits for them as for the handlers.
        self.writing = 0
        # Called with each entry that changes the order's state (service levels, search attributes).
        self.on_change: Callable[[MirrorInput], None] | None = None

    # --- Appending ---------------------------------------------------------------------

    def add(self, kind: str, message: str, *, actor: str = "", status: str | None = None, progress: int | None = None,
            tracking_number: str | None = None, failure_reason: str | None = None, approval_deadline: str | None = None,
            escalated: bool | None = None, at: str | None = None) -> MirrorInput:
        """Append an entry now (and apply its change of state); the result is for the mirror.

        Signal handlers append before they change anything, so their entry
        lands on the timeline before whatever the main flow does in response.
        """
        entry = self.prepare(kind, message, actor=actor, status=status, progress=progress, tracking_number=tracking_number,
                             failure_reason=failure_reason, approval_deadline=approval_deadline, escalated=escalated)
        entry.at = at or entry.at
        self._apply(entry)
        self._insert(TimelineEntry(entry.at or "", kind, message, actor, key=entry.idempotency_key))
        return entry

    def prepare(self, kind: str, message: str, *, actor: str = "", **fields: object) -> MirrorInput:
        """Take the next position for an entry without appending it yet (it follows a step)."""
        key = records.timeline_key(self._take_position(), kind)
        return MirrorInput(self._order_id, key, kind, message, actor=actor, at=workflow.now().isoformat(), **fields)  # type: ignore[arg-type]

    def record(self, kind: str, message: str, **fields: object) -> None:
        """Append an entry; the next business step writes it, in its own transaction."""
        self._s.unwritten.append(self.add(kind, message, **fields))  # type: ignore[arg-type]

    async def record_now(self, kind: str, message: str, **fields: object) -> None:
        """Append an entry people must see while the order waits for them, and write it now."""
        await self.write_now([self.add(kind, message, **fields)])  # type: ignore[arg-type]

    async def write_now(self, entries: list[MirrorInput]) -> None:
        """Write `entries` (already added) at once, after those waiting, in one activity."""
        entries, self._s.unwritten = [*self._s.unwritten, *entries], []
        self.writing += 1
        try:
            await workflow.execute_activity(
                m.ACT_RECORD_ENTRIES, EntriesInput(self._order_id, entries), start_to_close_timeout=DB_STEP, retry_policy=MIRROR_RETRY,
            )
        finally:
            self.writing -= 1

    # --- Business steps ----------------------------------------------------------------------

    def begin_step(self, kind: str, *, decisions: bool = False) -> StepRecord:
        """What a business step writes beside its effect: the entries waiting,
        and a position for its own (and, with `decisions`, the decisions
        waiting)."""
        waiting, self._s.unwritten_decisions = (self._s.unwritten_decisions, []) if decisions else ([], self._s.unwritten_decisions)
        return StepRecord(key=records.timeline_key(self._take_position(), kind), kind=kind, before=self.take_unwritten(), decisions=waiting)

    def end_step(self, record: StepRecord, recorded: list[TimelineEntry]) -> None:
        """Add the entries the step wrote, as written: its own, then those that follow it."""
        for written, entry in zip(recorded, [None, *record.after], strict=False):
            if entry is not None:
                self._apply(entry)
            self._insert(written)

    def step_failed(self, record: StepRecord) -> None:
        """The step's transaction rolled back: what it carried waits for the next write."""
        self.give_back(record.before)
        self._s.unwritten_decisions[:0] = record.decisions

    def take_unwritten(self) -> list[MirrorInput]:
        """The entries waiting, for an activity to write first."""
        entries, self._s.unwritten = self._s.unwritten, []
        return entries

    def give_back(self, entries: list[MirrorInput]) -> None:
        """Entries an activity may not have written: the next write carries them again (a rewrite is a no-op)."""
        self._s.unwritten[:0] = entries

    # --- Internals --------------------------------------------------------------------------

    def _take_position(self) -> int:
        s = self._s
        position = len(s.timeline) if s.next_position is None else s.next_position
        s.next_position = position + 1
        return position

    def _apply(self, entry: MirrorInput) -> None:
        s = self._s
        if entry.status is not None:
            s.state = entry.status
            s.step = states.LABELS[entry.status]
        if entry.progress is not None:
            s.progress = entry.progress
        if self.on_change is not None and (entry.status is not None or entry.escalated):
            self.on_change(entry)

    def _insert(self, entry: TimelineEntry) -> None:
        """At its key's place: a step's entry comes before those appended while it ran."""
        timeline, i = self._s.timeline, len(self._s.timeline)
        while i > 0 and entry.key and records.key_position(timeline[i - 1].key) > records.key_position(entry.key):
            i -= 1
        timeline.insert(i, entry)
