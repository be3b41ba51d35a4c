"""Pause and resume fulfilment from the operations page; the hold the workflows
read before fulfilment and before charging; the orders a resume wakes."""
from __future__ import annotations

import pytest
from django.contrib.auth.models import Permission
from django.test import Client

from orders import roles
from orders.holds import services as holds
from orders.holds import waiting
from orders.holds.models import FulfilmentPause, HoldEvent
from orders.models import Order
from orders.timeline import mirror
from orders.timeline.models import OrderEvent
from temporal_bridge.order import holds as holds_messages
from temporal_bridge.order import records, states
from temporal_bridge.order.holds import HoldResult
from temporal_bridge.order.records import MirrorInput
from tests.conftest import make_user

pytestmark = pytest.mark.django_db


@pytest.fixture
def operator(db):
    """Staff with the permission to pause fulfilment (as senior managers have it)."""
    return make_user("olga", roles.SENIOR_MANAGERS, is_staff=True)


def held(order: Order, index: int, stage: str, by: str = "olga") -> None:
    text = holds_messages.held_text(stage, HoldResult(held=True, reason="warehouse outage", by=by))
    mirror.order_record_entries([MirrorInput(order.pk, records.timeline_key(index, "hold"), "hold", text)])


def released(order: Order, index: int, stage: str) -> None:
    mirror.order_record_entries([MirrorInput(order.pk, records.timeline_key(index, "hold_released"), "hold_released",
                                               holds_messages.released_text(stage, "olga"))])


# --- Pause and resume from the operations page ---------------------------------------------------


def test_staff_with_the_permission_pause_with_a_reason_and_every_page_says_so(client, operator, clerk, fake_temporal):
    client.force_login(operator)
    response = client.post("/ops/fulfilment/pause/", {"reason": "Warehouse outage"}, follow=True)
    assert response.status_code == 200
    assert "Fulfilment is paused: orders reaching fulfilment wait" in response.content.decode()
    pause = FulfilmentPause.objects.get()
    assert (pause.paused, pause.by, pause.reason) == (True, "olga", "Warehouse outage")
    assert HoldEvent.objects.filter(kind=HoldEvent.Kind.PAUSED, by="olga").count() == 1
    # A clerk's list page carries the banner too.
    client.force_login(clerk)
    html = client.get("/orders/").content.decode()
    assert 'id="hold-banner"' in html and "Fulfilment is paused" in html and "Warehouse outage" in html


def test_a_pause_needs_a_reason(client, operator, fake_temporal):
    client.force_login(operator)
    html = client.post("/ops/fulfilment/pause/", {"reason": "   "}, follow=True).content.decode()
    assert "Say why fulfilment is paused" in html
    html = client.post("/ops/fulfilment/pause/", {"reason": "x" * 301}, follow=True).content.decode()
    assert "at most 300 characters" in html
    assert not FulfilmentPause.objects.filter(paused=True).exists()
    assert 'id="hold-banner"' not in html


@pytest.mark.parametrize("who", ["clerk", "manager", "outsider"])
def test_people_without_the_permission_may_not_pause_or_resume(client, who, request, fake_temporal):
    client.force_login(request.getfixturevalue(who))
    assert client.post("/ops/fulfilment/pause/", {"reason": "no"}).status_code == 403
    holds.fulfilment_pause(by="olga", reason="outage")
    assert client.post("/ops/fulfilment/resume/").status_code == 403
    assert FulfilmentPause.objects.get().paused is True


def test_the_permission_without_staff_is_not_enough(client, fake_temporal):
    user = make_user("perm-only")
    user.user_permissions.add(Permission.objects.get(codename="pause_fulfilment"))
    client.force_login(user)
    assert client.post("/ops/fulfilment/pause/", {"reason": "outage"}).status_code == 403


def test_a_get_changes_nothing(client, operator, fake_temporal):
    client.force_login(operator)
    assert client.get("/ops/fulfilment/pause/").status_code == 405
    assert not FulfilmentPause.objects.exists()


def test_the_operations_page_offers_pause_then_resume_and_shows_the_history(client, operator, manager, fake_temporal):
    client.force_login(operator)
    html = client.get("/ops/").content.decode()
    assert 'data-fulfilment="running"' in html and "Pause fulfilment" in html
    holds.fulfilment_pause(by="olga", reason="warehouse outage")
    html = client.get("/ops/").content.decode()
    assert 'data-fulfilment="paused"' in html and "Resume fulfilment" in html
    assert "Fulfilment paused by olga: warehouse outage" in html
    # A manager (staff without the permission) sees the state, not the buttons.
    client.force_login(manager)
    html = client.get("/ops/").content.decode()
    assert 'data-fulfilment="paused"' in html and "Resume fulfilment" not in html


def test_resume_wakes_exactly_the_orders_waiting_on_fulfilment(client, operator, make_order, fake_temporal):
    waiting, waiting_too, let_go, on_payment, ended, never_held = (make_order(status=states.PROCESSING) for _ in range(6))
    holds.fulfilment_pause(by="olga", reason="warehouse outage")
    held(waiting, 5, "fulfilment")
    held(waiting_too, 5, "fulfilment")
    held(let_go, 5, "fulfilment")
    released(let_go, 6, "fulfilment")
    held(on_payment, 4, "payment")
    held(ended, 5, "fulfilment")
    mirror.order_record_entries([MirrorInput(ended.pk, records.timeline_key(6, "status"), "status", "Cancelled", status=states.CANCELLED)])
    assert set(Order.objects.exclude(hold_stage="").values_list("pk", "hold_stage")) == {
        (waiting.pk, "fulfilment"), (waiting_too.pk, "fulfilment"), (on_payment.pk, "payment")}

    client.force_login(operator)
    html = client.post("/ops/fulfilment/resume/", follow=True).content.decode()
    assert "Fulfilment resumed: 2 waiting orders told." in html
    assert sorted(s.order_id for s in fake_temporal.signals) == sorted([waiting.pk, waiting_too.pk])
    assert {(s.name, s.payload.by) for s in fake_temporal.signals} == {(holds_messages.SIGNAL_HOLDS_LIFTED, "olga")}
    assert FulfilmentPause.objects.get().paused is False
    assert 'id="hold-banner"' not in html
    assert never_held.hold_stage == ""


