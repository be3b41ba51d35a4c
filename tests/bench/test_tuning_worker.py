"""The tuning worker's sandbox passthrough: the message modules, never the workflows' own packages."""
from __future__ import annotations

import pytest

import temporal_bridge.runtime.worker  # noqa: F401 - loads the workflows and what they import, as the tuning worker does
from tools.bench.tuning_worker import WORKFLOW_PACKAGES, passthrough_modules

pytestmark = pytest.mark.database_agnostic


def test_messages_passes_the_django_free_modules_through_but_not_the_workflows_or_their_parents():
    names = passthrough_modules("messages")
    assert {"temporal_bridge.order.messages", "temporal_bridge.order.stock_decisions", "temporal_bridge.order.fulfilment"} <= set(names)
    # A configured parent passes every module under it through: the workflows would no longer be reloaded per instance.
    assert not {"temporal_bridge", "temporal_bridge.order", "temporal_bridge.shipment", "temporal_bridge.approvals"} & set(names)
    assert not [name for name in names for package in WORKFLOW_PACKAGES if name == package or name.startswith(package + ".")]


def test_all_passes_the_whole_package_through():
    assert passthrough_modules("all") == ["temporal_bridge"]
