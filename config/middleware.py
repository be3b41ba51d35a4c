"""Request guards that apply to the whole site."""
from __future__ import annotations

from collections.abc import Callable

from axes.helpers import get_client_username, get_cool_off, get_failure_limit
from django.conf import settings
from django.contrib.admin import helpers
from django.http import HttpRequest, HttpResponse, HttpResponseBadRequest
from django.shortcuts import render
from django.urls import reverse

from orders.amounts import MAX_ID


def client_ip(request: HttpRequest) -> str:
    """The address a login attempt came from, for throttling.

    Behind the TLS proxy (DJANGO_SECURE_PROXY_SSL_HEADER=1), REMOTE_ADDR is the
    proxy's own: the client is the last address the proxy appended to
    X-Forwarded-For (earlier entries come from the client and prove nothing).
    """
    if getattr(settings, "SECURE_PROXY_SSL_HEADER", None):
        forwarded = [part.strip() for part in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",") if part.strip()]
        if forwarded:
            return forwarded[-1]
    return request.META.get("REMOTE_ADDR", "")


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


def login_locked_out(request: HttpRequest, original_response: HttpResponse | None = None, credentials: dict | None = None) -> HttpResponse:
    """The page a locked-out login gets (django-axes' AXES_LOCKOUT_CALLABLE): 429, and when to try again."""
    cool_off = get_cool_off(request)
    context = {
        "failure_limit": get_failure_limit(request, credentials),
        "username": get_client_username(request, credentials) or "",
        "cooloff_minutes": max(1, round(cool_off.total_seconds() / 60)) if cool_off else None,
    }
    return render(request, "registration/locked_out.html", context, status=429)
