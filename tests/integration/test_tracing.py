"""OpenTelemetry tracing through the SDK's interceptor, switched on by OTEL_ENABLED."""
from __future__ import annotations

import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from temporal_bridge.order import states
from tests.integration.stack import live_stack
from tests.integration.test_lifecycle import finished, submit, wait_for

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def spans():
    """Spans recorded in memory by this process's tracer provider."""
    provider = trace.get_tracer_provider()
    if not isinstance(provider, TracerProvider):  # the global provider can be set once per process
        provider = TracerProvider()
        trace.set_tracer_provider(provider)
    exporter = InMemorySpanExporter()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    yield exporter
    exporter.shutdown()


def test_an_order_is_one_trace_from_the_web_start_through_the_worker(temporal_address, settings, spans, clerk, customer, widget):
    settings.OTEL_ENABLED = True
    with live_stack(temporal_address, settings):
        order = submit(clerk, customer, widget, 1)
        assert finished(order.pk).state == states.FULFILLED
        names = wait_for(lambda: (n := {s.name for s in spans.get_finished_spans()}) and "RunActivity:reserve_stock" in n and n,
                         timeout=10, what="the worker's spans")
    assert {"StartWorkflow:OrderWorkflow", "RunWorkflow:OrderWorkflow", "RunActivity:reserve_stock", "RunActivity:charge_payment"} <= names
    traced = ("StartWorkflow:OrderWorkflow", "RunActivity:reserve_stock")
    traces = {s.context.trace_id for s in spans.get_finished_spans() if s.name in traced}
    assert len(traces) == 1
