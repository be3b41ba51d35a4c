"""The payload dataclasses' annotations as types, not strings: decoding a payload is then about four times cheaper.

The SDK's converter calls `typing.get_type_hints` on a dataclass every time it
decodes one: for each activity input and result, and for each entry of every
list inside them (a step's timeline entries). Our modules write their
annotations as strings (`from __future__ import annotations`), so each call
evaluated them again: about 7 ms of the worker's CPU per order, and part of
every full poll's decoding of the order's snapshot. Resolved once at import,
the same call reads ready types.

Pure: the workflow sandbox passes the message modules through, and they call this at import.
"""
from __future__ import annotations

import dataclasses
import typing
import weakref
from typing import Any

from temporalio.converter import (
    CompositePayloadConverter,
    DefaultPayloadConverter,
    JSONPlainPayloadConverter,
    JSONTypeConverter,
    value_to_type,
)


def resolve_annotations(namespace: dict[str, typing.Any]) -> None:
    """Replace the string annotations of the dataclasses a module defines (its `globals()`, after its last class)
    with the types they name. A class whose annotations name something the module cannot see keeps its strings."""
    module = namespace["__name__"]
    for value in list(namespace.values()):
        if not (isinstance(value, type) and dataclasses.is_dataclass(value) and value.__module__ == module):
            continue
        own = value.__dict__.get("__annotations__", {})
        try:
            hints = typing.get_type_hints(value)
        except (NameError, TypeError):
            continue
        value.__annotations__ = {name: hints[name] for name in own}


class DataclassHints(JSONTypeConverter):
    """Decodes the desk's payload dataclasses as the SDK's converter does, reading each class's type hints once.

    The SDK calls `typing.get_type_hints` for every dataclass it decodes, even with the annotations resolved:
    the desk's activity inputs and results carry lists of them (timeline entries), so that is tens of calls a
    step. Here the fields and their hints are kept per class (weakly: the sandbox reloads the workflow's own
    modules for each order); each field is decoded by the SDK's `value_to_type`, with this converter again for
    the classes inside. Anything else, or a value that is not a dict, goes to the SDK unchanged."""

    def __init__(self) -> None:
        self._converters = [self]

    def to_typed_value(self, hint: type, value: Any) -> Any:
        if not isinstance(value, dict) or not isinstance(hint, type) or not hint.__module__.startswith(_DESK_MODULES):
            return JSONTypeConverter.Unhandled
        plan = _PLANS.get(hint)
        if plan is None:
            if not dataclasses.is_dataclass(hint):
                return JSONTypeConverter.Unhandled
            hints = typing.get_type_hints(hint)
            plan = _PLANS[hint] = [(field.name, hints[field.name], field.init) for field in dataclasses.fields(hint)]
        init_values, other_values = {}, {}
        for name, field_hint, init in plan:
            field_value = value.get(name, dataclasses.MISSING)
            if field_value is dataclasses.MISSING:
                continue  # the class's own __init__ refuses a required field missing
            try:
                converted = value_to_type(field_hint, field_value, self._converters)
            except Exception as err:
                raise TypeError(f"Failed converting field {name} on dataclass {hint}") from err
            (init_values if init else other_values)[name] = converted
        decoded = hint(**init_values)
        for name, converted in other_values.items():
            object.__setattr__(decoded, name, converted)  # as the SDK restores init=False fields
        return decoded


class DeskPayloadConverter(CompositePayloadConverter):
    """The SDK's default payload converters, its JSON one decoding the desk's dataclasses through DataclassHints."""

    def __init__(self) -> None:
        super().__init__(*[
            JSONPlainPayloadConverter(custom_type_converters=[DataclassHints()]) if isinstance(converter, JSONPlainPayloadConverter)
            else converter
            for converter in DefaultPayloadConverter.default_encoding_payload_converters
        ])


_DESK_MODULES = ("temporal_bridge.",)
_PLANS: weakref.WeakKeyDictionary[type, list[tuple[str, Any, bool]]] = weakref.WeakKeyDictionary()
