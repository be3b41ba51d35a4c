"""The payload dataclasses carry their annotations as types, so the SDK's converter does not evaluate strings on every decode."""
from __future__ import annotations

import dataclasses
import importlib
from dataclasses import dataclass

import pytest
from temporalio.converter import DataConverter

from temporal_bridge.contract.payload_types import resolve_annotations
from temporal_bridge.order.fulfilment import ReserveInput, ReserveResult
from temporal_bridge.order.records import MirrorInput, StepRecord, TimelineEntry

ORDER_MESSAGE_MODULES = ["messages", "fulfilment", "records", "payments", "discussion", "stock_decisions", "split_plan", "holds",
                         "service_levels", "fulfilment_states"]


@pytest.mark.parametrize("name", ORDER_MESSAGE_MODULES)
def test_every_payload_dataclass_of_the_order_has_its_annotations_as_types(name):
    module = importlib.import_module(f"temporal_bridge.order.{name}")
    classes = [v for v in vars(module).values() if isinstance(v, type) and dataclasses.is_dataclass(v) and v.__module__ == module.__name__]
    assert classes
    for cls in classes:
        strings = {field: hint for field, hint in cls.__annotations__.items() if isinstance(hint, str)}
        assert strings == {}, cls


def test_a_resolved_payload_decodes_as_before():
    converter = DataConverter.default.payload_converter
    entry = MirrorInput(7, "0001-status", "status", "Auto-approved", status="approved", at="2026-12-05T10:00:00+00:00")
    sent = ReserveInput(7, record=StepRecord("0003-stock", "stock", before=[entry, entry]), keep_available=True)
    assert converter.from_payloads(converter.to_payloads([sent]), [ReserveInput]) == [sent]
    result = ReserveResult(lines_reserved=1, units_reserved=2)
    result.recorded = [TimelineEntry("2026-12-05T10:00:00+00:00", "stock", "Reserved", key="0003-stock")]
    assert converter.from_payloads(converter.to_payloads([result]), [ReserveResult]) == [result]


def test_a_class_naming_what_its_module_cannot_see_keeps_its_strings():
    @dataclass
    class Odd:
        missing: NotDefinedAnywhere  # type: ignore[name-defined]  # noqa: F821

    resolve_annotations({"__name__": Odd.__module__, "Odd": Odd})
    assert Odd.__annotations__ == {"missing": "NotDefinedAnywhere"}
