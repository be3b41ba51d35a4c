"""Erasing a customer: destroy their data key, rewrite the mirror, record it, in one transaction.

What goes: the customer's name and e-mail, their orders' shipping addresses
and notes, the timeline entries that carry them (edits of the address or the
note), every mention of the name, e-mail or an address line in the other
free texts (comments, questions, answers, decision comments, e-mail subjects,
carrier descriptions, the customer filter of recorded audit exports), and
the key, so every copy of their payloads in Temporal (history, archive,
backup) is unreadable from then on. What stays,
for the audit: amounts, lines, states, decisions and their approvers, times.

The three steps commit together or not at all: a process killed between
them leaves the customer as they were, and erasing them again works; a
customer erased already is a no-op that says so.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.contrib.auth.models import AbstractBaseUser
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from approvals.models import ApprovalDecision, AuditExport
from orders.exceptions import OrderError
from orders.models import Customer, CustomerNotification, Order, OrderEvent, ParcelEvent
from orders.privacy.keys import customer_keys, new_key_id
from orders.privacy.models import CustomerDataKey, CustomerErasure
from temporal_bridge.order import states

PERMISSION = "orders.erase_customer"
MAX_REASON = 500
RETENTION_ACTOR = "retention"
# Entries whose whole text is the customer's data: an edit of the address or the note.
WHOLLY_PERSONAL_KINDS = (OrderEvent.Kind.UPDATE, OrderEvent.Kind.NOTE)
# How long after its final state an order's workflow may still be completing.
CLOSING_GRACE = timedelta(minutes=2)
# Address lines shorter than this ("UK", "12") would blank ordinary words elsewhere.
MIN_FRAGMENT = 4


class ErasureRefused(OrderError):
    status_code = 409


@dataclass(frozen=True)
class ErasureOutcome:
    customer_id: int
    erased_at: datetime
    orders_count: int
    # False: the customer had been erased before, and nothing changed now.
    erased_now: bool

    @property
    def message(self) -> str:
        when = f"{self.erased_at:%Y-%m-%d %H:%M} UTC"
        if not self.erased_now:
            return f"Customer {self.customer_id} was erased already on {when}; nothing changed."
        return f"Customer {self.customer_id} erased on {when}: their personal data in {self.orders_count} order(s) and their key are gone."


def placeholder(customer_id: int) -> str:
    return f"Erased customer {customer_id}"


def erased_email(customer_id: int) -> str:
    return f"erased-customer-{customer_id}@erased.invalid"


def running_orders(customer_id: int) -> list[Order]:
    """The customer's orders whose workflow may still write their data (the mirror's word for it).

    An order that closed moments ago counts too: its last activity wrote the
    final state, and the workflow still hands that activity's result back and
    completes, under the customer's key.
    """
    just_closed = Q(status__in=states.TERMINAL, updated_at__gt=timezone.now() - CLOSING_GRACE)
    orders = Order.objects.filter(customer_id=customer_id).filter(~Q(status__in=states.TERMINAL) | just_closed)
    return list(orders.order_by("pk"))


@transaction.atomic
def customer_erase(*, customer_id: int, actor: AbstractBaseUser | None, reason: str) -> ErasureOutcome:
    """Erase the customer's personal data for good. `actor` None: the retention rule."""
    if actor is not None and not actor.has_perm(PERMISSION):
        raise PermissionDenied("You are not allowed to erase customers' personal data.")
    reason = (reason or "").strip()
    if not reason:
        raise ErasureRefused("A reason is required to erase a customer (a request reference, the rule that applies).")
    if len(reason) > MAX_REASON:
        raise ErasureRefused(f"The reason is limited to {MAX_REASON} characters.")
    # The customer's row, locked: a concurrent erasure waits here and then finds the record; an order being
    # submitted for them waits too, and then is refused (orders.services.order_submit).
    customer = Customer.objects.select_for_update().filter(pk=customer_id).first()
    if customer is None:
        raise ErasureRefused(f"There is no customer {customer_id}.")
    earlier = CustomerErasure.objects.filter(customer=customer).first()
    if earlier is not None:
        return ErasureOutcome(customer.pk, earlier.erased_at, earlier.orders_count, erased_now=False)
    running = running_orders(customer.pk)
    if running:
        names = ", ".join(str(order) for order in running[:10]) + (" ..." if len(running) > 10 else "")
        raise ErasureRefused(f"Customer {customer.pk} has {len(running)} order(s) still running or closed in the last "
                             f"{CLOSING_GRACE.seconds // 60} minutes ({names}): wait for them to end, or cancel them first "
                             "(erase_customer --stop-running). Nothing was erased.")
    now = timezone.now()
    key_id = _destroy_key(customer, now)
    orders_count = _rewrite_mirror(customer)
    _record(customer, now, actor, reason, orders_count)
    # This process's cache forgets the key at once; the others within subject_keys.KEY_TTL.
    transaction.on_commit(lambda: customer_keys.forget(key_id))
    return ErasureOutcome(customer.pk, now, orders_count, erased_now=True)


