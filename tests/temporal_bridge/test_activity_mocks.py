"""The workflow tests' ActivityMocks stand in for every activity the worker registers.

A workflow that calls an activity its test worker lacks does not fail: Temporal
retries the "not registered" attempt until the test times out. This names the
missing mock instead, as soon as an activity is added to the worker.
"""
from __future__ import annotations

import pytest
from temporalio import activity

from temporal_bridge.approvals import messages as approval
from temporal_bridge.approvals.messages import DigestInput, DigestResult
from temporal_bridge.runtime import worker
from tests.temporal_bridge.helpers import ActivityMocks, activity_name

pytestmark = pytest.mark.database_agnostic


def test_every_activity_the_worker_registers_has_a_mock_of_the_same_name():
    # build_worker (used by runworker, devstack's workers and the integration tests) registers worker.ACTIVITIES.
    registered = {activity_name(fn) for fn in worker.ACTIVITIES}
    mocked = [activity_name(fn) for fn in ActivityMocks().activities()]
    assert len(mocked) == len(set(mocked)), f"ActivityMocks has two mocks of one name: {sorted(mocked)}"
    missing = sorted(registered - set(mocked))
    assert not missing, f"no mock in ActivityMocks (tests/temporal_bridge/helpers.py) for these activities the worker registers: {missing}"
    stale = sorted(set(mocked) - registered)
    assert not stale, f"ActivityMocks mocks activities the worker no longer registers: {stale}"


def test_a_tests_own_activity_replaces_the_mock_of_its_name():
    @activity.defn(name=approval.ACT_SEND_DIGESTS)
    async def digests(inp: DigestInput) -> DigestResult:
        return DigestResult(inp.digest_date)

    default = ActivityMocks().activities()
    with_override = ActivityMocks().activities(digests)
    assert [activity_name(fn) for fn in with_override] == [activity_name(fn) for fn in default]
    assert digests in with_override
