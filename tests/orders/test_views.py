"""Order pages and actions, with real users, real permissions and a fake Temporal."""
from __future__ import annotations

import json
from decimal import Decimal

import pytest
from django.test import Client
from django.urls import reverse

from orders.models import Order, OrderEvent, OrderLine
from temporal_bridge import messages as m
from temporal_bridge import states

pytestmark = pytest.mark.django_db

HTMX = {"HX-Request": "true"}
REQUEST_ID = "req-0123456789abcdef"


def url(name: str, order: Order | int) -> str:
    return reverse(f"orders:{name}", args=[order.pk if isinstance(order, Order) else order])


def logged_in(client: Client, user) -> Client:
    client.force_login(user)
    return client


# --- Login and health ----------------------------------------------------------------


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


# --- List ----------------------------------------------------------------------------


def test_list_filters_by_status(client, clerk, fake_temporal, make_order):
    pending = make_order()
    fulfilled = make_order(status=states.FULFILLED)
    response = logged_in(client, clerk).get("/orders/", {"status": states.FULFILLED})
    assert response.status_code == 200
    numbers = [o.number for o in response.context["page"].orders]
    assert numbers == [fulfilled.number]
    assert pending.number not in response.content.decode()


def test_list_rejects_an_unknown_status_with_400(client, clerk, fake_temporal):
    response = logged_in(client, clerk).get("/orders/", {"status": "bogus"})
    assert response.status_code == 400
    assert "Invalid filter" in response.content.decode()


def test_list_searches_by_number_and_by_customer_name(client, clerk, fake_temporal, make_order):
    from orders.models import Customer

    globex = Customer.objects.create(name="Globex Inc", email="x@globex.example")
    acme_order = make_order()
    globex_order = make_order(customer=globex)
    logged_in(client, clerk)

    by_number = client.get("/orders/", {"q": acme_order.number})
    assert [o.pk for o in by_number.context["page"].orders] == [acme_order.pk]

    by_customer = client.get("/orders/", {"q": "globex"})
    assert [o.pk for o in by_customer.context["page"].orders] == [globex_order.pk]


def test_list_pages_by_keyset_with_older_and_newer_links(client, clerk, fake_temporal, make_order):
    orders = [make_order() for _ in range(30)]
    newest_first = [o.pk for o in reversed(orders)]
    logged_in(client, clerk)

    first = client.get("/orders/")
    page = first.context["page"]
    assert [o.pk for o in page.orders] == newest_first[:25]
    assert page.newer_cursor is None
    html = first.content.decode()
    assert f'href="?before={newest_first[24]}"' in html
    assert "Newer" not in html

    second = client.get("/orders/", {"before": page.older_cursor})
    page2 = second.context["page"]
    assert [o.pk for o in page2.orders] == newest_first[25:]
    assert page2.older_cursor is None
    html2 = second.content.decode()
    assert f'href="?after={newest_first[25]}"' in html2
    assert "Older" not in html2

    back = client.get("/orders/", {"after": page2.newer_cursor})
    assert [o.pk for o in back.context["page"].orders] == newest_first[:25]
    assert back.context["page"].older_cursor == newest_first[24]


def test_list_pagination_links_keep_the_filter(client, clerk, fake_temporal, make_order):
    for _ in range(27):
        make_order(status=states.APPROVED)
    make_order()  # a pending one, filtered out
    response = logged_in(client, clerk).get("/orders/", {"status": states.APPROVED})
    page = response.context["page"]
    assert len(page.orders) == 25
    assert f"?status=approved&amp;before={page.older_cursor}" in response.content.decode()


def test_list_htmx_filter_answers_only_the_rows_fragment(client, clerk, fake_temporal, make_order):
    make_order()
    response = logged_in(client, clerk).get("/orders/", headers={**HTMX, "HX-Target": "order-rows"})
    html = response.content.decode()
    assert response.status_code == 200
    assert html.lstrip().startswith('<div id="order-rows">')
    assert "<html" not in html


