"""The workflow's question to the desk: did you write this message down first?

Every message that would count (a person's request, a provider's event) is
confirmed against the database before it does (temporal_bridge.order.intents), by
one read-only activity.

The checks of one workflow task go to the database together: the handlers
run to their first `await` one after the other, each adding its check, and
one activity answers them all. A flood of raw signals (the server hands them
over in batches) costs a few reads, not one each.

Why an activity and not a local activity inside the signal's own task (which
would put the verdict in the state one task sooner): with SDK 1.35, a query
that arrives while a local activity runs makes the worker complete the task
with the activity's marker and hand the result to the workflow only in the
next task, beside whatever else arrived meanwhile; a replay hands it over at
the marker, earlier. When an activity completed in that window, the replay
orders the handler's commands differently and the order's workflow task fails
with a nondeterminism error after any worker restart. The page polls the
verdict by query right after it signals, so that window is the common case.
(Reproduced: 4 replays out of 6 of one story failed; see the closing note of
the recorded-intents change.)

Deterministic and free of Django: futures on the workflow's own event loop.
"""
from __future__ import annotations

import asyncio
from typing import Any

from temporalio import workflow
from temporalio.exceptions import ActivityError

with workflow.unsafe.imports_passed_through():
    from temporal_bridge.contract.intents import (
        ACT_CONFIRM_MESSAGES,
        ActorCheckResult,
        EventCheck,
        EventConfirmation,
        IntentCheck,
        MessageChecks,
        MessageConfirmations,
    )
    from temporal_bridge.contract.policies import CONFIRM_RETRY, DB_STEP

# One activity answers at most this many checks (its input stays small).
MAX_BATCH = 200


class DeskConfirmations:
    def __init__(self) -> None:
        self._intents: list[tuple[IntentCheck, asyncio.Future[Any]]] = []
        self._events: list[tuple[EventCheck, asyncio.Future[Any]]] = []
        self._asking = False

    async def intent(self, check: IntentCheck) -> ActorCheckResult:
        """The desk's record of a person's request and the person's rights now."""
        return await self._ask(self._intents, check)

    async def event(self, check: EventCheck) -> EventConfirmation:
        """Whether the webhook intake stored this provider's event, as sent."""
        return await self._ask(self._events, check)

    async def _ask(self, queue: list[tuple[Any, asyncio.Future[Any]]], check: Any) -> Any:
        answer = asyncio.get_running_loop().create_future()
        queue.append((check, answer))
        if not self._asking:
            # Started after the handlers already scheduled in this task: they
            # queue their checks before the first batch leaves.
            self._asking = True
            asyncio.ensure_future(self._answer_all())
        return await answer

    async def _answer_all(self) -> None:
        people: list[tuple[IntentCheck, asyncio.Future[Any]]] = []
        events: list[tuple[EventCheck, asyncio.Future[Any]]] = []
        try:
            while self._intents or self._events:
                people, self._intents = self._intents[:MAX_BATCH], self._intents[MAX_BATCH:]
                events, self._events = self._events[:MAX_BATCH], self._events[MAX_BATCH:]
                batch = MessageChecks([c for c, _ in people], [c for c, _ in events])
                try:
                    answers: MessageConfirmations = await workflow.execute_activity(
                        ACT_CONFIRM_MESSAGES, batch, result_type=MessageConfirmations,
                        start_to_close_timeout=DB_STEP, retry_policy=CONFIRM_RETRY,
                    )
                except ActivityError as err:
                    # Only a non-retryable failure ends here: nothing counts, and the sender may try again.
                    why = f"the desk could not confirm it ({err.cause or err})"
                    answers = MessageConfirmations([ActorCheckResult(False, why)] * len(people),
                                                           [EventConfirmation(False, why)] * len(events))
                _settle(people, answers.intents, lambda: ActorCheckResult(False, "the desk gave no answer for it"))
                _settle(events, answers.events, lambda: EventConfirmation(False, "the desk gave no answer for it"))
        except Exception as err:
            # Not a message's doing (a worker without the activity, a bug): the
            # waiting handlers raise it, so the workflow task fails and is
            # retried once the worker is fixed; nothing counts meanwhile.
            for _, answer in [*people, *events, *self._intents, *self._events]:
                if not answer.done():
                    answer.set_exception(err)
            self._intents, self._events = [], []
        finally:
            self._asking = False


def _settle(asked: list[tuple[Any, asyncio.Future[Any]]], answers: list[Any], missing: Any) -> None:
    for i, (_, future) in enumerate(asked):
        if not future.done():
            future.set_result(answers[i] if i < len(answers) else missing())
