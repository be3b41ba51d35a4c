"""Approve / reject / cancel / update: POSTs that become workflow signals.

Each checks permission on the server (in the service), carries the request id
its form was rendered with (a double submit counts once), and answers with
the workflow's own verdict on that request id, read back from it: accepted
(200), refused with its reason (409), or queued while no worker has processed
it (202). htmx gets the fresh panel, a plain POST a redirect with a message.
Refusals made here, before anything is sent, are 4xx with the reason too.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from django import forms
from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from approvals.services import (
    APPROVE,
    REJECT,
    approval_check_eligible,
    approval_decide,
    approval_withdraw,
    hold_release,
    hold_release_refusal,
    verdict_text,
)
from orders import services
from orders.exceptions import OrderError
from orders.forms import ApproveForm, ReasonForm, RejectForm, ReleaseHoldForm, StockDecisionForm, UpdateForm
from orders.models import Order
from orders.selectors import order_live_state_forget
from orders.views.pages import order_or_404
from orders.views.panel import panel_context, render_panel
from temporal_bridge.order import messages as m


def _act(
    request: HttpRequest, pk: int, form: forms.Form, form_key: str,
    may: Callable[[Order], None], perform: Callable[[Order, dict, str], m.RequestVerdict], done: str,
) -> HttpResponse:
    order = order_or_404(pk)
    try:
        may(order)  # permission first: a user without it learns nothing from validation
    except PermissionDenied as err:
        return _refuse(request, order, 403, str(err) or "You are not allowed to do that.", {})
    if not form.is_valid():
        error = "; ".join(str(e) for errors in form.errors.values() for e in errors)
        return _refuse(request, order, 400, error, {form_key: form})
    request_id = form.cleaned_data.get("request_id") or services.new_request_id()
    try:
        verdict = perform(order, form.cleaned_data, request_id)
    except PermissionDenied as err:
        return _refuse(request, order, 403, str(err) or "You are not allowed to do that.", {form_key: form})
    except OrderError as err:
        return _refuse(request, order, err.status_code, err.message, {form_key: form})
    # Whoever looks next (this answer included) must see the workflow's reply
    # to the action, not a snapshot cached before it.
    order_live_state_forget(pk)
    outcome = Outcome.of(verdict, done.format(number=order.number))
    if request.htmx:
        context = panel_context(request, order_or_404(pk), fresh=True)
        return render(request, "orders/_panel.html", {**context, "outcome": outcome}, status=outcome.status)
    messages.add_message(request, outcome.message_level, outcome.text)
    return redirect(order)


@dataclass(frozen=True)
class Outcome:
    """The workflow's verdict on one request, as the page shows it."""

    text: str
    level: str  # the alert's style
    status: int
    message_level: int

    @classmethod
    def of(cls, verdict: m.RequestVerdict, what: str) -> Outcome:
        if verdict.status == m.VERDICT_ACCEPTED:
            return cls(f"{what} Accepted by the order's workflow.", "success", 200, messages.SUCCESS)
        if verdict.status == m.VERDICT_REFUSED:
            return cls(f"{what} Refused by the order's workflow: {verdict.reason}", "error", 409, messages.ERROR)
        return cls(f"{what} Queued: {verdict_text(verdict)}", "info", 202, messages.INFO)


def _refuse(request: HttpRequest, order: Order, status: int, error: str, forms_in_error: dict) -> HttpResponse:
    if request.htmx:
        return render_panel(request, order, status=status, error=error, forms=forms_in_error)
    context = {"order": order, **panel_context(request, order, error=error, forms=forms_in_error)}
    return render(request, "orders/detail.html", context, status=status)


def _eligible(request: HttpRequest, on_behalf_field: str) -> Callable[[Order], None]:
    # Checked before the form (permission first), so from the raw field: a
    # name no delegation has, however long, is a 403 like any other refusal.
    on_behalf_of = request.POST.get(on_behalf_field, "").strip()
    return lambda order: approval_check_eligible(order=order, user=request.user, on_behalf_of=on_behalf_of)