def test_list_page_never_calls_temporal(client, clerk, fake_temporal, make_order):
    for status in (states.PENDING_APPROVAL, states.FULFILLING, states.FULFILLED):
        make_order(status=status)
    response = logged_in(client, clerk).get("/orders/")
    assert response.status_code == 200
    assert fake_temporal.calls == 0


def test_outsider_cannot_see_the_list(client, outsider, fake_temporal):
    assert logged_in(client, outsider).get("/orders/").status_code == 403


# --- New order -------------------------------------------------------------------------


def order_form_data(customer, lines, *, shipping_address="1 Main Street\nSpringfield", **extra) -> dict:
    data = {
        "customer": customer.pk if customer is not None else "",
        "priority": "normal",
        "shipping_address": shipping_address,
        "note": "",
        "lines-TOTAL_FORMS": "4",
        "lines-INITIAL_FORMS": "0",
        "lines-MIN_NUM_FORMS": "0",
        "lines-MAX_NUM_FORMS": "50",
    }
    for i, (product_id, quantity) in enumerate(lines):
        data[f"lines-{i}-product"] = product_id
        data[f"lines-{i}-quantity"] = quantity
    data.update(extra)
    return data


def test_clerk_sees_the_new_order_form(client, clerk, fake_temporal, customer, widget):
    response = logged_in(client, clerk).get("/orders/new/")
    assert response.status_code == 200
    assert 'name="lines-TOTAL_FORMS"' in response.content.decode()


def test_clerk_submits_an_order_and_the_workflow_starts_after_commit(
    client, clerk, fake_temporal, customer, widget, server, django_capture_on_commit_callbacks,
):
    logged_in(client, clerk)
    data = order_form_data(customer, [(widget.pk, 3), (server.pk, 1)], priority="high", note="Leave at the back")
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        response = client.post("/orders/new/", data)
        # Not yet: the workflow must not start before the order row is committed.
        assert fake_temporal.starts == []

    order = Order.objects.get()
    assert response.status_code == 302
    assert response["Location"] == url("detail", order)
    assert order.number == f"OD-{order.pk:06d}"
    assert order.total == Decimal("1030.00")
    assert order.created_by == clerk
    assert order.priority == "high"
    assert order.status == states.PENDING_APPROVAL
    assert sorted((line.product.sku, line.quantity, line.unit_price) for line in order.lines.all()) == [
        ("SRV-1", 1, Decimal("1000.00")), ("WID-1", 3, Decimal("10.00")),
    ]
    assert OrderEvent.objects.filter(order=order, kind=OrderEvent.Kind.SUBMITTED).count() == 1

    assert len(callbacks) == 1
    assert len(fake_temporal.starts) == 1
    started = fake_temporal.starts[0]
    assert (started.order_id, started.order_number, started.total, started.requested_by) == (order.pk, order.number, "1030.00", "clerk")
    assert started.requires_approval is True
    order.refresh_from_db()
    assert order.workflow_started_at is not None


def test_repeated_product_lines_are_merged_into_one(client, clerk, fake_temporal, customer, widget, django_capture_on_commit_callbacks):
    logged_in(client, clerk)
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post("/orders/new/", order_form_data(customer, [(widget.pk, 2), (widget.pk, 5)]))
    assert response.status_code == 302
    line = OrderLine.objects.get()
    assert line.quantity == 7
    assert Order.objects.get().total == Decimal("70.00")


def test_order_whose_workflow_start_fails_is_kept_for_reconcile(
    client, clerk, fake_temporal, customer, widget, django_capture_on_commit_callbacks,
):
    fake_temporal.unavailable = True
    logged_in(client, clerk)
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post("/orders/new/", order_form_data(customer, [(widget.pk, 1)]))
    assert response.status_code == 302
    order = Order.objects.get()
    assert order.workflow_started_at is None


