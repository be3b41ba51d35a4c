"""Out of office: an approver names a substitute for a range of days, and
ends it early. One page; htmx posts get its body as a fragment. Every
refusal is a 4xx with the reason on the page."""
from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import permission_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods, require_POST

from approvals.delegation import services as delegations
from approvals.delegation.forms import DelegationForm
from approvals.delegation.models import Delegation
from orders.amounts import MAX_ID
from orders.exceptions import OrderError

APPROVE_PERMISSION = "orders.approve_order"
RECENT = 20


def _render(request: HttpRequest, form: DelegationForm | None = None, *, status: int = 200, error: str = "",
            notice: str = "") -> HttpResponse:
    mine = list(delegations.delegations_of(request.user)[:RECENT])
    context = {
        "form": form or DelegationForm(user=request.user), "error": error, "notice": notice,
        "given": [d for d in mine if d.delegator_id == request.user.pk],
        "taken": [d for d in mine if d.substitute_id == request.user.pk and d.can_end],
    }
    template = "approvals/_out_of_office.html" if request.htmx else "approvals/out_of_office.html"
    return render(request, template, context, status=status)


def _done(request: HttpRequest, text: str) -> HttpResponse:
    if request.htmx:
        return _render(request, notice=text)
    messages.success(request, text)
    return redirect("approvals:out_of_office")


@require_http_methods(["GET", "POST"])
@permission_required(APPROVE_PERMISSION, raise_exception=True)
def out_of_office(request: HttpRequest) -> HttpResponse:
    """GET: my delegations and the form; POST: name a substitute."""
    if request.method == "GET":
        return _render(request)
    form = DelegationForm(request.POST, user=request.user)
    if not form.is_valid():
        return _render(request, form, status=400, error="The delegation was not saved; see below.")
    data = form.cleaned_data
    try:
        delegation = delegations.delegation_create(
            delegator=request.user, substitute=data["substitute"], starts_at=data["starts_at"], ends_at=data["ends_at"],
            created_by=request.user,
        )
    except ValidationError as err:
        form.add_error(None, err)
        return _render(request, form, status=400, error="The delegation was not saved; see below.")
    except PermissionDenied as err:
        return _render(request, form, status=403, error=str(err))
    return _done(request, f"{delegation.substitute} holds your approvals from {delegation.first_day} to {delegation.last_day}.")


@require_POST
@permission_required(APPROVE_PERMISSION, raise_exception=True)
def end_delegation(request: HttpRequest, pk: int) -> HttpResponse:
    """End my delegation now (or call off one not begun). Someone else's is a 404; an ended one a 409."""
    if not 1 <= pk <= MAX_ID:
        return _render(request, status=404, error="No such delegation of yours.")
    try:
        delegation = delegations.delegation_end(delegation_id=pk, user=request.user)
    except Delegation.DoesNotExist:
        return _render(request, status=404, error="No such delegation of yours.")
    except OrderError as err:
        return _render(request, status=err.status_code, error=err.message)
    return _done(request, f"Your delegation to {delegation.substitute} has ended; your approvals are yours again.")
