"""The new-order form carries a request id: a double click or a re-sent POST makes one order."""
from __future__ import annotations

import re

import pytest

from orders import roles, services
from orders.models import Order, OrderLine
from orders.timeline.models import OrderEvent
from tests.conftest import make_user
from tests.orders.pages import order_form_data

pytestmark = pytest.mark.django_db


def rendered_request_id(response) -> str:
    match = re.search(r'<input type="hidden" name="request_id" value="([A-Za-z0-9-]+)"', response.content.decode())
    assert match, "the form carries no request id"
    return match.group(1)


def test_the_form_carries_a_fresh_request_id_each_time_it_is_shown(client, clerk, fake_temporal, customer, widget):
    client.force_login(clerk)
    first, second = rendered_request_id(client.get("/orders/new/")), rendered_request_id(client.get("/orders/new/"))
    assert first != second


def test_a_double_submitted_form_creates_one_order_and_both_posts_land_on_it(
    client, clerk, fake_temporal, customer, widget, django_capture_on_commit_callbacks,
):
    client.force_login(clerk)
    request_id = rendered_request_id(client.get("/orders/new/"))
    data = order_form_data(customer, [(widget.pk, 2)], request_id=request_id)
    with django_capture_on_commit_callbacks(execute=True):
        first = client.post("/orders/new/", data)
        second = client.post("/orders/new/", data, follow=True)
    order = Order.objects.get()
    assert first.status_code == 302 and first["Location"] == order.get_absolute_url()
    assert second.redirect_chain == [(order.get_absolute_url(), 302)]
    assert f"already submitted as order {order.number}" in second.content.decode()
    assert OrderLine.objects.count() == 1
    assert OrderEvent.objects.filter(kind=OrderEvent.Kind.SUBMITTED).count() == 1
    assert len(fake_temporal.starts) == 1


def test_the_same_request_id_from_another_clerk_is_their_own_order(client, clerk, fake_temporal, customer, widget):
    data = order_form_data(customer, [(widget.pk, 2)], request_id="same-id-0123456789")
    client.force_login(clerk)
    client.post("/orders/new/", data)
    client.force_login(make_user("clerk2", roles.CLERKS))
    client.post("/orders/new/", data)
    assert sorted(Order.objects.values_list("created_by__username", flat=True)) == ["clerk", "clerk2"]


def test_a_refused_form_keeps_its_request_id_so_the_corrected_post_counts_once(client, clerk, fake_temporal, customer, widget):
    client.force_login(clerk)
    data = order_form_data(customer, [(widget.pk, 2)], request_id="keep-me-0123456789", shipping_address="")
    response = client.post("/orders/new/", data)
    assert response.status_code == 400
    assert rendered_request_id(response) == "keep-me-0123456789"
    assert Order.objects.count() == 0


def test_two_submissions_racing_past_the_lookup_still_make_one_order(clerk, customer, widget, monkeypatch, fake_temporal):
    """Both requests saw no order yet: the unique key refuses the second insert, which answers with the first."""
    kwargs = dict(customer=customer, lines=[services.LineRequest(widget, 1)], created_by=clerk, shipping_address="1 Main St")
    first, created = services.order_submit_once(submission_key="race-0123456789", **kwargs)
    assert created
    real_lookup, lookups = services._submitted_with, []

    def looked_before_the_first_committed(**key):
        lookups.append(key)
        return None if len(lookups) == 1 else real_lookup(**key)

    monkeypatch.setattr(services, "_submitted_with", looked_before_the_first_committed)
    second, created = services.order_submit_once(submission_key="race-0123456789", **kwargs)
    assert len(lookups) == 2
    assert not created and second.pk == first.pk
    assert Order.objects.count() == 1