@pytest.mark.parametrize(
    "case, make_data, message",
    [
        ("no lines", lambda c, w: order_form_data(c, []), "Add at least one line with a product and a quantity."),
        ("quantity 0", lambda c, w: order_form_data(c, [(w.pk, 0)]), "Ensure this value is greater than or equal to 1."),
        ("product without quantity", lambda c, w: order_form_data(c, [(w.pk, "")]), "Enter a quantity for this product."),
        ("unknown product", lambda c, w: order_form_data(c, [(999_999, 2)]), "Select a valid choice."),
        ("missing address", lambda c, w: order_form_data(c, [(w.pk, 2)], shipping_address=""), "This field is required."),
        ("blank address", lambda c, w: order_form_data(c, [(w.pk, 2)], shipping_address="   "), "This field is required."),
        ("no customer", lambda c, w: order_form_data(None, [(w.pk, 2)]), "This field is required."),
    ],
)
def test_invalid_order_is_refused_with_400_and_writes_nothing(
    client, clerk, fake_temporal, customer, widget, case, make_data, message, django_capture_on_commit_callbacks,
):
    logged_in(client, clerk)
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post("/orders/new/", make_data(customer, widget))
    assert response.status_code == 400, case
    assert message in response.content.decode()
    assert Order.objects.count() == 0
    assert OrderLine.objects.count() == 0
    assert fake_temporal.starts == []


def test_inactive_product_is_not_offered_nor_accepted(client, clerk, fake_temporal, customer, widget):
    widget.active = False
    widget.save()
    logged_in(client, clerk)
    response = client.post("/orders/new/", order_form_data(customer, [(widget.pk, 1)]))
    assert response.status_code == 400
    assert Order.objects.count() == 0


def test_manager_cannot_create_orders(client, manager, fake_temporal, customer, widget):
    logged_in(client, manager)
    assert client.get("/orders/new/").status_code == 403
    assert client.post("/orders/new/", order_form_data(customer, [(widget.pk, 1)])).status_code == 403
    assert Order.objects.count() == 0


# --- Actions: approve, reject, cancel, update -------------------------------------------------


def test_manager_approve_sends_the_signal_and_htmx_gets_the_panel(client, manager, fake_temporal, make_order):
    order = make_order()
    response = logged_in(client, manager).post(url("approve", order), {"request_id": REQUEST_ID, "comment": "Fine"}, headers=HTMX)
    assert response.status_code == 200
    assert 'id="live-panel"' in response.content.decode()
    assert "<html" not in response.content.decode()
    assert len(fake_temporal.signals) == 1
    sent = fake_temporal.signals[0]
    assert (sent.order_id, sent.name) == (order.pk, m.SIGNAL_APPROVE)
    assert sent.payload == m.DecisionSignal(actor="manager", request_id=REQUEST_ID, comment="Fine")


def test_approve_without_htmx_redirects_to_the_order_with_a_message(client, manager, fake_temporal, make_order):
    order = make_order()
    response = logged_in(client, manager).post(url("approve", order), {"request_id": REQUEST_ID}, follow=True)
    assert response.redirect_chain == [(url("detail", order), 302)]
    assert f"Approval of {order.number}: Accepted by the order&#x27;s workflow." in response.content.decode()
    assert len(fake_temporal.signals) == 1


def test_the_answer_to_a_decision_is_the_workflows_own_verdict(client, manager, fake_temporal, make_order):
    order = make_order()
    fake_temporal.verdicts[REQUEST_ID] = m.RequestVerdict(REQUEST_ID, m.VERDICT_REFUSED, "manager is not allowed to approve or reject orders")
    refused = logged_in(client, manager).post(url("approve", order), {"request_id": REQUEST_ID}, HTTP_HX_REQUEST="true")
    assert refused.status_code == 409
    assert "Refused by the order&#x27;s workflow: manager is not allowed to approve or reject orders" in refused.content.decode()

    fake_temporal.verdict = m.VERDICT_UNKNOWN  # no worker has processed it yet
    queued = client.post(url("approve", order), {"request_id": "b" * 32}, HTTP_HX_REQUEST="true")
    assert queued.status_code == 202
    assert "Queued: no worker has processed it yet; it will be applied, or refused with its reason, when workers return" in queued.content.decode()


