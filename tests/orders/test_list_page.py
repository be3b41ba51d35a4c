"""The order list: filters, search, keyset pages, and who may see it (never asks Temporal)."""
from __future__ import annotations

import pytest

from orders.models import Customer
from temporal_bridge.order import states
from tests.orders.pages import HTMX, logged_in

pytestmark = pytest.mark.django_db


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
