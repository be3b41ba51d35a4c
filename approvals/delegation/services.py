"""Delegation (out of office): the rules, the writes and the reads.

A delegation lets a substitute hold a manager's approvals for a range of
days. What it changes, and where:

- the substitute's inbox lists the delegator's orders (`awaiting_on_behalf`),
  their decisions carry `on_behalf_of` and are checked here before they are
  sent (`approval_check_eligible`) and again by the workflow, whose identity
  check (`approvals.identity.actor_verify`) asks `standing_delegation` at
  that moment;
- reminders and escalations meant for the delegator reach the substitute
  (`holders_of_work`).

It never widens what anyone may do: the substitute needs the approver
permission of their own, both people count once, neither decides on their
own order, and a senior slot needs the substitute's own seniority.
"""
from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractBaseUser
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.db.models import Exists, OuterRef, Q, QuerySet
from django.utils import timezone

from approvals import selectors
from approvals.delegation.models import Delegation
from orders.exceptions import ActionNotAllowed
from orders.models import Order

# How far ahead a delegation may start, and how long it may last: bounds that
# keep every date arithmetic in range (no year 9999 overflow) and plans honest.
MAX_DAYS_AHEAD = 366
MAX_DAYS_LONG = 366


# --- Rules --------------------------------------------------------------------------------


def check_rules(delegation: Delegation) -> None:
    """Raise ValidationError unless `delegation` may be saved (new or changed)."""
    d = delegation
    if not (d.delegator_id and d.substitute_id and d.starts_at and d.ends_at):
        return  # the form reports the missing fields itself
    if d.delegator_id == d.substitute_id:
        raise ValidationError({"substitute": "Nobody can stand in for themselves; name someone else."})
    if d.ends_at <= d.starts_at:
        raise ValidationError({"ends_at": "The delegation must end after it starts."})
    if d.ended_at is not None:
        return  # an ended delegation gives no right: nothing below can clash with it
    if not selectors.approvers().filter(pk=d.substitute_id).exists():
        raise ValidationError({"substitute": f"{d.substitute} is not an active approver and cannot hold approvals."})
    others = Delegation.objects.overlapping(d.starts_at, d.ends_at).exclude(pk=d.pk)
    if (clash := others.filter(delegator_id=d.delegator_id).first()) is not None:
        raise ValidationError(
            f"{d.delegator} already has a delegation to {clash.substitute} from {clash.first_day} to {clash.last_day}; "
            "one at a time: end it first."
        )
    # No chains: the substitute must be in, and the delegator must not be
    # holding someone else's work, or that work would reach nobody.
    if (away := others.filter(delegator_id=d.substitute_id).first()) is not None:
        raise ValidationError({"substitute": f"{d.substitute} is out of office themselves from {away.first_day} to {away.last_day}."})
    if (holding := others.filter(substitute_id=d.delegator_id).first()) is not None:
        raise ValidationError(
            f"{d.delegator} stands in for {holding.delegator} from {holding.first_day} to {holding.last_day}; "
            "that delegation must end first."
        )


def day_range(first_day: date, last_day: date, *, today: date | None = None) -> tuple[datetime, datetime]:
    """[start of `first_day`, start of the day after `last_day`) in the desk's time zone, within the bounds."""
    today = today or timezone.localdate()
    if last_day < first_day:
        raise ValidationError({"last_day": "The last day cannot come before the first."})
    if last_day < today:
        raise ValidationError({"last_day": "The last day has passed already."})
    if first_day > today + timedelta(days=MAX_DAYS_AHEAD):
        raise ValidationError({"first_day": f"A delegation can start at most {MAX_DAYS_AHEAD} days ahead."})
    if (last_day - first_day).days + 1 > MAX_DAYS_LONG:
        raise ValidationError({"last_day": f"A delegation can last at most {MAX_DAYS_LONG} days."})
    zone = timezone.get_current_timezone()
    starts_at = timezone.make_aware(datetime.combine(first_day, time.min), zone)
    ends_at = timezone.make_aware(datetime.combine(last_day + timedelta(days=1), time.min), zone)
    return starts_at, ends_at


# --- Writes --------------------------------------------------------------------------------


@transaction.atomic
def delegation_create(
    *, delegator: AbstractBaseUser, substitute: AbstractBaseUser, starts_at: datetime, ends_at: datetime, created_by: AbstractBaseUser,
) -> Delegation:
    """Name `substitute` for `delegator` over [starts_at, ends_at); the same one again is the same delegation."""
    if not delegator.has_perm(selectors.APPROVE_PERMISSION):
        raise PermissionDenied("Only approvers can name a substitute.")
    # Both people's rows locked, in one order: two concurrent requests cannot
    # both pass the overlap rule and write clashing delegations.
    list(get_user_model().objects.select_for_update().filter(pk__in=[delegator.pk, substitute.pk]).order_by("pk"))
    same = Delegation.objects.filter(delegator=delegator, substitute=substitute, starts_at=starts_at, ends_at=ends_at)
    if (existing := same.filter(ended_at__isnull=True).first()) is not None:
        return existing  # a double submit
    delegation = Delegation(delegator=delegator, substitute=substitute, starts_at=starts_at, ends_at=ends_at, created_by=created_by)
    delegation.full_clean(exclude=["created_by"])
    check_rules(delegation)
    delegation.save()
    return delegation


