"""The worker's activity-failure counter (runtime/metrics.py), on a real worker in the time-skipping server:
every failed attempt is counted by activity and error type, a success is not."""
from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
from prometheus_client import REGISTRY
from temporalio import activity, workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ApplicationError
from temporalio.worker import Worker

from temporal_bridge.runtime.metrics import MetricsInterceptor
from tests.temporal_bridge.helpers import SharedTimeSkippingEnv

pytestmark = pytest.mark.database_agnostic


@activity.defn(name="metrics_probe")
async def metrics_probe(fail: bool) -> str:
    if fail:
        raise ApplicationError("no such thing", type="OutOfStock", non_retryable=True)
    return "ok"


@workflow.defn(name="MetricsProbe", sandboxed=False)
class MetricsProbe:
    @workflow.run
    async def run(self, fail: bool) -> str:
        try:
            return await workflow.execute_activity(metrics_probe, fail, start_to_close_timeout=timedelta(seconds=10),
                                                   retry_policy=RetryPolicy(maximum_attempts=1))
        except Exception:  # noqa: BLE001 - the probe reports, the counter is what is tested
            return "failed"


def failures() -> float:
    return REGISTRY.get_sample_value("orderdesk_activity_failures_total", {"activity": "metrics_probe", "error_type": "OutOfStock"}) or 0.0


def test_a_failed_activity_attempt_is_counted_by_activity_and_error_type(temporal: SharedTimeSkippingEnv):
    env = temporal.env
    queue = f"metrics-{uuid.uuid4().hex}"
    before = failures()

    async def run() -> list[str]:
        async with Worker(env.client, task_queue=queue, workflows=[MetricsProbe], activities=[metrics_probe],
                          interceptors=[MetricsInterceptor()]):
            return [await env.client.execute_workflow("MetricsProbe", fail, id=f"probe-{uuid.uuid4().hex}", task_queue=queue)
                    for fail in (False, True)]

    assert temporal._run(run(), timeout=30) == ["ok", "failed"]
    assert failures() == before + 1
