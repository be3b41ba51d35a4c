"""How the page that sent a request waits for the workflow's verdict: by query, but not at once.

A verdict needs the signal's workflow task, the desk's confirmation and another task; a query sent the
moment the signal is accepted could only answer that the request is unknown, and each query costs the
Temporal server and the worker a round trip.
"""
from __future__ import annotations

import asyncio

import pytest

from temporal_bridge.order import calls
from temporal_bridge.order import messages as m

pytestmark = pytest.mark.database_agnostic


class VerdictAfter:
    """A workflow handle whose verdict is final `ready` seconds after the first call; it notes when it was asked."""

    def __init__(self, ready: float, status: str = m.VERDICT_ACCEPTED) -> None:
        self.ready, self.status, self.asked = ready, status, []
        self.t0 = 0.0

    def get_workflow_handle(self, workflow_id: str) -> VerdictAfter:
        return self

    async def query(self, name: str, request_id: str, **_options) -> m.RequestVerdict:
        assert name == m.QUERY_VERDICT
        elapsed = asyncio.get_running_loop().time() - self.t0
        self.asked.append(elapsed)
        return m.RequestVerdict(request_id, self.status if elapsed >= self.ready else m.VERDICT_CHECKING)


@pytest.fixture
def answering(monkeypatch):
    """request_verdict against a VerdictAfter instead of the Temporal client."""
    made: list[VerdictAfter] = []

    class Bridge:
        def call(self, fn, timeout=None):
            async def run():
                made[-1].t0 = asyncio.get_running_loop().time()
                return await fn(made[-1])

            return asyncio.run(run())

    monkeypatch.setattr(calls, "bridge", Bridge())

    def ask(ready: float, wait: float, status: str = m.VERDICT_ACCEPTED) -> tuple[m.RequestVerdict, list[float]]:
        made.append(VerdictAfter(ready, status))
        verdict = calls.request_verdict(7, "req-1", wait=wait)
        return verdict, made[-1].asked

    return ask


def test_the_first_question_waits_for_the_verdict_to_be_possible(answering):
    verdict, asked = answering(ready=0.05, wait=3.0)

    assert verdict.status == m.VERDICT_ACCEPTED
    assert asked[0] >= calls.VERDICT_POLL_FIRST  # never the moment the signal went
    assert len(asked) == 2  # at 20 ms and at 60 ms
    assert asked[-1] - 0.05 < calls.VERDICT_POLL_MAX + 0.03  # read within one pause of being ready


def test_a_slow_verdict_is_asked_for_every_40_ms_until_the_wait_ends(answering):
    verdict, asked = answering(ready=10.0, wait=0.3)

    assert verdict.status == m.VERDICT_CHECKING  # the page shows the request as still being checked
    gaps = [later - earlier for earlier, later in zip(asked, asked[1:], strict=False)]
    assert all(gap >= calls.VERDICT_POLL_MAX - 0.005 for gap in gaps)
    assert 4 <= len(asked) <= 8


def test_without_time_to_wait_it_asks_once_at_once(answering):
    verdict, asked = answering(ready=0.0, wait=0.0, status=m.VERDICT_REFUSED)

    assert verdict.status == m.VERDICT_REFUSED
    assert len(asked) == 1 and asked[0] < calls.VERDICT_POLL_FIRST
