"""Order search on the list and in the admin: what it finds, what it refuses, and on PostgreSQL the indexes it uses."""
from __future__ import annotations

import re

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from orders import pagination, selectors
from orders.admin import search_terms
from orders.models import Customer, Order

pytestmark = pytest.mark.django_db

CHANGELIST = "/admin/orders/order/"
on_postgresql = pytest.mark.skipif(connection.vendor != "postgresql", reason="pg_trgm and the planner are PostgreSQL's")


@pytest.fixture
def shop(make_order):
    """Three customers, one order each (Acme's is the conftest customer's)."""
    globex = Customer.objects.create(name="Globex Inc", email="purchasing@globex.example")
    initech = Customer.objects.create(name="Initech", email="bill.lumbergh@initech.example")
    return {"acme": make_order(), "globex": make_order(customer=globex), "initech": make_order(customer=initech)}


def listed(client, q: str) -> list[int]:
    response = client.get("/orders/", {"q": q})
    assert response.status_code == 200
    return [o.pk for o in response.context["page"].orders]


def admin_listed(client, q: str) -> list[int]:
    response = client.get(CHANGELIST, {"q": q})
    assert response.status_code == 200
    return [o.pk for o in response.context["cl"].result_list]


# --- The order list ------------------------------------------------------------------------


def test_list_finds_an_order_by_its_number_whole_or_in_part_in_any_case(client, clerk, shop):
    client.force_login(clerk)
    globex = shop["globex"]
    assert listed(client, globex.number) == [globex.pk]
    assert listed(client, globex.number.lower()) == [globex.pk]
    assert listed(client, globex.number[-4:]) == [globex.pk]  # the digits a customer reads out on the phone


def test_list_finds_orders_by_customer_name_and_by_email(client, clerk, shop):
    client.force_login(clerk)
    assert listed(client, "globex inc") == [shop["globex"].pk]
    assert listed(client, "lumbergh@") == [shop["initech"].pk]
    assert listed(client, "nobody-by-this-name") == []


def test_list_search_pages_newest_first_through_many_matches(client, clerk, make_order, shop):
    globex = shop["globex"].customer
    matches = [shop["globex"].pk] + [make_order(customer=globex).pk for _ in range(29)]
    make_order()  # another customer's, newer than all of them
    client.force_login(clerk)

    first = client.get("/orders/", {"q": "globex"}).context["page"]
    assert [o.pk for o in first.orders] == matches[::-1][:25]
    second = client.get("/orders/", {"q": "globex", "before": first.older_cursor}).context["page"]
    assert [o.pk for o in second.orders] == matches[::-1][25:]
    assert second.older_cursor is None
    back = client.get("/orders/", {"q": "globex", "after": second.newer_cursor}).context["page"]
    assert [o.pk for o in back.orders] == matches[::-1][:25]


def test_percent_and_underscore_are_searched_for_as_themselves(client, clerk, make_order, shop):
    cotton = make_order(customer=Customer.objects.create(name="100% Cotton Ltd", email="sales@cotton.example"))
    snake = make_order(customer=Customer.objects.create(name="snake_case GmbH", email="hiss@snake.example"))
    client.force_login(clerk)
    assert listed(client, "%") == [cotton.pk]
    assert listed(client, "_") == [snake.pk]
    assert listed(client, "0%") == [cotton.pk]
    assert listed(client, "\\") == []


def test_odd_search_text_is_refused_or_finds_nothing_never_an_error(client, clerk, shop):
    client.force_login(clerk)
    assert listed(client, "x" * 100) == []  # the field's limit
    for refused in ("x" * 101, "OD\x00-0001"):
        response = client.get("/orders/", {"q": refused})
        assert response.status_code == 400
        assert "Invalid filter" in response.content.decode()
    for odd in ("'; DROP TABLE orders_order; --", "🧾 ünïcödé", "[a-z]*", '"unbalanced'):
        assert listed(client, odd) == []
    assert Order.objects.count() == 3


def test_many_matching_customers_are_searched_by_subquery_with_the_same_results(client, clerk, make_order, shop, monkeypatch):
    monkeypatch.setattr(selectors, "CUSTOMER_IDS_INLINE", 1)
    client.force_login(clerk)
    assert listed(client, "example") == sorted(o.pk for o in shop.values())[::-1]  # every customer's email
    assert listed(client, "globex") == [shop["globex"].pk]


# --- The admin ------------------------------------------------------------------------------


