"""The payload dataclasses carry their annotations as types, so the SDK's converter does not evaluate strings on every decode."""
from __future__ import annotations

import dataclasses
import importlib
import typing
from dataclasses import dataclass

import pytest
import temporalio.converter._payload_converter as sdk_module
from temporalio.converter import DataConverter

from temporal_bridge.contract import payload_types
from temporal_bridge.contract.payload_types import DeskPayloadConverter, resolve_annotations
from temporal_bridge.order.fulfilment import ReserveInput, ReserveResult
from temporal_bridge.order.messages import OrderSnapshot
from temporal_bridge.order.records import MirrorInput, StepRecord, TimelineEntry
from temporal_bridge.order.service_levels import ServiceLevelReport
from tests.temporal_bridge.helpers import order_input

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


# --- DeskPayloadConverter: the desk's dataclasses decoded with their hints read once ---------------------

def sample_payloads() -> list[tuple[object, type]]:
    """Payloads as the order sends them: nested dataclasses, lists of them, optional ones, init=False fields."""
    entry = MirrorInput(7, "0001-status", "status", "Auto-approved", status="approved", at="2026-12-05T10:00:00+00:00")
    reserved = ReserveResult(lines_reserved=1, units_reserved=2)
    reserved.recorded = [TimelineEntry("2026-12-05T10:00:00+00:00", "stock", "Reserved", key="0003-stock")]
    snapshot = OrderSnapshot(order_id=7, number="OD-7", state="processing", step="", progress=0, requires_approval=False,
                             approval_deadline=None, priority="normal", shipping_address="1 Main Street", note="",
                             timeline=[TimelineEntry("2026-12-05T10:00:00+00:00", "status", "Processing", key="0002-status")],
                             service_levels=ServiceLevelReport(seconds_in_stage={"processing": 1.5}))
    return [
        (ReserveInput(7, record=StepRecord("0003-stock", "stock", before=[entry] * 20), keep_available=True), ReserveInput),
        (reserved, ReserveResult),
        (order_input(), type(order_input())),
        (snapshot, OrderSnapshot),
    ]


def test_the_desk_converter_decodes_every_payload_as_the_sdk_does():
    sdk, desk = DataConverter.default.payload_converter, DeskPayloadConverter()
    for value, hint in sample_payloads():
        payloads = sdk.to_payloads([value])
        assert desk.to_payloads([value]) == payloads
        assert desk.from_payloads(payloads, [hint]) == sdk.from_payloads(payloads, [hint]) == [value]


def test_the_desk_converter_reads_a_class_hints_once(monkeypatch):
    calls = []

    def counted(real):
        def get_type_hints(obj, *args, **kwargs):
            calls.append(obj)
            return real(obj, *args, **kwargs)
        return get_type_hints

    monkeypatch.setattr(typing, "get_type_hints", counted(typing.get_type_hints))
    monkeypatch.setattr(sdk_module, "get_type_hints", counted(sdk_module.get_type_hints))
    value, hint = sample_payloads()[0]  # a step record carrying 20 entries
    payloads = DataConverter.default.payload_converter.to_payloads([value])
    DataConverter.default.payload_converter.from_payloads(payloads, [hint])
    assert len(calls) >= 22  # the SDK: the input, its record, each entry
    calls.clear()
    payload_types._PLANS.clear()
    desk = DeskPayloadConverter()
    desk.from_payloads(payloads, [hint])
    assert sorted(c.__name__ for c in calls) == ["MirrorInput", "ReserveInput", "StepRecord"]
    calls.clear()
    assert desk.from_payloads(payloads, [hint]) == [value]
    assert calls == []


def test_the_desk_converter_refuses_what_the_sdk_refuses():
    desk = DeskPayloadConverter()
    for bad in ([{}], ["not an object"], [{"order_id": 7, "record": "not an object"}]):
        payloads = DataConverter.default.payload_converter.to_payloads(bad)
        with pytest.raises(Exception) as sdk_error:
            DataConverter.default.payload_converter.from_payloads(payloads, [ReserveInput])
        with pytest.raises(type(sdk_error.value)):
            desk.from_payloads(payloads, [ReserveInput])
