"""The new-order form: customer search over 10,000 customers, a preview of lines, stock, total and
approval rule that comes from the code submission uses (orders.services.order_quote), and submitting it."""
from __future__ import annotations

import re
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from approvals.models import ApprovalPolicy
from orders import services
from orders.models import Customer, Order, OrderLine, Product, WarehouseStock
from orders.timeline.models import OrderEvent
from temporal_bridge.order import states
from tests.orders.pages import logged_in, order_form_data, url

pytestmark = pytest.mark.django_db

HTMX = {"HTTP_HX_REQUEST": "true"}
SEARCH = "/orders/new/customers/"
PREVIEW = "/orders/new/preview/"
# Per search request, however many customers: session, user, the user's own and group
# permissions (two), the search itself; one more to keep an already chosen customer.
SEARCH_QUERIES = 5


@pytest.fixture(scope="module")
def many_customers(django_db_setup, django_db_blocker):
    """10,000 customers, a few of them findable by a distinctive name or email.

    Made once for the module (about 2 s) and removed after it; each test's own
    writes still roll back with its transaction.
    """
    with django_db_blocker.unblock():
        made = Customer.objects.bulk_create(
            [Customer(name=f"Customer {n:05d} Trading", email=f"buyer{n:05d}@shop{n % 97}.example") for n in range(9_995)]
            + [
                Customer(name="Zephyr Logistics", email="orders@zephyr.example"),
                Customer(name="Blue Zephyr Cafe", email="cafe@bluezephyr.example"),
                Customer(name="Quartermaster Ltd", email="purchasing@qm.example"),
                Customer(name="Northwind Traders", email="ap@northwind.example"),
                Customer(name="Acme 100% Corp_", email="acme@acme.example"),
            ],
            batch_size=1000,
        )
        assert Customer.objects.count() == 10_000
    yield made
    with django_db_blocker.unblock():
        Customer.objects.filter(name__endswith=" Trading").delete()
        Customer.objects.filter(email__in=[c.email for c in made[-5:]]).delete()


def matches(response) -> list[str]:
    return re.findall(r'<span class="customer-name">([^<]*)</span>', response.content.decode())


def search(client, text, **extra):
    return client.get(SEARCH, {"customer_search": text, **extra}, **HTMX)


# --- Customer search --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text, expected",
    [
        ("zeph", ["Zephyr Logistics", "Blue Zephyr Cafe"]),  # name prefix first, then the name that contains it
        ("LOGIST", ["Zephyr Logistics"]),  # substring of the name, any case
        ("orders@zeph", ["Zephyr Logistics"]),  # email prefix
        ("northwind.example", ["Northwind Traders"]),  # email substring
        ("100%", ["Acme 100% Corp_"]),  # LIKE wildcards are taken literally
        ("corp_", ["Acme 100% Corp_"]),
        ("nobody-like-this", []),
    ],
)
def test_customer_search_finds_by_name_or_email_among_10000_in_a_bounded_number_of_queries(
    client, clerk, many_customers, django_assert_max_num_queries, text, expected,
):
    client.force_login(clerk)
    with django_assert_max_num_queries(SEARCH_QUERIES):
        response = search(client, text)
    assert response.status_code == 200
    assert matches(response) == expected
    if expected:
        first = Customer.objects.get(name=expected[0])
        assert f'<input type="radio" name="customer" value="{first.pk}">' in response.content.decode()
    else:
        assert "No customer matches" in response.content.decode()


def test_a_search_matching_thousands_shows_twenty_and_asks_for_more_letters(client, clerk, many_customers, django_assert_max_num_queries):
    client.force_login(clerk)
    with django_assert_max_num_queries(SEARCH_QUERIES):
        response = search(client, "trading")
    assert len(matches(response)) == 20
    assert matches(response)[:2] == ["Customer 00000 Trading", "Customer 00001 Trading"]
    assert "type more to narrow it down" in response.content.decode()


def test_the_search_itself_is_one_limited_query(clerk, client, many_customers):
    client.force_login(clerk)
    with CaptureQueriesContext(connection) as queries:
        search(client, "zeph")
    on_customers = [q["sql"] for q in queries.captured_queries if '"orders_customer"' in q["sql"]]
    assert len(on_customers) == 1
    assert re.search(r"LIMIT 21\b", on_customers[0])


