"""The live panel: the workflow's state, progress, decisions and timeline,
with the actions the current user may take on it."""
from __future__ import annotations

import hashlib

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.template.loader import render_to_string

from approvals.delegation import services as delegations
from approvals.discussion import services as discussion
from approvals.discussion.forms import discussion_forms
from approvals.services import APPROVE, REJECT, approval_decisions_allowed, hold_release_refusal
from orders.forms import ApproveForm, ReasonForm, RejectForm, ReleaseHoldForm, UpdateForm
from orders.models import Order
from orders.selectors import LiveState, order_live_state
from orders.services import new_request_id
from orders.timeline import service_levels as sla
from orders.views import unchanged_poll
from temporal_bridge.order import messages as m
from temporal_bridge.order import states
from temporal_bridge.order.calls import workflow_ui_url

# How often an open page polls its panel (htmx `every`): fast while the order
# moves by itself (reserve, charge, fulfil take seconds), slowly while it
# waits on people (an approval can take hours or days), never once it is
# final. A page follows what its last fragment says; an action's answer is a
# fresh fragment, so the page that approves switches to fast at once.
POLL_MOVING = "1500ms"
POLL_WAITING = "20s"
# The workflow does not answer: look again soon for it to come back.
POLL_FALLBACK = "5s"
# The polling panel sends back the version it shows; an unchanged panel is
# answered 204 (htmx swaps nothing) instead of being rendered and sent again.
VERSION_HEADER = unchanged_poll.VERSION_HEADER
# The interval the page polls at from this answer on ("" once it stops): the
# fragment's hx-trigger says it to htmx, this header to anything else.
POLL_HEADER = unchanged_poll.POLL_HEADER
# The action of taking back one's own approval (decided here, from the snapshot's approval progress).
WITHDRAW = "withdraw_approval"


def user_actions(user, order: Order, allowed: list[str]) -> set[str]:
    """The actions of `allowed` (from the workflow) that `user` may take."""
    actions = set()
    if m.ACTION_APPROVE in allowed or m.ACTION_REJECT in allowed:
        # No button for a decision the user may not take; a POST anyway answers 403.
        decisions = approval_decisions_allowed(order=order, user=user)
        actions |= {a for a, d in ((m.ACTION_APPROVE, APPROVE), (m.ACTION_REJECT, REJECT)) if a in allowed and d in decisions}
    if m.ACTION_CANCEL in allowed and user.has_perm("orders.cancel_order"):
        actions.add(m.ACTION_CANCEL)
    if m.ACTION_UPDATE in allowed and user.has_perm("orders.change_order"):
        actions.add(m.ACTION_UPDATE)
    if states.RELEASE_HOLD in allowed and hold_release_refusal(order=order, user=user) is None:
        actions.add(states.RELEASE_HOLD)
    return actions


def may_withdraw(user, snapshot: m.OrderSnapshot) -> bool:
    """The user's own approval counts on an order that still waits for more (the workflow's word)."""
    approval = snapshot.approval
    return (snapshot.state == states.PENDING_APPROVAL and approval is not None and bool(approval.still_needed)
            and user.get_username() in approval.approved_by and user.has_perm("orders.approve_order"))


def on_behalf_actions(user, order: Order, allowed: list[str]) -> list[tuple[str, list[str]]]:
    """(delegator, decisions) that `user` may take on `order` as a substitute now, one per delegation held."""
    if m.ACTION_APPROVE not in allowed and m.ACTION_REJECT not in allowed:
        return []
    held = []
    for delegation in delegations.standing_for(user):
        name = delegation.delegator.get_username()
        decisions = approval_decisions_allowed(order=order, user=user, on_behalf_of=name)
        actions = [a for a, d in ((m.ACTION_APPROVE, APPROVE), (m.ACTION_REJECT, REJECT)) if a in allowed and d in decisions]
        if actions:
            held.append((name, actions))
    return held


def waits_on_people(snapshot: m.OrderSnapshot) -> bool:
    """The order sits at its approval gate until someone decides (or the deadline passes)."""
    if snapshot.state != states.PENDING_APPROVAL or snapshot.cancel_requested or not snapshot.requires_approval:
        return False
    if snapshot.approval is not None and snapshot.approval.auto_approve:
        return False  # passes the gate by itself in a moment
    # The workflow's own word: it still takes decisions (quorum not met, nobody
    # rejected), or it waits for the requester's answer to a question.
    return any(action in snapshot.allowed_actions for action in (m.ACTION_APPROVE, m.ACTION_REJECT, states.ANSWER))


def poll_interval(live: LiveState) -> str | None:
    if live.is_terminal:
        return None
    if live.source != "workflow":
        return POLL_FALLBACK  # whatever the state: the panel comes back soon after a worker does
    return POLL_WAITING if waits_on_people(live.snapshot) else POLL_MOVING


