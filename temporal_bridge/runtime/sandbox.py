"""The workflow sandbox as the workers run it: the Django-free message modules pass through.

The sandbox loads each workflow's own package afresh for every new workflow
instance, so that workflow code starts from clean module state. The modules
the workflows import for their messages, states and records are meant to be
shared (workflow code imports them inside `imports_passed_through()`), but a
`from temporal_bridge.order import messages` inside the workflow package
re-executes them per instance all the same: `temporal_bridge.order` is a
parent of the workflow package, so the sandbox already holds its own copy of
it, and importlib loads the submodules under that copy without asking the
passthrough hook. Every order then paid for re-running these modules and
rebuilding their dataclasses (in the bench's worker profile, about 40 % of
the worker's CPU). Naming them here passes them through on every path.

They are safe to share: constants, dataclasses and pure functions, free of
Django by the `workflow-code-is-pure` contract in .importlinter (a test keeps
this list and that contract in step).
"""
from __future__ import annotations

import functools
import importlib.util
import logging
import py_compile
from pathlib import Path

from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner, SandboxRestrictions

log = logging.getLogger(__name__)

# The workflows themselves: loaded afresh per workflow instance, by design.
WORKFLOW_MODULES = (
    "temporal_bridge.order.workflow",
    "temporal_bridge.shipment.workflow",
    "temporal_bridge.approvals.workflows",
)

# What the workflows import from the bridge; never a parent package of a
# workflow module (a passed-through parent passes its children through too).
MESSAGE_MODULES = (
    "temporal_bridge.approvals.messages",
    "temporal_bridge.approvals.rules",
    "temporal_bridge.contract.confirmations",
    "temporal_bridge.contract.decoding",
    "temporal_bridge.contract.intents",
    "temporal_bridge.contract.payload_types",
    "temporal_bridge.contract.policies",
    "temporal_bridge.order.discussion",
    "temporal_bridge.order.fulfilment",
    "temporal_bridge.order.fulfilment_states",
    "temporal_bridge.order.holds",
    "temporal_bridge.order.intents",
    "temporal_bridge.order.message_checks",
    "temporal_bridge.order.messages",
    "temporal_bridge.order.payments",
    "temporal_bridge.order.records",
    "temporal_bridge.order.search_attributes",
    "temporal_bridge.order.service_levels",
    "temporal_bridge.order.split_plan",
    "temporal_bridge.order.states",
    "temporal_bridge.order.stock_decisions",
    "temporal_bridge.order.withdrawal",
    "temporal_bridge.shipment.message_checks",
    "temporal_bridge.shipment.messages",
)


def workflow_runner() -> SandboxedWorkflowRunner:
    """The sandboxed runner with the SDK's default restrictions and the message modules passed through."""
    compile_workflow_modules()
    return SandboxedWorkflowRunner(restrictions=SandboxRestrictions.default.with_passthrough_modules(*MESSAGE_MODULES))


@functools.cache
def compile_workflow_modules() -> int:
    """Write the bytecode of the workflows' own modules, once per process. Returns how many files were compiled.

    The sandbox loads these modules afresh for every workflow instance, through
    Python's ordinary import: from their `__pycache__` when it holds bytecode
    for the current source, else by compiling the source again. With
    PYTHONDONTWRITEBYTECODE set (as in many container images and on the bench
    machine) nothing ever wrote that bytecode, so every order compiled about
    2,400 lines of workflow code: ~10 ms of the worker's CPU per order, against
    under 1 ms to load the bytecode. The cache is checked against the source's
    time and size as usual. A read-only tree is left as it is (logged): the
    instances then compile, as before.
    """
    compiled = 0
    for name in WORKFLOW_MODULES:
        spec = importlib.util.find_spec(name)
        if spec is None or not spec.origin:
            continue
        origin = Path(spec.origin)
        files = sorted(origin.parent.rglob("*.py")) if origin.name == "__init__.py" else [origin]
        for path in files:
            try:
                py_compile.compile(str(path), cfile=importlib.util.cache_from_source(str(path)), doraise=True)
            except (OSError, py_compile.PyCompileError) as err:
                log.warning("Workflow bytecode not written (%s): each workflow instance compiles %s", err, path.name)
                continue
            compiled += 1
    return compiled
