"""A copy of OrderWorkflow whose mirror writes are local activities, for the bench only.

temporal_bridge/workflows.py is not changed by the bench: this subclass, under
its own workflow type name, lets `make bench` measure what local activities
for the mirror would pay before anyone changes the real workflow (which
would need a workflow.patched() gate for the histories already running).
No Django here: the workflow sandbox imports this module.
"""


from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    # By its full name, so the sandbox registers the module: the SDK resolves
    # the input dataclass's (string) annotations in it.
    import temporal_bridge.messages as m

# Imported normally (as the worker imports workflows.py), so the sandbox
# re-imports it per run just as it does for OrderWorkflow.
from temporal_bridge.order_workflow import OrderWorkflow  # noqa: E402
from temporal_bridge.workflow_policies import MIRROR_RETRY, SHORT_STEP  # noqa: E402

WORKFLOW_NAME = "BenchOrderWorkflowLocalMirror"


@workflow.defn(name=WORKFLOW_NAME)
class LocalMirrorOrderWorkflow(OrderWorkflow):
    @workflow.init
    def __init__(self, inp: m.OrderWorkflowInput) -> None:
        super().__init__(inp)

    @workflow.run
    async def run(self, inp: m.OrderWorkflowInput) -> m.OrderSnapshot:
        return await super().run(inp)

    async def _mirror(self, entry: m.MirrorInput) -> None:
        # Runs in the worker that runs the workflow task: no activity task
        # through the server, one marker in the history instead of three events.
        await workflow.execute_local_activity(m.ACT_MIRROR, entry, start_to_close_timeout=SHORT_STEP, retry_policy=MIRROR_RETRY)
