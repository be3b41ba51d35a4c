"""Request guards that apply to the whole site."""
from __future__ import annotations

from collections.abc import Callable

from django.contrib.admin import helpers
from django.http import HttpRequest, HttpResponse, HttpResponseBadRequest
from django.urls import reverse

from orders.amounts import MAX_ID


def _is_id(value: str) -> bool:
    return value.isascii() and value.isdigit() and 1 <= int(value) <= MAX_ID


class AdminSelectionGuard:
    """Refuse an admin action whose ticked rows are not ids, with a 400 that says so.

    The admin filters `pk__in` with whatever the form sent: a number beyond a
    bigint makes SQLite raise OverflowError (a 500). Every model in this
    project's admin has an integer primary key, so one check covers them all
    (orders, products, customers, users, groups, keys, policies).
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response
        self.admin_prefix = reverse("admin:index")

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if (request.method == "POST" and request.path.startswith(self.admin_prefix) and request.user.is_staff
                and helpers.ACTION_CHECKBOX_NAME in request.POST):
            if not all(_is_id(value) for value in request.POST.getlist(helpers.ACTION_CHECKBOX_NAME)):
                return HttpResponseBadRequest(
                    f"Invalid selection: rows are named by whole numbers from 1 to {MAX_ID}. Nothing was done.",
                    content_type="text/plain; charset=utf-8",
                )
        return self.get_response(request)