def test_approve_without_request_id_gets_a_fresh_one(client, manager, fake_temporal, make_order):
    order = make_order()
    logged_in(client, manager).post(url("approve", order), {}, headers=HTMX)
    assert len(fake_temporal.signals) == 1
    assert len(fake_temporal.signals[0].payload.request_id) >= 8


def test_malformed_request_id_is_refused(client, manager, fake_temporal, make_order):
    order = make_order()
    response = logged_in(client, manager).post(url("approve", order), {"request_id": "<script>"}, headers=HTMX)
    assert response.status_code == 400
    assert fake_temporal.signals == []


def test_clerk_cannot_approve(client, clerk, fake_temporal, make_order):
    order = make_order()
    response = logged_in(client, clerk).post(url("approve", order), {"request_id": REQUEST_ID}, headers=HTMX)
    assert response.status_code == 403
    assert "You are not allowed to approve or reject orders." in response.content.decode()
    assert fake_temporal.signals == []


def test_manager_cannot_approve_an_order_he_created(client, manager, fake_temporal, make_order):
    order = make_order(created_by=manager)
    response = logged_in(client, manager).post(url("approve", order), {"request_id": REQUEST_ID}, headers=HTMX)
    assert response.status_code == 403
    assert "You cannot decide on an order you created." in response.content.decode()
    assert fake_temporal.signals == []


def test_manager_cannot_reject_an_order_he_created(client, manager, fake_temporal, make_order):
    order = make_order(created_by=manager)
    response = logged_in(client, manager).post(url("reject", order), {"reject-reason": "no", "request_id": REQUEST_ID})
    assert response.status_code == 403
    assert fake_temporal.signals == []


def test_manager_reject_with_reason_sends_the_reason(client, manager, fake_temporal, make_order):
    order = make_order()
    response = logged_in(client, manager).post(
        url("reject", order), {"reject-reason": "  Too expensive  ", "reject-request_id": REQUEST_ID}, headers=HTMX,
    )
    assert response.status_code == 200
    [sent] = fake_temporal.signals
    assert sent.name == m.SIGNAL_REJECT
    assert sent.payload == m.DecisionSignal(actor="manager", request_id=REQUEST_ID, comment="Too expensive")


@pytest.mark.parametrize("action, field", [("reject", "reject-reason"), ("cancel", "cancel-reason")])
@pytest.mark.parametrize("reason", [None, "", "   "])
def test_reject_and_cancel_need_a_reason(client, manager, fake_temporal, make_order, action, field, reason):
    order = make_order()
    data = {"request_id": REQUEST_ID} if reason is None else {field: reason, "request_id": REQUEST_ID}
    response = logged_in(client, manager).post(url(action, order), data, headers=HTMX)
    assert response.status_code == 400
    assert "A reason is required" in response.content.decode()
    assert fake_temporal.signals == []


def test_reject_without_reason_without_htmx_renders_the_page_with_400(client, manager, fake_temporal, make_order):
    order = make_order()
    response = logged_in(client, manager).post(url("reject", order), {})
    assert response.status_code == 400
    html = response.content.decode()
    assert "A reason is required" in html
    assert "<html" in html
    assert fake_temporal.signals == []


def test_manager_cancel_sends_the_signal_with_reason_and_actor(client, manager, fake_temporal, make_order):
    order = make_order(status=states.FULFILLING)
    response = logged_in(client, manager).post(
        url("cancel", order), {"cancel-reason": "Customer called", "cancel-request_id": REQUEST_ID}, headers=HTMX,
    )
    assert response.status_code == 200
    [sent] = fake_temporal.signals
    assert sent.name == m.SIGNAL_CANCEL
    assert sent.payload == m.CancelSignal(actor="manager", request_id=REQUEST_ID, reason="Customer called")


def test_cancel_of_a_fulfilled_order_is_a_conflict(client, manager, fake_temporal, make_order):
    order = make_order(status=states.FULFILLED)
    response = logged_in(client, manager).post(url("cancel", order), {"cancel-reason": "Too late"}, headers=HTMX)
    assert response.status_code == 409
    assert "can no longer be cancelled" in response.content.decode()
    assert fake_temporal.signals == []


