"""The manager inbox: orders awaiting my decision, soonest due first."""
from __future__ import annotations

from django.contrib.auth.decorators import permission_required
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

from approvals.selectors import awaiting_decision


@require_GET
@permission_required("orders.approve_order", raise_exception=True)
def inbox(request: HttpRequest) -> HttpResponse:
    page = Paginator(awaiting_decision(request.user), 50).get_page(request.GET.get("page"))
    return render(request, "approvals/inbox.html", {"page": page})