def test_the_chosen_customer_stays_checked_while_the_clerk_searches_again(client, clerk, many_customers, django_assert_max_num_queries):
    client.force_login(clerk)
    chosen = Customer.objects.get(name="Quartermaster Ltd")
    with django_assert_max_num_queries(SEARCH_QUERIES + 1):
        response = search(client, "zeph", customer=chosen.pk)
    assert matches(response) == ["Quartermaster Ltd", "Zephyr Logistics", "Blue Zephyr Cafe"]
    assert f'<input type="radio" name="customer" value="{chosen.pk}" checked>' in response.content.decode()


@pytest.mark.parametrize("params", [{"customer_search": ""}, {"customer_search": "   "}, {}, {"customer_search": "zeph", "customer": "abc"},
                                    {"customer_search": "x", "customer": str(2**70)}, {"customer": "-1"}])
def test_empty_or_malformed_searches_answer_a_harmless_fragment(client, clerk, many_customers, params):
    client.force_login(clerk)
    response = client.get(SEARCH, params, **HTMX)
    assert response.status_code == 200
    assert 'checked' not in response.content.decode()


@pytest.mark.parametrize("text", ["x" * 101, "null\x00byte"])
def test_an_impossible_search_is_a_400_that_says_why(client, clerk, customer, text):
    client.force_login(clerk)
    response = client.get(SEARCH, {"customer_search": text}, **HTMX)
    assert response.status_code == 400
    assert matches(response) == []


def test_the_search_without_htmx_lands_on_the_form_with_the_matches(client, clerk, many_customers):
    client.force_login(clerk)
    response = client.get(SEARCH, {"customer_search": "zeph"}, follow=True)
    assert response.redirect_chain == [("/orders/new/?customer_search=zeph", 302)]
    assert matches(response) == ["Zephyr Logistics", "Blue Zephyr Cafe"]
    assert 'name="lines-TOTAL_FORMS"' in response.content.decode()


def test_the_form_never_lists_every_customer(client, clerk, many_customers, django_assert_max_num_queries):
    client.force_login(clerk)
    with django_assert_max_num_queries(15):
        response = client.get("/orders/new/")
    body = response.content.decode()
    assert response.status_code == 200
    assert 'select name="customer"' not in body and matches(response) == []
    assert 'hx-get="/orders/new/customers/"' in body and 'hx-trigger="input changed delay:250ms, search"' in body
    assert len(body) < 30_000


# --- Preview: lines, stock, total, approval rule ----------------------------------------------


def preview(client, customer, lines, **extra):
    return client.post(PREVIEW, order_form_data(customer, lines, **extra), **HTMX)


def test_a_small_order_previews_its_lines_total_and_automatic_approval(client, clerk, policies, customer, widget):
    client.force_login(clerk)
    body = preview(client, customer, [(widget.pk, 3)]).content.decode()
    assert "10.00 × 3" in body and "30.00" in body
    assert re.search(r'id="preview-total">30.00 USD<', body)
    assert "Approved automatically, no approval needed" in body
    assert "“Small orders”: approved automatically" in body
    assert ">100 <span" in body and "(MAIN 100)" in body  # available: 100 on hand, none reserved, all in MAIN


def test_a_large_order_previews_two_approvals_including_a_senior(client, clerk, policies, customer, widget, server):
    Product.objects.filter(pk=server.pk).update(stock_on_hand=20)
    client.force_login(clerk)
    body = preview(client, customer, [(server.pk, 12), (widget.pk, 5), (widget.pk, 5)]).content.decode()
    assert re.search(r'id="preview-total">12,100.00 USD<', body)
    assert "10.00 × 10" in body  # repeated products merged, as submission merges them
    assert "Needs 2 approvals from different managers, at least one senior" in body
    assert (
        "“Large orders”: 2 approvals from different people, at least one senior; "
        "reminder after 24 h, escalation after 36 h, expires after 48 h"
    ) in body


def test_the_preview_counts_reserved_units_and_warns_when_stock_is_short(client, clerk, policies, customer, server):
    Product.objects.filter(pk=server.pk).update(stock_on_hand=5, stock_reserved=3)
    WarehouseStock.objects.filter(product=server).update(on_hand=5, reserved=3)
    client.force_login(clerk)
    body = preview(client, customer, [(server.pk, 4)]).content.decode()
    assert 'class="stock-short"' in body and "no warehouse holds 4" in body and "(MAIN 2)" in body
    assert "Not enough stock in any one warehouse for SRV-1" in body
    assert "Needs a manager&#x27;s decision" in body  # 4,000: the standard policy