def test_approve_of_an_order_no_longer_pending_is_a_conflict(client, manager, fake_temporal, make_order):
    order = make_order(status=states.PROCESSING)
    response = logged_in(client, manager).post(url("approve", order), {"request_id": REQUEST_ID}, headers=HTMX)
    assert response.status_code == 409
    assert "no longer awaiting approval" in response.content.decode()
    assert fake_temporal.signals == []


def test_clerk_cannot_cancel(client, clerk, fake_temporal, make_order):
    order = make_order()
    response = logged_in(client, clerk).post(url("cancel", order), {"cancel-reason": "Oops"}, headers=HTMX)
    assert response.status_code == 403
    assert fake_temporal.signals == []


@pytest.mark.parametrize("action", ["approve", "reject", "cancel", "update"])
def test_outsider_can_take_no_action(client, outsider, fake_temporal, make_order, action):
    order = make_order()
    data = {"reject-reason": "x", "cancel-reason": "x", "priority": "high", "shipping_address": "Elsewhere"}
    response = logged_in(client, outsider).post(url(action, order), data, headers=HTMX)
    assert response.status_code == 403
    assert fake_temporal.signals == []


def test_clerk_update_sends_the_changes(client, clerk, fake_temporal, make_order):
    order = make_order()
    data = {"priority": "urgent", "shipping_address": " 2 New Road ", "note": "Ring twice", "request_id": REQUEST_ID}
    response = logged_in(client, clerk).post(url("update", order), data, headers=HTMX)
    assert response.status_code == 200
    [sent] = fake_temporal.signals
    assert sent.name == m.SIGNAL_UPDATE
    assert sent.payload == m.UpdateSignal(
        actor="clerk", request_id=REQUEST_ID, priority="urgent", shipping_address="2 New Road", note="Ring twice",
    )


def test_update_with_an_empty_address_is_refused(client, clerk, fake_temporal, make_order):
    order = make_order()
    response = logged_in(client, clerk).post(url("update", order), {"priority": "high", "shipping_address": ""}, headers=HTMX)
    assert response.status_code == 400
    assert fake_temporal.signals == []


def test_update_of_a_finished_order_is_a_conflict(client, clerk, fake_temporal, make_order):
    order = make_order(status=states.REJECTED)
    response = logged_in(client, clerk).post(url("update", order), {"priority": "high", "shipping_address": "x"}, headers=HTMX)
    assert response.status_code == 409
    assert fake_temporal.signals == []


@pytest.mark.parametrize("action", ["approve", "reject", "cancel", "update"])
def test_action_post_without_csrf_token_is_forbidden(manager, fake_temporal, make_order, action):
    order = make_order()
    client = Client(enforce_csrf_checks=True)
    client.force_login(manager)
    data = {"request_id": REQUEST_ID, "reject-reason": "x", "cancel-reason": "x", "priority": "high", "shipping_address": "x"}
    response = client.post(url(action, order), data, headers=HTMX)
    assert response.status_code == 403
    assert fake_temporal.signals == []


def test_action_post_with_the_csrf_header_htmx_sends_is_accepted(manager, fake_temporal, make_order):
    order = make_order()
    client = Client(enforce_csrf_checks=True)
    client.force_login(manager)
    page = client.get(url("detail", order))
    token = page.context["csrf_token"]
    response = client.post(url("approve", order), {"request_id": REQUEST_ID}, headers={**HTMX, "X-CSRFToken": str(token)})
    assert response.status_code == 200
    assert len(fake_temporal.signals) == 1


@pytest.mark.parametrize("action", ["approve", "reject", "cancel", "update"])
def test_get_on_an_action_url_is_not_allowed(client, manager, fake_temporal, make_order, action):
    order = make_order()
    response = logged_in(client, manager).get(url(action, order))
    assert response.status_code == 405
    assert fake_temporal.signals == []