@transaction.atomic
def delegation_end(*, delegation_id: int, user: AbstractBaseUser) -> Delegation:
    """End a standing delegation now, or call off an upcoming one. Only its delegator (or whoever made it) may."""
    delegation = (Delegation.objects.select_for_update(of=("self",)).select_related("delegator", "substitute")
                  .filter(pk=delegation_id).first())
    if delegation is None or user.pk not in (delegation.delegator_id, delegation.created_by_id):
        raise Delegation.DoesNotExist("No such delegation of yours.")
    if not delegation.can_end:
        raise ActionNotAllowed(f"This delegation is {delegation.status} already; nothing was changed.")
    delegation.ended_at = timezone.now()
    delegation.save(update_fields=["ended_at"])
    return delegation


# --- Reads ---------------------------------------------------------------------------------


def standing_delegation(*, delegator_username: str, substitute: AbstractBaseUser, at: datetime | None = None) -> Delegation | None:
    """The delegation from `delegator_username` to `substitute` in force now, if any."""
    # A name no user can have is never queried: PostgreSQL refuses NUL bytes
    # in text (a 500 in a view, an endlessly retried identity check).
    if not delegator_username or len(delegator_username) > 150 or not delegator_username.isprintable():
        return None
    return (Delegation.objects.standing(at).select_related("delegator")
            .filter(delegator__username=delegator_username, substitute=substitute).first())


def standing_for(substitute: AbstractBaseUser) -> list[Delegation]:
    """Whose work `substitute` holds now."""
    return list(Delegation.objects.standing().filter(substitute=substitute).select_related("delegator").order_by("delegator__username"))


def away_now(delegator: AbstractBaseUser) -> Delegation | None:
    return Delegation.objects.standing().filter(delegator=delegator).select_related("substitute").first()


def delegations_of(user: AbstractBaseUser) -> QuerySet[Delegation]:
    """A person's own delegations, both ways, newest first (for the out-of-office page)."""
    return Delegation.objects.filter(Q(delegator=user) | Q(substitute=user)).select_related("delegator", "substitute")


def decided_on(order: Order, username: str) -> bool:
    """Whether `username` counts already on `order`, as approver or as the one stood in for."""
    return selectors.counting_decisions().filter(selectors.decided_by(username), order=order).exists()


def on_behalf_refusal(*, order: Order, user: AbstractBaseUser, delegator_username: str) -> str | None:
    """Why `user` may not decide on `order` on behalf of `delegator_username` now (None: they may)."""
    if standing_delegation(delegator_username=delegator_username, substitute=user) is None:
        return "No delegation to you from that person stands now; you can only decide for yourself."
    if order.created_by is not None and order.created_by.get_username() == delegator_username:
        return f"{delegator_username} created this order; nobody decides on their own order, nor does their substitute."
    if decided_on(order, delegator_username):
        return f"{delegator_username} has already decided on this order; one person counts once."
    return None


@dataclass(frozen=True)
class OnBehalfRows:
    """One delegation's part of the substitute's inbox."""

    delegation: Delegation
    orders: list[Order]


def awaiting_on_behalf(user: AbstractBaseUser, *, limit: int = 100) -> list[OnBehalfRows]:
    """For each delegation `user` holds now: the delegator's orders they may decide on its behalf.

    Pending orders that neither person created nor has decided on, and that
    `user` (by their own seniority) could still move.
    """
    sections = []
    for delegation in standing_for(user):
        names = [delegation.delegator.get_username(), user.get_username()]
        counted = selectors.counting_decisions().filter(order=OuterRef("pk")).filter(
            Q(approver_username__in=names) | Q(on_behalf_of_username__in=names))
        orders = selectors.awaiting_decision(user).exclude(created_by=delegation.delegator).exclude(Exists(counted))
        sections.append(OnBehalfRows(delegation, list(orders[:limit])))
    return sections


def holders_of_work(people: Iterable[AbstractBaseUser], *, order: Order, excluded: set[str], senior_only: bool) -> list[AbstractBaseUser]:
    """`people` meant to hear about `order`, each one who is away replaced by
    their substitute, when the substitute could act on it: not excluded (the
    requester, or already counted), not its creator, senior when only a
    senior can still count. Otherwise the email still goes to the person
    away: nobody else could act in their place. No one twice."""
    people = list(people)
    standing = {d.delegator_id: d.substitute for d in Delegation.objects.standing().filter(
        delegator__in=people).select_related("substitute")}
    holders, seen = [], set()
    for person in people:
        substitute = standing.get(person.pk)
        if substitute is not None and _could_act(substitute, order=order, excluded=excluded, senior_only=senior_only):
            person = substitute
        if person.pk not in seen:
            seen.add(person.pk)
            holders.append(person)
    return holders


def _could_act(user: AbstractBaseUser, *, order: Order, excluded: set[str], senior_only: bool) -> bool:
    if not user.is_active or user.get_username() in excluded or order.created_by_id == user.pk:
        return False
    if not user.has_perm(selectors.APPROVE_PERMISSION):
        return False
    return not senior_only or selectors.is_senior(user)
