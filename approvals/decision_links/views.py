"""The page an e-mail decision link opens: a confirmation (GET never acts), then the decision (POST).

No password sign-in: the signed, single-use link is the approver's proof
(approvals.decision_links.services says when it is refused). Every refusal is
a page with its reason and a 4xx status, and changes nothing.
"""
from __future__ import annotations

from django import forms
from django.contrib.auth.decorators import login_not_required
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_http_methods

from approvals import selectors
from approvals.decision_links import services as links
from approvals.decision_links.models import DecisionLink
from approvals.inbox_rows import order_why_you
from approvals.services import REJECT, verdict_text
from orders.exceptions import OrderError
from temporal_bridge.order import messages as m

TEMPLATE = "approvals/decision_link.html"


class LinkDecisionForm(forms.Form):
    comment = forms.CharField(label="Reason", required=False, max_length=m.MAX_COMMENT, widget=forms.Textarea(attrs={"rows": 3}))


@login_not_required
@require_http_methods(["GET", "POST"])
def decision_link(request: HttpRequest, order_id: int, token: str) -> HttpResponse:
    try:
        link = links.link_find(order_id=order_id, token=token)
    except links.LinkRefused as refused:
        return _refused(request, refused, None)
    viewer = request.user if request.user.is_authenticated else None
    refusal = links.link_refusal(link, viewer=viewer)
    if refusal is not None:
        return _refused(request, refusal, link)
    if request.method == "GET":
        return render(request, TEMPLATE, _context(link, LinkDecisionForm()))
    form = LinkDecisionForm(request.POST)
    if not form.is_valid() or (link.decision == REJECT and not form.cleaned_data["comment"].strip()):
        if form.is_valid():
            form.add_error("comment", "A reason is required to reject an order.")
        return render(request, TEMPLATE, _context(link, form), status=400)
    try:
        verdict = links.link_decide(link=link, comment=form.cleaned_data["comment"])
    except links.LinkRefused as refused:
        return _refused(request, refused, link)
    except PermissionDenied as err:
        return _refused(request, links.LinkRefused(str(err) or "You cannot take this decision now.", 403), link)
    except OrderError as err:
        return _refused(request, links.LinkRefused(f"{err.message} The link still works: try again shortly.", err.status_code), link)
    status = {m.VERDICT_ACCEPTED: 200, m.VERDICT_REFUSED: 409}.get(verdict.status, 202)
    what = "Approval" if link.decision == DecisionLink.Decision.APPROVED else "Rejection"
    return render(request, TEMPLATE, {**_context(link, None), "done": f"{what} of order {link.order.number}: {verdict_text(verdict)}.",
                                      "done_status": status}, status=status)


def _context(link: DecisionLink, form: LinkDecisionForm | None) -> dict:
    order = link.order
    return {"link": link, "order": order, "form": form, "lines": order.lines.select_related("product")[:5],
            "line_count": order.lines.count(), "rule": order.approval_rule_text,
            "approvals": selectors.approval_counts([order]).get(order.pk, (0, False))[0],
            "rejecting": link.decision == REJECT, "why": order_why_you(order, link.approver)}


def _refused(request: HttpRequest, refused: links.LinkRefused, link: DecisionLink | None) -> HttpResponse:
    return render(request, TEMPLATE, {"refused": refused.message, "link": link, "order": link.order if link else None},
                  status=refused.status)
