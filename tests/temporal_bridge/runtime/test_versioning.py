"""Worker versioning without a server: which build id the code announces, which
behaviour each workflow runs with, and the commands' refusals.

The rollout itself (pinned runs on A, new runs on B) is tests/integration/test_worker_versioning.py.
"""
from __future__ import annotations

import shutil
from io import StringIO

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from temporalio import workflow
from temporalio.common import VersioningBehavior

from temporal_bridge.approvals import messages as approval
from temporal_bridge.order import messages as m
from temporal_bridge.runtime import versioning
from temporal_bridge.runtime.versioned_workflows import VERSIONED_WORKFLOWS
from temporal_bridge.runtime.worker import WORKFLOWS
from temporal_bridge.shipment import messages as shipment


def definition(cls: type):
    # The SDK keeps what @workflow.defn declared here; there is no public reader.
    return workflow._Definition.must_from_class(cls)


def test_a_versioned_worker_registers_every_workflow_under_its_name_with_the_same_handlers():
    plain = {definition(cls).name: definition(cls) for cls in WORKFLOWS}
    versioned = {definition(cls).name: definition(cls) for cls in VERSIONED_WORKFLOWS}
    # A workflow added to worker.WORKFLOWS needs its variant (and behaviour) in versioned_workflows.py.
    assert versioned.keys() == plain.keys()
    for name, defn in versioned.items():
        assert (set(defn.signals), set(defn.queries), set(defn.updates)) == (
            set(plain[name].signals), set(plain[name].queries), set(plain[name].updates)), name
        # The plain class declares none: an unversioned worker's tasks would be refused by the server.
        assert plain[name].versioning_behavior in (None, VersioningBehavior.UNSPECIFIED), name


def test_the_long_lived_order_and_parcel_auto_upgrade_and_the_short_lived_workflows_are_pinned():
    behaviours = {definition(cls).name: definition(cls).versioning_behavior for cls in VERSIONED_WORKFLOWS}
    assert behaviours == {
        m.WORKFLOW_NAME: VersioningBehavior.AUTO_UPGRADE,
        shipment.SHIPMENT_WORKFLOW_NAME: VersioningBehavior.AUTO_UPGRADE,
        approval.BULK_WORKFLOW_NAME: VersioningBehavior.PINNED,
        approval.DIGEST_WORKFLOW_NAME: VersioningBehavior.PINNED,
    }


def test_the_build_id_covers_the_workflow_code_and_what_it_imports_but_not_activities_or_views():
    names = {p.relative_to(versioning.PROJECT_ROOT).as_posix() for p in versioning.workflow_sources()}
    assert {
        "temporal_bridge/order/workflow/workflow.py", "temporal_bridge/order/workflow/saga.py", "temporal_bridge/approvals/workflows.py",
        "temporal_bridge/order/messages.py", "temporal_bridge/shipment/messages.py", "temporal_bridge/order/states.py",
        "temporal_bridge/contract/policies.py", "temporal_bridge/runtime/versioned_workflows.py",
    } <= names
    assert not names & {"temporal_bridge/order/activities.py", "temporal_bridge/runtime/worker.py", "orders/views.py", "orders/services.py"}


def test_any_change_to_a_workflow_source_is_a_new_build_id(tmp_path):
    root = versioning.PROJECT_ROOT
    copies = []
    for path in versioning.workflow_sources():
        copy = tmp_path / path.relative_to(root)
        copy.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, copy)
        copies.append(copy)
    assert versioning.sources_digest(copies, tmp_path) == versioning.source_build_id()
    saga = tmp_path / "temporal_bridge/order/workflow/saga.py"
    saga.write_text(saga.read_text() + "\n# a comment is a change too: the digest does not parse code\n")
    assert versioning.sources_digest(copies, tmp_path) != versioning.source_build_id()


def test_order_desk_build_id_overrides_the_digest(settings):
    settings.ORDER_DESK_BUILD_ID = ""
    assert versioning.build_id() == versioning.source_build_id()
    settings.ORDER_DESK_BUILD_ID = "2026-12-01.1"
    settings.TEMPORAL_DEPLOYMENT_NAME = "order-desk"
    assert versioning.worker_version().to_canonical_string() == "order-desk.2026-12-01.1"
    out = StringIO()
    call_command("deployment", "build-id", stdout=out)
    assert out.getvalue().strip() == "2026-12-01.1"


def test_a_deployment_name_with_a_dot_is_refused(settings):
    settings.TEMPORAL_DEPLOYMENT_NAME = "order.desk"
    with pytest.raises(versioning.DeploymentError, match="must not contain a dot"):
        versioning.worker_version("b1")


def test_runworker_makes_itself_current_only_in_development(settings, capsys):
    settings.DEBUG = False
    with pytest.raises(SystemExit) as exit_:
        call_command("runworker", "--versioning", "--make-current")
    assert exit_.value.code == 2
    assert "manage.py deployment set-current" in capsys.readouterr().err
    settings.DEBUG = True
    with pytest.raises(SystemExit):  # and only a versioned worker has a version to make current
        call_command("runworker", "--no-versioning", "--make-current")


def test_deployment_command_refusals_are_messages_not_tracebacks():
    with pytest.raises(CommandError, match="ramp needs BUILD_ID PERCENT"):
        call_command("deployment", "ramp", "b1")
    with pytest.raises(CommandError, match="Cannot reach Temporal at 127.0.0.1:1"):
        call_command("deployment", "--address", "127.0.0.1:1", "status")
