"""Who may reach what: login everywhere but the public pages, object-level
permissions for every action, CSRF on every POST, escaped hostile text."""
from __future__ import annotations

import re

import pytest
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver

from orders.models import Customer
from temporal_bridge.order import messages as m
from temporal_bridge.order import states
from temporal_bridge.order.records import TimelineEntry

pytestmark = pytest.mark.django_db

# Reachable without logging in, on purpose. The API authenticates with its
# own keys (401 without one), which test_api checks.
PUBLIC = {"/login/", "/healthz", "/readyz"}
# Called by the Temporal UI's JavaScript: a JSON 403 rather than the login page (tests/temporal_bridge/client/test_codec_server.py).
CODEC_ENDPOINTS = {"/temporal-codec/decode", "/temporal-codec/encode"}
# Called by the payment provider and the carrier: authenticated by their signature, not a login
# (tests/orders/webhooks/test_webhooks.py); unsigned, they are refused outright.
WEBHOOKS = "/webhooks/"
# The e-mail decision links: authenticated by their signed single-use token, not a login
# (tests/approvals/decision_links/); a made-up one is a 404 page that changes nothing.
DECISION_LINKS = "/approvals/mail/"


def all_routes() -> list[str]:
    """Every URL the project serves, with 1 for each path parameter."""
    routes: list[str] = []

    def walk(patterns, prefix: str) -> None:
        for pattern in patterns:
            route = prefix + str(pattern.pattern)
            if isinstance(pattern, URLResolver):
                walk(pattern.url_patterns, route)
            elif isinstance(pattern, URLPattern):
                routes.append(route)

    walk(get_resolver().url_patterns, "")
    concrete = []
    for route in routes:
        if route.startswith("^") or "(?P" in route or route.startswith("admin/"):
            continue  # the admin has its own login, checked below
        concrete.append("/" + re.sub(r"<(?:\w+:)?\w+>", "1", route))
    return sorted(set(concrete))


def test_every_page_but_the_public_ones_needs_a_login(client, fake_temporal, make_order):
    make_order()
    routes = [r for r in all_routes() if not r.startswith("/api/")]
    assert "/orders/1/approve/" in routes and "/approvals/" in routes
    for route in routes:
        if route in CODEC_ENDPOINTS:
            assert client.post(route, "{}", content_type="application/json").status_code == 403, route
            continue
        if route.startswith(WEBHOOKS):
            for provider in ("payments", "carrier", "1"):
                assert client.post(f"{WEBHOOKS}{provider}/", "{}", content_type="application/json").status_code in (401, 404)
            continue
        if route.startswith(DECISION_LINKS):
            assert client.get(route).status_code == 404 and client.post(route, {}).status_code == 404, route
            continue
        response = client.get(route)
        if route in PUBLIC or route == "/":
            continue
        assert response.status_code == 302 and response["Location"].startswith("/login/"), (
            f"{route} answered {response.status_code} without login"
        )
        response = client.post(route, {})
        assert response.status_code in (302, 403), f"POST {route} answered {response.status_code} without login"


def test_the_admin_needs_a_staff_login(client, clerk):
    assert "login/" in client.get("/admin/orders/order/")["Location"]
    client.force_login(clerk)  # logged in, not staff
    assert client.get("/admin/orders/order/")["Location"].startswith("/admin/login/")


ACTIONS = {
    "approve": {"request_id": "req-000000000001"},
    "reject": {"reject-reason": "Not needed", "reject-request_id": "req-000000000002"},
    "cancel": {"cancel-reason": "Not needed", "cancel-request_id": "req-000000000003"},
    "update": {"priority": "high", "shipping_address": "2 Road", "note": "", "request_id": "req-000000000004"},
}
# role -> the actions it may take on someone else's pending order
ALLOWED = {
    "outsider": set(),
    "clerk": {"update"},
    "manager": {"approve", "reject", "cancel", "update"},
}


@pytest.mark.parametrize("role", sorted(ALLOWED))
@pytest.mark.parametrize("action", sorted(ACTIONS))
def test_each_role_reaches_exactly_its_own_actions(client, fake_temporal, make_order, clerk, manager, outsider, manager2, role, action):
    """Changing the id in the URL reaches no action the role does not hold."""
    user = {"outsider": outsider, "clerk": clerk, "manager": manager}[role]
    order = make_order(created_by=manager2)  # nobody in the matrix created it
    client.force_login(user)
    response = client.post(f"/orders/{order.pk}/{action}/", ACTIONS[action], HTTP_HX_REQUEST="true")
    if action in ALLOWED[role]:
        assert response.status_code == 200
        assert [s.name for s in fake_temporal.signals] == [action]
    else:
        assert response.status_code == 403
        assert fake_temporal.signals == []


def test_nobody_decides_on_an_order_they_created(client, fake_temporal, make_order, manager):
    order = make_order(created_by=manager)
    client.force_login(manager)
    for action in ("approve", "reject"):
        assert client.post(f"/orders/{order.pk}/{action}/", ACTIONS[action], HTTP_HX_REQUEST="true").status_code == 403
    assert fake_temporal.signals == []


def test_every_post_needs_a_csrf_token(fake_temporal, make_order, clerk, manager):
    order = make_order(created_by=clerk)
    posts = [f"/orders/{order.pk}/{action}/" for action in ACTIONS] + ["/orders/new/", "/logout/"]
    browser = Client(enforce_csrf_checks=True)
    browser.force_login(manager)
    for route in posts:
        response = browser.post(route, ACTIONS.get(route.rstrip("/").rsplit("/", 1)[-1], {}))
        assert response.status_code == 403, f"POST {route} without a CSRF token answered {response.status_code}"
    assert fake_temporal.signals == []


SCRIPT = '<script>alert("pwned")</script>'


def test_hostile_customer_names_and_notes_are_rendered_escaped(client, fake_temporal, make_order, manager, customer):
    Customer.objects.filter(pk=customer.pk).update(name=f"Evil {SCRIPT} Corp")
    order = make_order(note=f"Deliver {SCRIPT}", shipping_address='"><img src=x onerror=alert(1)>')
    client.force_login(manager)
    pages = [
        client.get("/orders/"),
        client.get(f"/orders/{order.pk}/"),
        client.get(f"/orders/{order.pk}/panel/", HTTP_HX_REQUEST="true"),
        client.get("/approvals/"),
        client.get(f"/admin/orders/order/{order.pk}/change/"),
        client.get("/admin/orders/order/"),
    ]
    for page in pages:
        body = page.content.decode()
        assert page.status_code == 200
        assert SCRIPT not in body
        assert "<img src=x" not in body
    assert "&lt;script&gt;" in pages[1].content.decode()


def test_workflow_text_in_the_timeline_is_escaped_too(client, fake_temporal, make_order, manager):
    order = make_order()
    fake_temporal.snapshot = m.OrderSnapshot(
        order_id=order.pk, number=order.number, state=states.PENDING_APPROVAL, step="x", progress=0, requires_approval=True,
        approval_deadline=None, priority="normal", shipping_address="1 Main", note="",
        timeline=[TimelineEntry("2026-01-01T00:00:00", "note", f"Cancel requested by {SCRIPT}", SCRIPT)],
    )
    client.force_login(manager)
    body = client.get(f"/orders/{order.pk}/panel/", HTTP_HX_REQUEST="true").content.decode()
    assert SCRIPT not in body and "&lt;script&gt;" in body
