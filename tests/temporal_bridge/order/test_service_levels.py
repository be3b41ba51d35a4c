"""The service-level report both the workflow's query and the mirror give: time per stage, breaches, the estimate."""
from __future__ import annotations

from datetime import UTC, datetime, timedelta

from temporal_bridge.order import service_levels, states
from temporal_bridge.order.service_levels import ServiceLevelTargets

T0 = datetime(2026, 12, 1, 8, 0, tzinfo=UTC)
HOUR = 3600.0
TARGETS = ServiceLevelTargets(approval_seconds=24 * HOUR, processing_seconds=HOUR, fulfilment_seconds=4 * HOUR,
                              delivery_seconds=5 * 24 * HOUR)


def at(hours: float) -> str:
    return (T0 + timedelta(hours=hours)).isoformat()


def test_each_state_counts_against_its_stage_and_a_stage_entered_twice_sums():
    transitions = [(states.PENDING_APPROVAL, at(0)), (states.APPROVED, at(2)), (states.PENDING_APPROVAL, at(3)),
                   (states.PROCESSING, at(4)), (states.FULFILLING, at(4.5)), (states.FULFILLED, at(6))]
    report = service_levels.report(transitions, T0 + timedelta(hours=10), TARGETS, track_delivery=False)
    assert report.seconds_in_stage == {"approval": 3 * HOUR, "processing": 1.5 * HOUR, "fulfilment": 1.5 * HOUR}
    assert report.breached == ["processing"]
    assert report.estimated_completion is None, "a finished order has no estimate"


def test_the_stage_still_running_is_breached_before_it_ends():
    report = service_levels.report([(states.PENDING_APPROVAL, at(0))], T0 + timedelta(hours=25), TARGETS, track_delivery=False)
    assert report.seconds_in_stage == {"approval": 25 * HOUR}
    assert report.breached == ["approval"]
    # Overdue: nothing left of approval, then processing and fulfilment in full.
    assert report.estimated_completion == (T0 + timedelta(hours=25 + 1 + 4)).isoformat()


def test_estimate_is_what_is_left_of_the_current_stage_plus_the_stages_ahead():
    now = T0 + timedelta(hours=3)
    report = service_levels.report([(states.PENDING_APPROVAL, at(0)), (states.APPROVED, at(2))], now, TARGETS, track_delivery=False)
    assert report.breached == []
    # An hour in processing: none of its hour left, then fulfilment's four.
    assert report.estimated_completion == (now + timedelta(hours=4)).isoformat()
    tracked = service_levels.report([(states.PENDING_APPROVAL, at(0)), (states.APPROVED, at(2))], now, TARGETS, track_delivery=True)
    assert tracked.estimated_completion == (now + timedelta(hours=4 + 120)).isoformat()


def test_a_stage_without_target_is_never_breached_and_adds_nothing_to_the_estimate():
    targets = ServiceLevelTargets(approval_seconds=0, processing_seconds=HOUR, fulfilment_seconds=0, delivery_seconds=0)
    now = T0 + timedelta(days=10)
    report = service_levels.report([(states.PENDING_APPROVAL, at(0))], now, targets, track_delivery=True)
    assert report.breached == []
    assert report.estimated_completion == (now + timedelta(hours=1)).isoformat()


def test_delivery_is_timed_while_the_parcel_travels():
    transitions = [(states.PENDING_APPROVAL, at(0)), (states.PROCESSING, at(0)), (states.FULFILLING, at(0.5)),
                   (states.IN_TRANSIT, at(1))]
    report = service_levels.report(transitions, T0 + timedelta(days=7), TARGETS, track_delivery=True)
    assert report.breached == ["delivery"]
    assert report.seconds_in_stage["delivery"] == 7 * 24 * HOUR - HOUR


def test_no_transitions_no_estimate_and_naive_times_read_as_utc():
    assert service_levels.report([], T0, TARGETS, track_delivery=False).estimated_completion is None
    naive = [(states.PENDING_APPROVAL, (T0 + timedelta(hours=1)).replace(tzinfo=None).isoformat())]
    assert service_levels.report(naive, T0 + timedelta(hours=2), TARGETS, track_delivery=False).seconds_in_stage == {"approval": HOUR}


def test_breach_text_names_the_stage_and_target_and_reads_back():
    assert service_levels.breach_text("approval", TARGETS) == "Service level breached: approval over 24 h"
    assert service_levels.breach_text("delivery", TARGETS) == "Service level breached: delivery over 5 days"
    assert service_levels.breach_text("processing",
                                      ServiceLevelTargets(processing_seconds=1800)) == "Service level breached: processing over 30 min"
    for stage in service_levels.STAGES:
        assert service_levels.breached_stage(service_levels.breach_text(stage, TARGETS)) == stage
    assert service_levels.breached_stage("Approved by manager") is None
    assert service_levels.breached_stage("Service level breached: nonsense over 1 h") is None
