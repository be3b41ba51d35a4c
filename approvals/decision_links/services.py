"""Approve or reject from the e-mail, safely.

Each reminder, escalation and digest e-mail carries one link per decision.
The URL holds a random secret, signed with the site's key so an altered link
is recognised before any lookup; the database keeps only the secret's
SHA-256. Opening the link (GET) only shows a confirmation page, because mail
scanners prefetch links; the confirmation POST sends the decision through
approval_decide, the path of every decision: the intent is recorded, then
signalled, and the workflow checks the approver's identity and rights again.

A link acts for its approver without a password, so it is refused whenever
that person could not decide now: used, expired, the order no longer waiting
for them (decided, cancelled, handed to a substitute), the account inactive,
locked out after failed logins (django-axes), or without the permission.
"""
from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import timedelta

from axes.models import AccessAttempt
from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.core import signing
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.urls import reverse
from django.utils import timezone

from approvals import selectors
from approvals.decision_links.models import DecisionLink
from approvals.delegation import services as delegations
from approvals.links import absolute_url
from approvals.services import APPROVE, REJECT, approval_check_eligible, approval_decide
from orders.models import Order
from temporal_bridge.order import messages as m
from temporal_bridge.order import states

SALT = "approvals.decision-link"
LIFETIME = timedelta(hours=48)
# A token longer than this is not one of ours: refused before any work.
MAX_TOKEN = 200


@dataclass(frozen=True)
class LinkRefused(Exception):
    """Why a link cannot be used; `status` is the page's HTTP status."""

    message: str
    status: int


def _hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def link_issue(*, approver: AbstractBaseUser, order: Order, decision: str) -> str:
    """A new link for `approver` to take `decision` on `order`: its absolute URL (the secret is in it, nowhere else)."""
    if decision not in (APPROVE, REJECT):
        raise ValueError(f"Unknown decision {decision!r}.")
    secret = secrets.token_urlsafe(32)
    DecisionLink.objects.create(
        token_hash=_hash(secret), approver=approver, order=order, decision=decision,
        request_id=f"mail-{secrets.token_hex(16)}", expires_at=timezone.now() + LIFETIME,
    )
    token = signing.Signer(salt=SALT).sign(secret)
    return absolute_url(reverse("approvals:decision_link", kwargs={"order_id": order.pk, "token": token}))


def links_for(*, approver: AbstractBaseUser, order: Order) -> dict[str, str]:
    """The links of one e-mail: {"approve": url, "reject": url}; only the decisions the approver may take now."""
    allowed = _decisions_allowed(order, approver)
    return {word: link_issue(approver=approver, order=order, decision=decision)
            for word, decision in (("approve", APPROVE), ("reject", REJECT)) if decision in allowed}


def _decisions_allowed(order: Order, approver: AbstractBaseUser) -> set[str]:
    allowed = set()
    for decision in (APPROVE, REJECT):
        try:
            approval_check_eligible(order=order, user=approver, decision=decision)
        except PermissionDenied:
            continue
        allowed.add(decision)
    return allowed


def link_find(*, order_id: int, token: str) -> DecisionLink:
    """The link a URL names, or LinkRefused (altered, unknown, or another order's)."""
    altered = LinkRefused("This link is not valid: it may have been altered or cut short. Open the order from the desk instead.", 404)
    if len(token) > MAX_TOKEN:
        raise altered
    try:
        secret = signing.Signer(salt=SALT).unsign(token)
    except signing.BadSignature:
        raise altered from None
    link = DecisionLink.objects.select_related("order", "order__customer", "approver").filter(token_hash=_hash(secret)).first()
    if link is None or link.order_id != order_id:
        raise altered
    return link


def link_refusal(link: DecisionLink, *, viewer: AbstractBaseUser | None = None) -> LinkRefused | None:
    """Why `link` cannot be used now (None: it can). `viewer`: who is signed in on this browser, if anyone."""
    approver, order = link.approver, link.order
    if viewer is not None and viewer.is_authenticated and viewer.pk != approver.pk:
        return LinkRefused(f"This link was sent to {approver.get_username()}, not to you ({viewer.get_username()}); "
                           "it acts only for the person it was sent to.", 403)
    if link.used_at is not None:
        return LinkRefused(f"This link was already used ({link.used_at:%Y-%m-%d %H:%M} UTC); a link counts once. "
                           "Open the order from the desk to see where it stands.", 410)
    if link.expires_at <= timezone.now():
        return LinkRefused("This link has expired (links last 48 hours). Open the order from the desk instead.", 410)
    if not approver.is_active:
        return LinkRefused("This account is deactivated; its links no longer work.", 403)
    if _locked_out(approver):
        return LinkRefused("This account is locked after too many failed sign-ins; its links work again once the lock ends.", 403)
    if not approver.has_perm(selectors.APPROVE_PERMISSION):
        return LinkRefused("This account may no longer approve or reject orders; its links no longer work.", 403)
    if order.status != states.PENDING_APPROVAL or order.awaiting_answer:
        why = "waits for its requester's answer" if order.status == states.PENDING_APPROVAL else f"is {order.get_status_display().lower()}"
        return LinkRefused(f"Order {order.number} no longer awaits your decision: it {why}.", 410)
    away = delegations.away_now(approver)
    if away is not None:
        return LinkRefused(f"Your approvals are with {away.substitute.get_username()} while you are out of office; "
                           "this link no longer works.", 410)
    try:
        approval_check_eligible(order=order, user=approver, decision=link.decision)
    except PermissionDenied as err:
        return LinkRefused(str(err) or "You cannot take this decision now.", 410)
    return None


def _locked_out(user: AbstractBaseUser) -> bool:
    """Locked out by django-axes from any address: a link must not bypass a lock its owner's password is under."""
    if not settings.AXES_ENABLED:
        return False
    attempts = AccessAttempt.objects.filter(username=user.get_username(), failures_since_start__gte=settings.AXES_FAILURE_LIMIT)
    if settings.AXES_COOLOFF_TIME is not None:
        attempts = attempts.filter(attempt_time__gt=timezone.now() - settings.AXES_COOLOFF_TIME)
    return attempts.exists()


def link_decide(*, link: DecisionLink, comment: str) -> m.RequestVerdict:
    """Use the link once: send its decision as its approver, through approval_decide; the workflow's verdict.

    The link is claimed first (one conditional update: of two clicks racing,
    one wins). If the decision is refused before it is sent, or cannot be
    sent, the claim is released, so nothing changed and the link still works.
    """
    refusal = link_refusal(link)
    if refusal is not None:
        raise refusal
    comment = comment.strip()
    if link.decision == REJECT and not comment:
        raise LinkRefused("A reason is required to reject an order.", 400)
    now = timezone.now()
    with transaction.atomic():
        claimed = DecisionLink.objects.filter(pk=link.pk, used_at__isnull=True, expires_at__gt=now).update(used_at=now)
    if not claimed:
        raise LinkRefused("This link was already used; a link counts once.", 410)
    try:
        return approval_decide(order=link.order, user=link.approver, decision=link.decision, comment=comment,
                               request_id=link.request_id)
    except Exception:
        DecisionLink.objects.filter(pk=link.pk).update(used_at=None)
        raise
