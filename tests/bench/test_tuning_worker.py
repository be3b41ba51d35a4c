"""The tuning worker's sandbox variants: runworker's by default, the old re-importing one, and everything passed through."""
from __future__ import annotations

import pytest

from temporal_bridge.runtime.sandbox import MESSAGE_MODULES
from tools.bench.tuning_worker import runner

pytestmark = pytest.mark.database_agnostic


def test_by_default_the_tuning_worker_passes_through_what_runworker_does():
    assert set(MESSAGE_MODULES) <= runner("as-runworker").restrictions.passthrough_modules


def test_the_variants_re_import_everything_or_pass_everything_through():
    assert not {name for name in runner("reimport").restrictions.passthrough_modules if name.startswith("temporal_bridge")}
    assert "temporal_bridge" in runner("all").restrictions.passthrough_modules