def panel_state(request: HttpRequest, order: Order, *, error: str = "", fresh: bool = False, live: LiveState | None = None) -> dict:
    """What the panel shows, without its forms, and a version that changes whenever that does.

    Cheap on purpose: an unchanged poll ends here with a 204. The snapshot
    comes from the per-order cache with its digest (orders.selectors), so the
    version is a hash of a few short strings, whatever the timeline's length.
    `live` is the state already read (the live stream's hub reads it once for
    every page watching the order).
    """
    live = live or order_live_state(order, fresh=fresh)
    snapshot = live.snapshot
    actions = user_actions(request.user, order, snapshot.allowed_actions) | discussion.panel_actions(request.user, order, snapshot)
    if may_withdraw(request.user, snapshot):
        actions.add(WITHDRAW)
    on_behalf = on_behalf_actions(request.user, order, snapshot.allowed_actions)
    poll_every = poll_interval(live)
    shown = repr((live.digest, live.source, live.notice, sorted(actions), on_behalf, poll_every, error, order.workflow_id))
    return {
        "order": order,
        "live": live,
        "snapshot": snapshot,
        "actions": actions,
        "on_behalf": on_behalf,
        "poll_every": poll_every,
        "error": error,
        "panel_version": hashlib.blake2b(shown.encode(), digest_size=12).hexdigest(),
    }


def panel_context(request: HttpRequest, order: Order, *, error: str = "", forms: dict | None = None, fresh: bool = False) -> dict:
    return _with_forms(panel_state(request, order, error=error, fresh=fresh), order, forms)


def _with_forms(state: dict, order: Order, forms: dict | None) -> dict:
    context = dict(state)
    snapshot = context["snapshot"]
    context.update({
        # Each form its own request id: the workflow ignores a repeated id,
        # whatever the signal, so two actions must never share one.
        "approve_form": ApproveForm(initial={"request_id": new_request_id()}),
        "reject_form": RejectForm(initial={"request_id": new_request_id()}, prefix="reject"),
        # The substitute's forms, one pair per delegator, each with its own request ids.
        "on_behalf_forms": [
            (name, actions, ApproveForm(initial={"request_id": new_request_id(), "on_behalf_of": name}),
             RejectForm(initial={"request_id": new_request_id(), "on_behalf_of": name}, prefix="reject"))
            for name, actions in state.get("on_behalf", [])
        ],
        "cancel_form": ReasonForm(initial={"request_id": new_request_id()}, prefix="cancel"),
        "withdraw_form": ReasonForm(initial={"request_id": new_request_id()}, prefix="withdraw"),
        "release_form": ReleaseHoldForm(initial={"request_id": new_request_id()}, prefix="release"),
        "update_form": UpdateForm(initial={
            "request_id": new_request_id(), "priority": snapshot.priority,
            "shipping_address": snapshot.shipping_address, "note": snapshot.note,
        }),
        "workflow_url": workflow_ui_url(order.workflow_id) if order.workflow_id else "",
        "sla_rows": sla.stage_rows(snapshot.service_levels),
        **discussion_forms(snapshot),
    })
    context.update(forms or {})
    return context


def panel_fragment(request: HttpRequest, state: dict) -> str:
    """The panel's HTML for a state from panel_state (with fresh forms): what a poll or a push sends."""
    return render_to_string("orders/_panel.html", _with_forms(state, state["order"], None), request)


def render_panel(request: HttpRequest, order: Order, *, status: int = 200, error: str = "", forms: dict | None = None,
                 fresh: bool = False) -> HttpResponse:
    context = panel_context(request, order, error=error, forms=forms, fresh=fresh)
    return render(request, "orders/_panel.html", context, status=status)


def render_panel_poll(request: HttpRequest, order: Order) -> HttpResponse:
    """A poll of the panel: 204 when the page already shows this version, else the fragment.

    The answer is remembered (orders.views.unchanged_poll), so that the next
    unchanged poll of this page can be answered before the view runs.
    """
    stamp = unchanged_poll.stamp_before_answer(request, order.pk)
    state = panel_state(request, order)
    live = state["live"]
    if live.source == "workflow" and not live.notice and state["poll_every"]:
        unchanged_poll.remember(request, order.pk, stamp, version=state["panel_version"], poll_every=state["poll_every"],
                                digest=live.digest, waiting=state["poll_every"] == POLL_WAITING)
    if request.headers.get(VERSION_HEADER) == state["panel_version"]:
        response = HttpResponse(status=204)
    else:
        response = render(request, "orders/_panel.html", _with_forms(state, order, None))
    response[VERSION_HEADER] = state["panel_version"]
    response[POLL_HEADER] = state["poll_every"] or ""
    return response