def test_a_customers_own_policy_shows_once_the_customer_is_chosen(client, clerk, policies, customer, widget):
    ApprovalPolicy.objects.create(name="Acme: always a senior", customer=customer, min_total=Decimal("0"), approvals_required=1,
                                  requires_senior=True, expire_after_hours=Decimal("48"))
    client.force_login(clerk)
    assert "Approved automatically" in preview(client, None, [(widget.pk, 1)]).content.decode()
    body = preview(client, customer, [(widget.pk, 1)]).content.decode()
    assert "Needs a senior approver&#x27;s decision" in body and "Acme: always a senior" in body


def test_the_preview_matches_what_submission_freezes(client, clerk, policies, customer, widget, server, fake_temporal):
    """One rule, not two: the total and rule previewed are the ones the submitted order carries."""
    client.force_login(clerk)
    lines = [(server.pk, 3), (widget.pk, 7)]
    body = preview(client, customer, lines).content.decode()
    client.post("/orders/new/", order_form_data(customer, lines))
    order = Order.objects.get()
    assert f'id="preview-total">{order.total:,.2f} USD<' in body
    assert order.approval_rule["policy_name"] == "Standard orders" and "“Standard orders”: 1 approval" in body


def test_the_preview_uses_order_quote(client, clerk, customer, widget, monkeypatch):
    calls = []
    real = services.order_quote
    monkeypatch.setattr(services, "order_quote", lambda **kwargs: calls.append(kwargs) or real(**kwargs))
    client.force_login(clerk)
    preview(client, customer, [(widget.pk, 2)])
    assert [c["customer"] for c in calls] == [customer] and [(line.product, line.quantity) for line in calls[0]["lines"]] == [(widget, 2)]


@pytest.mark.parametrize(
    "lines, shown",
    [
        ([], "choose a product and a quantity"),
        ([(None, 3)], "Line 1: Choose a product for this quantity."),
        (["widget", "abc"], "Line 1: Enter a whole number."),
        (["widget", 10_001], "Line 1: Ensure this value is less than or equal to 10000."),
        ([(999_999, 1)], "Line 1: Select a valid choice."),
        ([(str(2**70), 1)], "Line 1: Select a valid choice."),
    ],
)
def test_incomplete_or_bad_lines_preview_a_message_not_an_error(client, clerk, customer, widget, lines, shown):
    if lines and lines[0] == "widget":
        lines = [(widget.pk, lines[1])]
    lines = [(product if product is not None else "", quantity) for product, quantity in lines]
    client.force_login(clerk)
    response = preview(client, customer, lines)
    assert response.status_code == 200
    assert shown in response.content.decode()
    assert "preview-policy" not in response.content.decode()


def test_a_product_without_quantity_yet_does_not_hide_the_total_of_the_others(client, clerk, customer, widget, server):
    client.force_login(clerk)
    body = preview(client, customer, [(widget.pk, 2), (server.pk, "")]).content.decode()
    assert "Line 2: Enter a quantity for this product." in body
    assert re.search(r'id="preview-total">20.00 USD<', body)


def test_a_total_beyond_what_an_order_holds_is_previewed_as_the_submission_would_refuse_it(client, clerk, customer):
    dear = Product.objects.create(sku="YACHT", name="Yacht", price=Decimal("9999999999.99"), stock_on_hand=1)
    client.force_login(clerk)
    body = preview(client, customer, [(dear.pk, 2)]).content.decode()
    assert "exceeds the largest total an order can hold" in body and "preview-total" not in body.split("</ul>")[-1]


@pytest.mark.parametrize("broken", [{"lines-TOTAL_FORMS": ""}, {"lines-TOTAL_FORMS": "abc"}, {"lines-INITIAL_FORMS": "x"}])
def test_a_broken_management_form_is_a_400_fragment(client, clerk, customer, widget, broken):
    client.force_login(clerk)
    response = preview(client, customer, [(widget.pk, 1)], **broken)
    assert response.status_code == 400
    assert "reload the page" in response.content.decode()


def test_a_preview_writes_nothing(client, clerk, customer, widget, fake_temporal):
    client.force_login(clerk)
    preview(client, customer, [(widget.pk, 1)])
    assert Order.objects.count() == 0 and fake_temporal.starts == []


# --- Who may use it ------------------------------------------------------------------------------


@pytest.mark.parametrize("method, path", [("get", SEARCH), ("post", PREVIEW)])
def test_anonymous_users_are_sent_to_log_in(client, method, path):
    response = getattr(client, method)(path, **HTMX)
    assert response.status_code == 302 and response["Location"].startswith("/login/")


