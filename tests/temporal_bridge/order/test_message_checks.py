"""Decoding of untrusted messages (temporal_bridge.order.message_checks): whatever a
client sends, the result is a valid message or a refusal with a reason, never
another exception (which would fail the workflow task) and never a field
longer than the model allows."""
from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from approvals.models import ApprovalDecision
from orders import forms
from orders.models import Priority
from orders.timeline.models import OrderEvent
from temporal_bridge.contract.decoding import Refused
from temporal_bridge.order import message_checks as checks
from temporal_bridge.order import messages as m

# No database here (activities are mocked or no order is run): CI runs it once.
pytestmark = pytest.mark.database_agnostic

JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=700),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=20), children, max_size=5),
    max_leaves=12,
)
FIELDS = ["actor", "request_id", "comment", "reason", "priority", "shipping_address", "note", "senior", "percent", "step"]
MESSAGE = st.dictionaries(st.sampled_from(FIELDS), JSON | st.text(max_size=1200), max_size=8)
ARGS = st.lists(MESSAGE | JSON, max_size=3)

PARSERS = {
    "approve": lambda args: checks.parse_decision(args, "Approval"),
    "cancel": checks.parse_cancel,
    "update": checks.parse_update,
}


@pytest.mark.parametrize("kind", PARSERS)
@settings(max_examples=120, deadline=None)
@given(args=ARGS)
def test_any_message_is_either_valid_within_the_caps_or_refused_with_a_reason(kind: str, args: list[Any]):
    try:
        message = PARSERS[kind](args)
    except Refused as refused:
        assert refused.reason and len(refused.reason) < 300
        assert len(refused.actor) <= 40
        return
    assert 0 < len(message.actor) <= m.MAX_ACTOR and 0 < len(message.request_id) <= m.MAX_REQUEST_ID
    for text in (getattr(message, name, None) for name in ("comment", "reason", "shipping_address", "note")):
        assert text is None or (isinstance(text, str) and len(text) <= m.MAX_NOTE)


@settings(max_examples=120, deadline=None)
@given(args=ARGS)
def test_progress_reports_are_valid_or_dropped(args: list[Any]):
    progress = checks.parse_progress(args)
    assert progress is None or (0 <= progress.percent <= 100 and len(progress.step) <= 80)


def test_the_caps_match_what_the_models_and_forms_allow():
    assert m.MAX_ACTOR == ApprovalDecision._meta.get_field("approver_username").max_length == OrderEvent._meta.get_field("actor").max_length
    assert m.MAX_REQUEST_ID == ApprovalDecision._meta.get_field("request_id").max_length
    assert m.MAX_COMMENT == forms.ApproveForm.base_fields["comment"].max_length == forms.ReasonForm.base_fields["reason"].max_length
    assert m.MAX_ADDRESS == forms.UpdateForm.base_fields["shipping_address"].max_length
    assert m.MAX_NOTE == forms.UpdateForm.base_fields["note"].max_length
    assert set(m.PRIORITIES) == set(Priority.values)


def test_a_refusal_names_the_sender_in_a_short_printable_form():
    with pytest.raises(Refused) as refused:
        checks.parse_decision([{"actor": "evil\n\x00" + "x" * 300, "request_id": "r"}], "Approval")
    assert refused.value.reason.startswith("Approval from evil??xxx")
    assert "\n" not in refused.value.reason and len(refused.value.reason) < 150