def _needs(request: HttpRequest, permission: str, message: str) -> Callable[[Order], None]:
    def check(order: Order) -> None:
        if not request.user.has_perm(permission):
            raise PermissionDenied(message)

    return check


@require_POST
def order_approve(request: HttpRequest, pk: int) -> HttpResponse:
    def perform(order, data, request_id):
        return approval_decide(order=order, user=request.user, decision=APPROVE, comment=data["comment"], request_id=request_id,
                               on_behalf_of=data["on_behalf_of"])

    may = _eligible(request, "on_behalf_of")
    return _act(request, pk, ApproveForm(request.POST), "approve_form", may, perform, "Approval of {number}:")


@require_POST
def order_reject(request: HttpRequest, pk: int) -> HttpResponse:
    def perform(order, data, request_id):
        return approval_decide(order=order, user=request.user, decision=REJECT, comment=data["reason"], request_id=request_id,
                               on_behalf_of=data["on_behalf_of"])

    may = _eligible(request, "reject-on_behalf_of")
    return _act(request, pk, RejectForm(request.POST, prefix="reject"), "reject_form", may, perform, "Rejection of {number}:")


@require_POST
def order_withdraw_approval(request: HttpRequest, pk: int) -> HttpResponse:
    def perform(order, data, request_id):
        return approval_withdraw(order=order, user=request.user, reason=data["reason"], request_id=request_id)

    may = _needs(request, "orders.approve_order", "You are not allowed to approve or reject orders.")
    form = ReasonForm(request.POST, prefix="withdraw")
    return _act(request, pk, form, "withdraw_form", may, perform, "Withdrawal of your approval of {number}:")


@require_POST
def order_cancel(request: HttpRequest, pk: int) -> HttpResponse:
    def perform(order, data, request_id):
        return services.order_request_cancel(order=order, user=request.user, reason=data["reason"], request_id=request_id)

    may = _needs(request, "orders.cancel_order", "You are not allowed to cancel orders.")
    return _act(request, pk, ReasonForm(request.POST, prefix="cancel"), "cancel_form", may, perform, "Cancel of {number}:")


@require_POST
def order_release_hold(request: HttpRequest, pk: int) -> HttpResponse:
    def perform(order, data, request_id):
        return hold_release(order=order, user=request.user, comment=data["comment"], request_id=request_id)

    def may(order: Order) -> None:
        refusal = hold_release_refusal(order=order, user=request.user)
        if refusal is not None:
            raise PermissionDenied(refusal)

    form = ReleaseHoldForm(request.POST, prefix="release")
    return _act(request, pk, form, "release_form", may, perform, "Release of the hold on {number}:")


@require_POST
def order_update(request: HttpRequest, pk: int) -> HttpResponse:
    def perform(order, data, request_id):
        return services.order_request_update(
            order=order, user=request.user, request_id=request_id,
            priority=data["priority"], shipping_address=data["shipping_address"], note=data["note"],
        )

    may = _needs(request, "orders.change_order", "You are not allowed to change orders.")
    return _act(request, pk, UpdateForm(request.POST), "update_form", may, perform, "Changes to {number}:")


@require_POST
def order_stock_decision(request: HttpRequest, pk: int) -> HttpResponse:
    def perform(order, data, request_id):
        return services.order_request_stock_decision(order=order, user=request.user, choices=data["choices"], request_id=request_id)

    def may(order: Order) -> None:
        if order.created_by_id != request.user.pk and not request.user.has_perm("orders.change_order"):
            raise PermissionDenied("Only the requester or someone who may change orders chooses what becomes of missing lines.")

    return _act(request, pk, StockDecisionForm(request.POST, prefix=None), "stock_form", may, perform, "Stock decision on {number}:")
