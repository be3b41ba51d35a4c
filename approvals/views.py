"""The manager inbox (orders awaiting my decision, soonest due first; for
finance, the orders held for credit review), bulk decisions, and the page
that follows a bulk decision's batch."""
from __future__ import annotations

import re

from django.contrib import messages
from django.contrib.auth.decorators import permission_required
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.http import require_GET, require_POST

from approvals import selectors, services
from approvals.delegation import services as delegations
from approvals.discussion import services as discussion
from approvals.forms import BulkDecisionForm, PageForm
from approvals.inbox_rows import inbox_rows
from orders.exceptions import OrderError
from orders.holds import services as holds
from orders.models import Order
from orders.services import new_request_id
from temporal_bridge.approvals import calls as approval_calls
from temporal_bridge.approvals import messages as approval
from temporal_bridge.approvals.messages import BulkDecisionProgress
from temporal_bridge.client.bridge import TemporalUnavailable, WorkflowNotFound

BATCH_ID = re.compile(r"^[A-Za-z0-9-]{8,64}$")
BATCH_POLL = "1s"


def _inbox_context(request: HttpRequest, form: BulkDecisionForm | None = None, page_number: int | None = None) -> dict:
    credit = _credit_hold_tasks(request.user)
    if not request.user.has_perm(selectors.APPROVE_PERMISSION):
        return {"may_approve": False, "credit_holds": credit}  # finance: credit reviews only
    page = Paginator(selectors.awaiting_decision(request.user), 50).get_page(page_number)
    rows = inbox_rows(list(page), request.user)
    return {
        "page": page, "rows": rows, "now": timezone.now(), "is_senior": selectors.is_senior(request.user),
        "form": form or BulkDecisionForm(initial={"request_id": new_request_id()}),
        "on_behalf": _on_behalf_sections(request.user), "away": delegations.away_now(request.user),
        # Sent back with a question: not a decision to make until the requester answers.
        "waiting_on_requester": discussion.waiting_on_requester(request.user),
        "fraud_holds": _fraud_hold_tasks(request.user), "may_approve": True, "credit_holds": credit,
    }


def _credit_hold_tasks(user) -> list[tuple]:
    """Orders over their customer's credit limit, for finance: (order, may cancel, cancel request id)."""
    if not user.has_perm(holds.CREDIT_REVIEW_PERMISSION):
        return []
    may_cancel = user.has_perm("orders.cancel_order")
    return [(order, may_cancel, new_request_id()) for order in holds.credit_holds()]


def _fraud_hold_tasks(user) -> list[tuple]:
    """Orders a provider's fraud alert put on hold: (order, reason, may release, release and cancel request ids)."""
    may_cancel = user.has_perm("orders.cancel_order")
    return [
        (order, reason, services.hold_release_refusal(order=order, user=user) is None, may_cancel, new_request_id(), new_request_id())
        for order, reason in selectors.fraud_holds()
    ]


def _on_behalf_sections(user) -> list[tuple]:
    """The delegators' orders this user holds: (delegation, rows of (order, approvals, request id))."""
    sections = []
    for section in delegations.awaiting_on_behalf(user):
        counts = selectors.approval_counts(section.orders)
        rows = [(order, counts.get(order.pk, (0, False))[0], new_request_id()) for order in section.orders]
        sections.append((section.delegation, rows))
    return sections


@require_GET
def inbox(request: HttpRequest) -> HttpResponse:
    if not (request.user.has_perm(selectors.APPROVE_PERMISSION) or request.user.has_perm(holds.CREDIT_REVIEW_PERMISSION)):
        raise PermissionDenied  # approvers and finance
    paging = PageForm(request.GET)
    if not paging.is_valid():
        context = _inbox_context(request)
        context["page_error"] = paging.errors["page"][0]
        return render(request, "approvals/inbox.html", context, status=400)
    return render(request, "approvals/inbox.html", _inbox_context(request, page_number=paging.cleaned_data["page"]))


@require_POST
@permission_required("orders.approve_order", raise_exception=True)
def bulk_decide(request: HttpRequest) -> HttpResponse:
    """Start a durable batch for the ticked orders, then follow it on its own page."""
    form = BulkDecisionForm(request.POST)
    if not form.is_valid():
        return render(request, "approvals/inbox.html", _inbox_context(request, form), status=400)
    batch_id = form.cleaned_data["request_id"] or new_request_id()
    try:
        services.bulk_decision_start(
            user=request.user, order_ids=form.cleaned_data["orders"], decision=form.decision_value,
            comment=form.comment_value, batch_id=batch_id,
        )
    except OrderError as err:
        form.add_error(None, err.message)
        return render(request, "approvals/inbox.html", _inbox_context(request, form), status=err.status_code)
    verb = "Approving" if form.cleaned_data["decision"] == "approve" else "Rejecting"
    messages.info(request, f"{verb} {len(form.cleaned_data['orders'])} orders: "
                           "the batch runs in the background and finishes even if you leave this page.")
    return redirect("approvals:batch", batch_id=batch_id)


@require_GET
@permission_required("orders.approve_order", raise_exception=True)
def batch(request: HttpRequest, batch_id: str) -> HttpResponse:
    """A bulk decision's per-order results, live while it runs (polled with htmx)."""
    if not BATCH_ID.match(batch_id):
        raise Http404("No such batch.")
    progress, notice = None, ""
    try:
        progress = approval_calls.bulk_decision_progress(batch_id)
    except WorkflowNotFound as err:
        raise Http404("No such batch.") from err
    except TemporalUnavailable as err:
        notice = f"The batch's progress is unavailable right now ({err}); it goes on in the background. This page retries."
    if progress is not None and progress.actor != request.user.get_username():
        raise Http404("No such batch.")  # another manager's batch: not theirs to see
    context = {"batch_id": batch_id, "progress": progress, "notice": notice, **_results(progress)}
    context["poll_every"] = None if progress is not None and progress.finished else BATCH_POLL
    template = "approvals/_batch.html" if request.htmx else "approvals/batch.html"
    return render(request, template, context)


def _results(progress: BulkDecisionProgress | None) -> dict:
    if progress is None:
        return {"rows": [], "counts": {}}
    orders = Order.objects.in_bulk([r.order_id for r in progress.results])
    rows = [(result, orders.get(result.order_id)) for result in progress.results]
    outcomes = (approval.BULK_SENT, approval.BULK_REFUSED, approval.BULK_QUEUED, approval.BULK_FAILED)
    counts = {outcome: sum(1 for r in progress.results if r.outcome == outcome) for outcome in outcomes}
    return {"rows": rows, "counts": counts, "waiting": progress.total - len(progress.results)}
