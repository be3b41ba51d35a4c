"""Who reaches the order pages without logging in, and the health check."""
from __future__ import annotations

import json

import pytest

from tests.orders.pages import REQUEST_ID, url

pytestmark = pytest.mark.django_db


def test_anonymous_visitor_is_sent_to_login(client, fake_temporal):
    response = client.get("/orders/")
    assert response.status_code == 302
    assert response["Location"].startswith("/login/?next=/orders/")


def test_anonymous_action_post_is_sent_to_login_and_signals_nothing(client, fake_temporal, make_order):
    order = make_order()
    response = client.post(url("approve", order), {"request_id": REQUEST_ID})
    assert response.status_code == 302
    assert response["Location"].startswith("/login/")
    assert fake_temporal.signals == []


def test_healthz_answers_without_login_and_reports_pollers(client, fake_temporal):
    response = client.get("/healthz")
    assert response.status_code == 200
    body = json.loads(response.content)
    assert body["status"] == "ok"
    assert body["database"] == "ok"
    assert body["temporal"] == "ok"
    assert body["workers"] == {"workflow_pollers": 1, "activity_pollers": 1}


def test_healthz_stays_200_when_temporal_is_down(client, fake_temporal):
    fake_temporal.unavailable = True
    response = client.get("/healthz")
    assert response.status_code == 200
    body = json.loads(response.content)
    assert body["temporal"].startswith("unavailable")
    assert body["workers"] is None