@pytest.mark.parametrize("method, path", [("get", SEARCH), ("post", PREVIEW)])
def test_users_who_cannot_create_orders_are_refused(client, manager, outsider, customer, method, path):
    for user in (manager, outsider):
        client.force_login(user)
        assert getattr(client, method)(path, {"customer_search": "acme"}, **HTMX).status_code == 403


def test_wrong_methods_are_refused(client, clerk):
    client.force_login(clerk)
    assert client.post(SEARCH, **HTMX).status_code == 405
    assert client.get(PREVIEW, **HTMX).status_code == 405


# --- The form without JavaScript, and submission ---------------------------------------------------


def test_search_button_re_renders_the_form_with_matches_keeping_what_was_typed(
    client, clerk, many_customers, widget, policies, fake_temporal,
):
    client.force_login(clerk)
    data = order_form_data(None, [(widget.pk, 4)], request_id="nojs-0123456789", customer_search="zephyr log", find_customer="1",
                           note="Ring twice")
    response = client.post("/orders/new/", data)
    body = response.content.decode()
    assert response.status_code == 200
    assert matches(response) == ["Zephyr Logistics"]
    assert "This field is required" not in body  # not validated yet
    assert "Ring twice" in body and 'value="nojs-0123456789"' in body and 'value="zephyr log"' in body
    assert re.search(r'id="preview-total">40.00 USD<', body) and "Approved automatically" in body
    assert Order.objects.count() == 0


def test_a_refused_form_keeps_the_chosen_customer_and_shows_the_preview(client, clerk, customer, widget, policies, fake_temporal):
    client.force_login(clerk)
    response = client.post("/orders/new/", order_form_data(customer, [(widget.pk, 60)], shipping_address=""))
    body = response.content.decode()
    assert response.status_code == 400
    assert f'<input type="radio" name="customer" value="{customer.pk}" checked>' in body
    assert re.search(r'id="preview-total">600.00 USD<', body) and "Needs a manager&#x27;s decision" in body
    assert Order.objects.count() == 0


def test_an_unknown_customer_is_refused_with_400_and_nothing_written(client, clerk, widget, fake_temporal):
    client.force_login(clerk)
    data = {**order_form_data(None, [(widget.pk, 1)]), "customer": "999999"}
    response = client.post("/orders/new/", data)
    assert response.status_code == 400
    assert "Select a valid choice" in response.content.decode()
    assert Order.objects.count() == 0 and OrderLine.objects.count() == 0


def test_a_customer_picked_from_the_search_submits_once_however_often_posted(
    client, clerk, many_customers, widget, policies, fake_temporal, django_capture_on_commit_callbacks,
):
    client.force_login(clerk)
    picked = Customer.objects.get(name="Northwind Traders")
    assert f'value="{picked.pk}"' in search(client, "northw").content.decode()
    data = order_form_data(picked, [(widget.pk, 2)], request_id="pick-0123456789", customer_search="northw")
    with django_capture_on_commit_callbacks(execute=True):
        first = client.post("/orders/new/", data)
        second = client.post("/orders/new/", data)
    order = Order.objects.get()
    assert first.status_code == second.status_code == 302 and first["Location"] == second["Location"] == order.get_absolute_url()
    assert order.customer == picked and order.total == Decimal("20.00")
    assert len(fake_temporal.starts) == 1


# --- Hostile input -------------------------------------------------------------------------------

hostile = st.one_of(
    st.text(max_size=30), st.text(min_size=90, max_size=400),
    st.sampled_from(["", "0", "-1", "1e309", "NaN", str(2**63), str(2**70), "%", "_", "\x00", "<script>", "'; --", "☃" * 40]),
)
FIELDS = ["customer", "customer_search", "lines-TOTAL_FORMS", "lines-INITIAL_FORMS", "lines-MAX_NUM_FORMS",
          "lines-0-product", "lines-0-quantity", "lines-1-product", "lines-1-quantity"]


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(data=st.dictionaries(st.sampled_from(FIELDS), hostile, max_size=6), htmx=st.booleans())
def test_search_and_preview_never_answer_5xx_nor_write(client, clerk, customer, widget, fake_temporal, data, htmx):
    client.force_login(clerk)
    headers = HTMX if htmx else {}
    base = order_form_data(customer, [(widget.pk, 1)])
    assert client.get(SEARCH, data, **headers).status_code < 500
    assert client.post(PREVIEW, {**base, **data}, **headers).status_code < 500
    assert Order.objects.count() == 0 and fake_temporal.starts == []


# --- Submitting the form (with a fake Temporal) ------------------------------------------


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