def test_a_resume_while_temporal_is_down_still_resumes_and_says_the_orders_will_recheck(client, operator, make_order, fake_temporal):
    order = make_order(status=states.PROCESSING)
    holds.fulfilment_pause(by="olga", reason="outage")
    held(order, 5, "fulfilment")
    fake_temporal.unavailable = True
    client.force_login(operator)
    html = client.post("/ops/fulfilment/resume/", follow=True).content.decode()
    assert "0 waiting orders told; 1 could not be told now and continue at their next check" in html
    assert FulfilmentPause.objects.get().paused is False
    # The order reads the hold again at its recheck: not held any more.
    assert holds.hold_read(order.pk, holds_messages.STAGE_FULFILMENT).held is False


def test_a_second_pause_or_resume_changes_nothing():
    assert holds.fulfilment_resume(by="olga").resumed is False
    assert holds.fulfilment_pause(by="olga", reason="outage") is True
    assert holds.fulfilment_pause(by="bob", reason="another") is False
    assert FulfilmentPause.objects.get().by == "olga"
    assert holds.fulfilment_resume(by="bob").resumed is True
    assert holds.fulfilment_resume(by="bob").resumed is False
    assert list(HoldEvent.objects.values_list("kind", flat=True)) == [HoldEvent.Kind.RESUMED, HoldEvent.Kind.PAUSED]


# --- What the workflow reads -------------------------------------------------------------------


def test_hold_read_before_fulfilment_follows_the_pause(settings, make_order):
    settings.ORDER_DESK_HOLD_RECHECK_SECONDS = 120
    order = make_order(status=states.PROCESSING)
    assert holds.hold_read(order.pk, holds_messages.STAGE_FULFILMENT) == HoldResult(held=False, recheck_seconds=120)
    holds.fulfilment_pause(by="olga", reason="warehouse outage")
    answer = holds.hold_read(order.pk, holds_messages.STAGE_FULFILMENT)
    assert (answer.held, answer.by, answer.reason, answer.recheck_seconds) == (True, "olga", "warehouse outage", 120)
    assert answer.since == FulfilmentPause.objects.get().since.isoformat()
    # Charging is not held by a fulfilment pause.
    assert holds.hold_read(order.pk, holds_messages.STAGE_PAYMENT).held is False
    holds.fulfilment_resume(by="bob")
    assert holds.hold_read(order.pk, holds_messages.STAGE_FULFILMENT).held is False


def test_hold_entries_read_back_their_stage():
    result = HoldResult(held=True, reason="warehouse outage", by="alice")
    assert holds_messages.held_text("fulfilment", result) == "Held: fulfilment paused by alice: warehouse outage"
    assert holds_messages.released_text("fulfilment", "bob") == "Released: fulfilment resumed by bob"
    assert holds_messages.hold_stage(holds_messages.held_text("payment", result)) == "payment"
    assert holds_messages.hold_stage("Released: fulfilment resumed") == "fulfilment"
    assert holds_messages.hold_stage("Approved by manager") is None


def test_an_order_held_before_payment_is_woken_by_the_breaker_not_by_a_resume(make_order, fake_temporal):
    on_payment, on_fulfilment = make_order(status=states.PROCESSING), make_order(status=states.PROCESSING)
    breaker_open = HoldResult(held=True, reason="provider failing")
    paused = HoldResult(held=True, reason="outage", by="olga")
    for order, stage, hold in ((on_payment, "payment", breaker_open), (on_fulfilment, "fulfilment", paused)):
        mirror.order_record_entries([MirrorInput(order.pk, records.timeline_key(5, "hold"), "hold", holds_messages.held_text(stage, hold))])
    holds.fulfilment_pause(by="olga", reason="outage")
    holds.fulfilment_resume(by="olga")
    assert [s.order_id for s in fake_temporal.signals] == [on_fulfilment.pk]
    assert waiting.holds_lifted_signal(by="circuit breaker", stages=[holds_messages.STAGE_PAYMENT]) == (1, 0)
    assert fake_temporal.signals[-1].order_id == on_payment.pk


def test_a_hold_entry_in_other_words_still_marks_the_order_as_waiting(make_order):
    order = make_order(status=states.PROCESSING)
    mirror.order_record_entries([MirrorInput(order.pk, records.timeline_key(5, "hold"), OrderEvent.Kind.HOLD, "Waiting: warehouse closed")])
    order.refresh_from_db()
    assert order.hold_stage == holds_messages.STAGE_UNKNOWN
    assert order.pk in Order.objects.filter(hold_stage__in=holds.FULFILMENT_WAITERS).values_list("pk", flat=True)


def test_pause_and_resume_need_a_csrf_token(operator, fake_temporal):
    browser = Client(enforce_csrf_checks=True)
    browser.force_login(operator)
    assert browser.post("/ops/fulfilment/pause/", {"reason": "outage"}).status_code == 403
    holds.fulfilment_pause(by="olga", reason="outage")
    assert browser.post("/ops/fulfilment/resume/").status_code == 403
    assert FulfilmentPause.objects.get().paused is True
