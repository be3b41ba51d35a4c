"""The live panel: the workflow's state, progress, decisions and timeline,
with the actions the current user may take on it."""
from __future__ import annotations

from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from approvals.services import approval_check_eligible
from orders.forms import ApproveForm, ReasonForm, UpdateForm
from orders.models import Order
from orders.selectors import order_live_state
from orders.services import new_request_id
from temporal_bridge import client as temporal
from temporal_bridge import messages as m

# Poll fast while the workflow answers, slower while it does not.
LIVE_POLL = "1500ms"
FALLBACK_POLL = "5s"


def user_actions(user, order: Order, allowed: list[str]) -> set[str]:
    """The actions of `allowed` (from the workflow) that `user` may take."""
    actions = set()
    if m.ACTION_APPROVE in allowed or m.ACTION_REJECT in allowed:
        try:
            approval_check_eligible(order=order, user=user)
        except PermissionDenied:
            pass  # no buttons; a POST anyway would answer 403
        else:
            actions |= {a for a in (m.ACTION_APPROVE, m.ACTION_REJECT) if a in allowed}
    if m.ACTION_CANCEL in allowed and user.has_perm("orders.cancel_order"):
        actions.add(m.ACTION_CANCEL)
    if m.ACTION_UPDATE in allowed and user.has_perm("orders.change_order"):
        actions.add(m.ACTION_UPDATE)
    return actions


def panel_context(request: HttpRequest, order: Order, *, error: str = "", forms: dict | None = None) -> dict:
    live = order_live_state(order)
    snapshot = live.snapshot
    context = {
        "order": order,
        "live": live,
        "snapshot": snapshot,
        "actions": user_actions(request.user, order, snapshot.allowed_actions),
        "poll_every": None if live.is_terminal else (LIVE_POLL if live.source == "workflow" else FALLBACK_POLL),
        "error": error,
        # Each form its own request id: the workflow ignores a repeated id,
        # whatever the signal, so two actions must never share one.
        "approve_form": ApproveForm(initial={"request_id": new_request_id()}),
        "reject_form": ReasonForm(initial={"request_id": new_request_id()}, prefix="reject"),
        "cancel_form": ReasonForm(initial={"request_id": new_request_id()}, prefix="cancel"),
        "update_form": UpdateForm(initial={
            "request_id": new_request_id(), "priority": snapshot.priority,
            "shipping_address": snapshot.shipping_address, "note": snapshot.note,
        }),
        "workflow_url": temporal.workflow_ui_url(order.workflow_id) if order.workflow_id else "",
    }
    context.update(forms or {})
    return context


def render_panel(request: HttpRequest, order: Order, *, status: int = 200, error: str = "", forms: dict | None = None) -> HttpResponse:
    return render(request, "orders/_panel.html", panel_context(request, order, error=error, forms=forms), status=status)