def _destroy_key(customer: Customer, now: datetime) -> str:
    row = CustomerDataKey.objects.select_for_update().filter(customer=customer).first()
    if row is None:
        # Never had one (no order reached Temporal under a customer key): a destroyed one, so none is made later.
        row = CustomerDataKey(customer=customer, key_id=new_key_id())
    row.wrapped_key, row.destroyed_at = None, now
    row.save()
    return row.key_id


def _rewrite_mirror(customer: Customer) -> int:
    text = placeholder(customer.pk)
    orders = Order.objects.filter(customer=customer)
    order_ids = list(orders.values_list("pk", flat=True))
    fragments = _fragments(customer, orders)
    orders.update(shipping_address=text)
    orders.exclude(note="").update(note=text)
    OrderEvent.objects.filter(order_id__in=order_ids, kind__in=WHOLLY_PERSONAL_KINDS).update(message=f"({text}: details erased)")
    mentions = _mentioning(fragments)
    _scrub(OrderEvent.objects.filter(order_id__in=order_ids).filter(mentions("message")), "message", fragments, text)
    _scrub(ApprovalDecision.objects.filter(order_id__in=order_ids).filter(mentions("comment")), "comment", fragments, text)
    _scrub(ParcelEvent.objects.filter(parcel__order_id__in=order_ids).filter(mentions("description")), "description", fragments, text)
    notifications = CustomerNotification.objects.filter(order_id__in=order_ids)
    _scrub(notifications.filter(mentions("subject")), "subject", fragments, text)
    notifications.update(recipient=erased_email(customer.pk))
    _scrub_export_filters(fragments, text)
    customer.name, customer.email = text, erased_email(customer.pk)
    customer.save(update_fields=["name", "email"])
    return len(order_ids)


def _record(customer: Customer, now: datetime, actor: AbstractBaseUser | None, reason: str, orders_count: int) -> None:
    CustomerErasure.objects.create(customer=customer, erased_at=now, reason=reason, orders_count=orders_count,
                                   erased_by=actor.get_username() if actor is not None else RETENTION_ACTOR,
                                   by_retention=actor is None)


def _fragments(customer: Customer, orders) -> list[str]:
    """The strings that name the customer: name, e-mail, each line of each address they used; longest first."""
    found = {customer.name.strip(), customer.email.strip()}
    for address in orders.values_list("shipping_address", flat=True):
        found.update(line.strip(" ,") for line in re.split(r"[\n,]", address))
    return sorted((f for f in found if len(f) >= MIN_FRAGMENT), key=len, reverse=True)


def _mentioning(fragments: list[str]):
    def condition(field: str) -> Q:
        q = Q(pk__in=[])
        for fragment in fragments:
            q |= Q(**{f"{field}__icontains": fragment})
        return q
    return condition


def _scrub(queryset, field: str, fragments: list[str], text: str) -> None:
    if not fragments:
        return
    pattern = re.compile("|".join(re.escape(f) for f in fragments), re.IGNORECASE)
    for row in queryset.only("pk", field):
        setattr(row, field, pattern.sub(text, getattr(row, field))[: row._meta.get_field(field).max_length or None])
        row.save(update_fields=[field])


def _scrub_export_filters(fragments: list[str], text: str) -> None:
    """The record of an audit export keeps its filters: an auditor who searched the customer by name named them."""
    if not fragments:
        return
    pattern = re.compile("|".join(re.escape(f) for f in fragments), re.IGNORECASE)
    for export in AuditExport.objects.filter(filters__has_key="customer").only("pk", "filters"):
        searched = str(export.filters["customer"]).strip()
        # The search named them if it holds a part of theirs, or is a part of one ("acme corp" of "Acme Corporation").
        part_of = len(searched) >= MIN_FRAGMENT and any(searched.lower() in fragment.lower() for fragment in fragments)
        if part_of or pattern.search(searched):
            export.filters["customer"] = text if part_of else pattern.sub(text, searched)
            export.save(update_fields=["filters"])
