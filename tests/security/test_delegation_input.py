"""Hostile and clumsy input on the out-of-office page and on decisions made
on someone's behalf, generated, as every role: nothing answers 5xx, a
refusal writes no delegation and sends no signal, and no name that a
delegation does not cover lets anyone decide for another."""
from __future__ import annotations

import pytest
from django.contrib.auth.models import AnonymousUser
from django.test import Client
from django.utils import timezone
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from approvals.models import Delegation
from tests.security.test_hostile_input import hostile_text

pytestmark = pytest.mark.django_db

ROLES = ["anonymous", "outsider", "clerk", "manager", "auditor"]
DATES = st.one_of(hostile_text, st.dates().map(str), st.sampled_from(["9999-12-31", "0001-01-01", "2026-02-30", "2026-13-01"]))
DELEGATION_FIELDS = st.fixed_dictionaries({}, optional={
    "substitute": st.one_of(hostile_text, st.sampled_from(["manager", "manager2", "clerk", "senior", "auditor"])),
    "first_day": DATES, "last_day": DATES, "unexpected": hostile_text,
})
SETTINGS = settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])


@pytest.fixture
def actors(clerk, manager, manager2, senior, outsider, auditor):
    return {"anonymous": AnonymousUser(), "outsider": outsider, "clerk": clerk, "manager": manager, "auditor": auditor}


def client_as(actors, role: str) -> Client:
    client = Client()
    if role != "anonymous":
        client.force_login(actors[role])
    return client


def delegations() -> tuple:
    return tuple(Delegation.objects.order_by("id").values_list("delegator_id", "substitute_id", "starts_at", "ends_at", "ended_at"))


@SETTINGS
@given(role=st.sampled_from(ROLES), data=DELEGATION_FIELDS, htmx=st.booleans())
def test_random_delegations_never_fail_with_5xx_and_refusals_write_nothing(actors, role, data, htmx):
    before = delegations()
    headers = {"HTTP_HX_REQUEST": "true"} if htmx else {}
    response = client_as(actors, role).post("/approvals/out-of-office/", data, **headers)
    assert response.status_code < 500, response.content[:500]
    if response.status_code >= 400 or role != "manager":
        assert delegations() == before
    else:
        # Accepted: only ever the manager's own, to another active approver, not in the past.
        newest = Delegation.objects.order_by("-id").first()
        assert newest.delegator == actors["manager"] and newest.substitute.username in ("manager2", "senior")
        assert newest.ends_at > timezone.now()
        Delegation.objects.filter(pk=newest.pk).delete()  # each example starts from none


@SETTINGS
@given(role=st.sampled_from(ROLES), pk=st.one_of(st.integers(min_value=-2, max_value=10**30).map(str), hostile_text), htmx=st.booleans())
def test_random_ends_never_fail_with_5xx(actors, role, pk, htmx):
    headers = {"HTTP_HX_REQUEST": "true"} if htmx else {}
    response = client_as(actors, role).post(f"/approvals/out-of-office/{pk}/end/", {}, **headers)
    assert response.status_code < 500 and response.status_code != 200


@SETTINGS
@given(role=st.sampled_from(ROLES), on_behalf_of=st.one_of(hostile_text, st.sampled_from(["manager2", "senior", "clerk", "manager"])),
       action=st.sampled_from(["approve", "reject"]), htmx=st.booleans())
def test_no_name_without_a_delegation_decides_for_anyone(fake_temporal, actors, make_order, role, on_behalf_of, action, htmx):
    order = make_order()
    field = "on_behalf_of" if action == "approve" else "reject-on_behalf_of"
    data = {field: on_behalf_of, "reject-reason": "hostile", "request_id": "rq-hostile-0001", "reject-request_id": "rq-hostile-0002"}
    headers = {"HTTP_HX_REQUEST": "true"} if htmx else {}
    sent_before = len(fake_temporal.signals)  # the fixture lives across examples
    response = client_as(actors, role).post(f"/orders/{order.pk}/{action}/", data, **headers)
    assert response.status_code < 500
    if on_behalf_of.strip():
        # No delegation exists: nothing may be sent in anyone else's name.
        assert response.status_code in (302, 403) and len(fake_temporal.signals) == sent_before