def test_admin_finds_orders_by_number_customer_name_and_email(client, manager, shop):
    client.force_login(manager)
    assert admin_listed(client, shop["initech"].number) == [shop["initech"].pk]
    assert admin_listed(client, "GLOBEX") == [shop["globex"].pk]
    assert admin_listed(client, "lumbergh") == [shop["initech"].pk]


def test_admin_requires_every_word_as_its_own_search_does(client, manager, make_order, shop):
    globex = shop["globex"]
    newer = make_order(customer=globex.customer)
    client.force_login(manager)
    assert sorted(admin_listed(client, "globex")) == sorted([globex.pk, newer.pk])
    assert admin_listed(client, f"globex {newer.number[-3:]}") == [newer.pk]
    assert admin_listed(client, f"initech {newer.number[-3:]}") == []
    assert admin_listed(client, '"Globex Inc"') == [newer.pk, globex.pk]


def test_admin_survives_odd_search_text(client, manager, shop):
    client.force_login(manager)
    refused = client.get(CHANGELIST, {"q": "glo\x00bex"})  # Django's search form refuses NUL, and says so
    assert refused.status_code == 200
    assert "Null characters are not allowed" in refused.content.decode()
    assert admin_listed(client, "%") == []
    assert admin_listed(client, "_") == []
    assert admin_listed(client, '"unbalanced') == []
    assert admin_listed(client, "x" * 10_000) == []
    assert admin_listed(client, " ".join(["globex"] * 50)) == [shop["globex"].pk]
    assert len(admin_listed(client, "   ")) == 3  # nothing to search for: everything


def test_admin_search_words_drop_nul_and_keep_quoted_phrases():
    # Other callers of get_search_results (autocomplete) pass the text unvalidated; PostgreSQL refuses NUL.
    assert search_terms('glo\x00bex "Globex Inc"  od-') == ["globex", "Globex Inc", "od-"]
    assert len(search_terms("a " * 500)) == 10


# --- Counting the admin's filtered pages ---------------------------------------------------


def order_counts(queries) -> list[str]:
    return [q["sql"] for q in queries if re.search(r"COUNT\(", q["sql"], re.I) and '"orders_order"' in q["sql"]]


def test_a_search_matching_few_orders_is_counted_exactly(client, manager, shop):
    client.force_login(manager)
    response = client.get(CHANGELIST, {"q": "example"})
    assert re.search(r"3 results\b", response.content.decode())


@on_postgresql
def test_a_search_matching_many_orders_counts_only_so_far_then_estimates(client, manager, make_order, shop, monkeypatch):
    monkeypatch.setattr(pagination, "EXACT_COUNT_BELOW", 2)
    client.force_login(manager)
    with CaptureQueriesContext(connection) as ctx:
        response = client.get(CHANGELIST, {"q": "example"})
    assert response.status_code == 200
    counts = order_counts(ctx.captured_queries)
    assert counts and all("LIMIT 2" in sql for sql in counts), counts
    shown = int(re.search(r"(\d+) results?\b", response.content.decode()).group(1))
    assert shown >= 2  # the planner's guess, never below what was counted


# --- PostgreSQL: the trigram indexes serve the search ---------------------------------------


def plan(queryset) -> str:
    with connection.cursor() as cursor:
        # On a few rows reading the table is cheapest: with that (and a walk
        # along the primary key) forbidden, the plan shows which indexes match the search.
        cursor.execute("SET LOCAL enable_seqscan = off")
        cursor.execute("SET LOCAL enable_indexscan = off")
        sql, params = queryset.query.sql_with_params()
        cursor.execute(f"EXPLAIN {sql}", params)
        return "\n".join(row[0] for row in cursor.fetchall())


@on_postgresql
def test_the_searches_are_answered_from_the_trigram_indexes(shop):
    orders = plan(Order.objects.filter(selectors.order_search("D-0000")))
    assert "order_number_trgm_idx" in orders
    customers = plan(Customer.objects.filter(name__icontains="lobe") | Customer.objects.filter(email__icontains="lobe"))
    assert "customer_name_trgm_idx" in customers and "customer_email_trgm_idx" in customers


@on_postgresql
def test_an_order_search_that_matches_a_customer_ors_two_indexes(shop):
    orders = plan(Order.objects.filter(selectors.order_search("globex")))
    assert "BitmapOr" in orders
    assert "order_number_trgm_idx" in orders