@pytest.mark.parametrize("action", ["approve", "reject", "cancel", "update"])
def test_action_on_an_unknown_order_is_404(client, manager, fake_temporal, action):
    response = logged_in(client, manager).post(url(action, 999_999), {"reject-reason": "x", "cancel-reason": "x"})
    assert response.status_code == 404
    assert fake_temporal.signals == []


def test_signal_while_temporal_is_unavailable_is_503_with_a_clear_message(client, manager, fake_temporal, make_order):
    order = make_order()
    fake_temporal.unavailable = True
    response = logged_in(client, manager).post(url("approve", order), {"request_id": REQUEST_ID}, headers=HTMX)
    assert response.status_code == 503
    html = response.content.decode()
    assert "The workflow service is unavailable; nothing was changed." in html
    assert 'id="live-panel"' in html
    assert fake_temporal.signals == []


def test_signal_to_a_finished_workflow_is_a_conflict(client, manager, fake_temporal, make_order):
    order = make_order()
    fake_temporal.not_found = True
    response = logged_in(client, manager).post(url("approve", order), {"request_id": REQUEST_ID}, headers=HTMX)
    assert response.status_code == 409
    assert "is no longer running" in response.content.decode()


# --- Detail page and its live panel ------------------------------------------------------


def action_forms(html: str, order: Order) -> set[str]:
    return {name for name in ("approve", "reject", "cancel", "update") if f'action="{url(name, order)}"' in html}


def test_manager_sees_approve_reject_and_cancel_on_a_pending_order(client, manager, fake_temporal, make_order):
    order = make_order()
    response = logged_in(client, manager).get(url("detail", order))
    assert response.status_code == 200
    html = response.content.decode()
    assert {"approve", "reject", "cancel"} <= action_forms(html, order)
    assert ">Approve</button>" in html
    assert ">Reject</button>" in html
    assert ">Cancel order</button>" in html
    assert fake_temporal.queries == [order.pk]


def test_clerk_sees_no_approve_or_reject_buttons(client, clerk, fake_temporal, make_order):
    order = make_order()
    response = logged_in(client, clerk).get(url("detail", order))
    assert response.status_code == 200
    html = response.content.decode()
    assert action_forms(html, order) == {"update"}
    assert ">Approve</button>" not in html
    assert ">Reject</button>" not in html


def test_manager_sees_no_decision_buttons_on_his_own_order(client, manager, fake_temporal, make_order):
    order = make_order(created_by=manager)
    html = logged_in(client, manager).get(url("detail", order)).content.decode()
    assert action_forms(html, order) == {"cancel", "update"}


def test_buttons_follow_the_actions_the_workflow_allows(client, manager, fake_temporal, make_order):
    order = make_order()
    snapshot = _snapshot(order, state=states.PROCESSING, allowed_actions=[m.ACTION_CANCEL])
    fake_temporal.snapshot = snapshot
    html = logged_in(client, manager).get(url("detail", order)).content.decode()
    assert action_forms(html, order) == {"cancel"}


def test_outsider_cannot_see_an_order(client, outsider, fake_temporal, make_order):
    order = make_order()
    assert logged_in(client, outsider).get(url("detail", order)).status_code == 403
    assert fake_temporal.queries == []


def test_unknown_order_detail_is_404(client, clerk, fake_temporal):
    assert logged_in(client, clerk).get(url("detail", 999_999)).status_code == 404


def test_panel_polls_while_the_order_is_in_flight(client, clerk, fake_temporal, make_order):
    order = make_order(status=states.FULFILLING)
    response = logged_in(client, clerk).get(url("panel", order), headers=HTMX)
    html = response.content.decode()
    assert response.status_code == 200
    assert 'id="live-panel"' in html
    assert "hx-trigger=" in html
    assert "every 1500ms" in html
    assert f'hx-get="{url("panel", order)}"' in html


def test_panel_stops_polling_at_a_terminal_state(client, clerk, fake_temporal, make_order):
    order = make_order(status=states.FULFILLED, tracking_number="1Z0001")
    response = logged_in(client, clerk).get(url("detail", order))
    html = response.content.decode()
    assert 'id="live-panel"' in html
    assert "hx-trigger=" not in html
    # A finished order is read from the mirror, never from a closed workflow.
    assert fake_temporal.queries == []


