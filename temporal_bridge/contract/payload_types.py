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
