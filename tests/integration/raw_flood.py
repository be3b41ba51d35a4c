"""A flood of raw signals, as an attacker who reaches the Temporal frontend sends it:
a plain SDK client (no desk code, no payload key, no database), in its own process.

    python -m tests.integration.raw_flood ADDRESS WORKFLOW_ID COUNT

Imports only the standard library and temporalio: the attacker has nothing else.
The test that starts it reads the plan (`message`) to know what was sent.
"""
from __future__ import annotations

import asyncio
import os
import sys

from temporalio.client import Client

MALFORMED = "malformed messages"
UNKNOWN = "messages of a name the order does not know"
UNRECORDED = "messages the desk did not record"
MALFORMED_SHAPES = [[{"actor": "manager"}], ["approve!"], [], [{"actor": "manager", "request_id": 7}]]


def message(i: int) -> tuple[str, str, list]:
    """The i-th message: (the kind of refusal it earns, signal name, arguments)."""
    if i % 3 == 0:
        return MALFORMED, "approve", MALFORMED_SHAPES[i % 4]
    if i % 3 == 1:
        return UNKNOWN, f"grant_discount_{i % 5}", [{"actor": "manager", "percent": 90}]
    return UNRECORDED, "approve", [{"actor": "manager", "request_id": f"flood-{i}", "comment": "", "senior": True}]


def planned(count: int) -> dict[str, int]:
    """How many messages of each kind `count` signals are."""
    kinds: dict[str, int] = {}
    for i in range(count):
        kind = message(i)[0]
        kinds[kind] = kinds.get(kind, 0) + 1
    return kinds


async def flood(address: str, workflow_id: str, count: int, batch: int = 250) -> None:
    handle = (await Client.connect(address)).get_workflow_handle(workflow_id)
    for start in range(0, count, batch):
        await asyncio.gather(*(handle.signal(name, args=args) for _, name, args in map(message, range(start, min(start + batch, count)))))


if __name__ == "__main__":
    asyncio.run(flood(sys.argv[1], sys.argv[2], int(sys.argv[3])))
    sys.stdout.flush()
    # Without the interpreter's teardown: the SDK's native threads may still hold the GIL
    # there, and Python aborts ("PyGILState_Release ... finalizing") after a flood that succeeded.
    os._exit(0)