def test_panel_stops_polling_once_the_workflow_reports_a_terminal_state(client, clerk, fake_temporal, make_order):
    order = make_order(status=states.FULFILLING)  # the mirror lags behind the workflow
    fake_temporal.snapshot = _snapshot(order, state=states.FULFILLED, progress=100, tracking_number="1Z0002")
    html = logged_in(client, clerk).get(url("panel", order), headers=HTMX).content.decode()
    assert 'data-state="fulfilled"' in html
    assert "hx-trigger=" not in html
    assert "1Z0002" in html


def test_panel_without_htmx_redirects_to_the_detail_page(client, clerk, fake_temporal, make_order):
    order = make_order()
    response = logged_in(client, clerk).get(url("panel", order))
    assert response.status_code == 302
    assert response["Location"] == url("detail", order)


def test_detail_falls_back_to_the_mirror_when_no_worker_answers(client, manager, fake_temporal, make_order):
    order = make_order()
    OrderEvent.objects.create(order=order, kind=OrderEvent.Kind.SUBMITTED, message="Order submitted", idempotency_key="k1")
    fake_temporal.unavailable = True
    response = logged_in(client, manager).get(url("detail", order))
    assert response.status_code == 200
    html = response.content.decode()
    assert "Live state unavailable" in html
    assert 'data-source="mirror"' in html
    assert "Order submitted" in html
    # It keeps polling, slower, so the panel comes back when a worker does.
    assert "every 5s" in html
    # The mirror still offers the actions the state allows.
    assert {"approve", "reject", "cancel"} <= action_forms(html, order)


def test_detail_of_an_order_whose_workflow_has_not_started_says_so(client, clerk, fake_temporal, make_order):
    order = make_order(started=False)
    html = logged_in(client, clerk).get(url("detail", order)).content.decode()
    assert "has not started yet" in html
    assert fake_temporal.queries == []


def _snapshot(order: Order, **changes) -> m.OrderSnapshot:
    from dataclasses import replace

    from orders.mirror import mirror_snapshot

    return replace(mirror_snapshot(order), **changes)


def test_each_action_form_carries_its_own_request_id(client, manager, fake_temporal, make_order):
    """The workflow ignores a repeated request id whatever the signal, so an
    approve and a cancel rendered together must never share one."""
    import re

    order = make_order()
    body = logged_in(client, manager).get(url("detail", order)).content.decode()
    ids = re.findall(r'name="(?:\w+-)?request_id" value="([^"]+)"', body)
    assert len(ids) == 4 and len(set(ids)) == 4


def test_acting_on_an_order_whose_workflow_has_not_started_says_so(client, manager, fake_temporal, make_order):
    order = make_order(started=False)
    response = logged_in(client, manager).post(url("approve", order), {"request_id": "abcdef123456"}, HTTP_HX_REQUEST="true")
    assert response.status_code == 503
    assert b"has not started" in response.content
    assert fake_temporal.signals == []


def test_panel_shows_workflow_times_as_readable_dates_in_the_site_time_zone(client, manager, fake_temporal, make_order, settings):
    """Found by looking at the page: the deadline read '2026-11-2303:01 UTC'."""
    settings.TIME_ZONE = "Europe/Paris"
    order = make_order()
    fake_temporal.snapshot = m.OrderSnapshot(
        order_id=order.pk, number=order.number, state=states.PENDING_APPROVAL, step="Waiting", progress=0,
        requires_approval=True, approval_deadline="2026-11-24T03:01:52.123456+00:00", priority="normal",
        shipping_address="1 Main", note="",
        timeline=[m.TimelineEntry("2026-11-22T03:01:52.5+00:00", "submitted", "Order submitted", "clerk")],
    )
    body = logged_in(client, manager).get(url("panel", order), HTTP_HX_REQUEST="true").content.decode()
    assert "2026-11-24 04:01 CET" in body
    assert ">04:01:52</time>" in body
