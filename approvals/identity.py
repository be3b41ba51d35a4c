"""Who sent a person's message to a workflow, and whether it may count.

The workflow cannot look anything up, and a message proves nothing about its
sender: anyone who reaches the Temporal frontend can name a real manager. So,
before a person's message counts, the workflow asks the database through one
read-only activity (temporal_bridge.contract.intents.ACT_CONFIRM_MESSAGES):

- did the desk record this request, for this order, from this actor, with
  this content (orders.intents)? Only the service that authorised it writes
  that row, before it sends the signal;
- may its actor still take it now: the account active, the permission held,
  the delegation standing, not their own order (`actor_verify`), with their
  seniority from the database, never from the message;
- for a provider's event, did the webhook intake store it (orders.webhooks.checks)?

Nothing here raises on what a raw signal can carry: a refusal is an answer.
"""
from __future__ import annotations

from collections.abc import Sequence

from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractBaseUser

from approvals import selectors
from approvals.delegation import services as delegations
from approvals.discussion import rules as discussion_rules
from orders.amounts import MAX_ID
from orders.intents.services import differences, intents_recorded
from orders.models import Order
from orders.webhooks import checks as webhook_checks
from temporal_bridge.contract.intents import ActorCheckInput, ActorCheckResult, IntentCheck, MessageChecks, MessageConfirmations
from temporal_bridge.order import holds, intents, stock_decisions, withdrawal
from temporal_bridge.order import messages as m

NO_RECORD = "the desk has no record of this request: it was not sent from the desk"


def messages_confirm(checks: MessageChecks) -> MessageConfirmations:
    """One answer per check, in the order asked: what the workflow's ACT_CONFIRM_MESSAGES returns."""
    return MessageConfirmations(intents=intents_confirm(checks.intents or []),
                                        events=webhook_checks.events_confirm(checks.events or []))


def intents_confirm(checks: Sequence[IntentCheck]) -> list[ActorCheckResult]:
    """Each person's message counts if the desk recorded it as sent, and its actor may still take it.

    The recorded intents of the whole batch are read in one query; a check no
    row could match (a NUL byte, an over-long id) is refused without asking.
    """
    asked = [check if _well_formed(check) else None for check in checks]
    recorded = intents_recorded((check.order_id, check.request_id) for check in asked if check is not None)
    answers = []
    for check in asked:
        row = recorded.get((check.order_id, check.request_id)) if check is not None else None
        if check is None or row is None:
            answers.append(ActorCheckResult(False, NO_RECORD))
            continue
        differs = differences(row, actor=check.actor, on_behalf_of=check.on_behalf_of, signal=check.signal, digest=check.digest)
        if differs:
            answers.append(ActorCheckResult(False, f"the request differs from what the desk recorded (its {', '.join(differs)})"))
            continue
        answers.append(actor_verify(ActorCheckInput(order_id=check.order_id, actor=check.actor, action=check.signal,
                                                      on_behalf_of=check.on_behalf_of)))
    return answers


def _well_formed(check: object) -> bool:
    if not isinstance(check, IntentCheck):
        return False
    order_id, texts = check.order_id, (check.request_id, check.actor, check.on_behalf_of, check.signal, check.digest)
    return (
        isinstance(order_id, int) and not isinstance(order_id, bool) and 0 < order_id <= MAX_ID
        and all(isinstance(text, str) and text.isprintable() for text in texts)
        and 0 < len(check.request_id) <= m.MAX_REQUEST_ID and 0 < len(check.actor) <= m.MAX_ACTOR
        and len(check.on_behalf_of) <= m.MAX_ACTOR and check.signal in intents.PERSON_SIGNALS
    )


# What each action a person sends to a workflow requires, checked (by actor_verify) before the message counts.
ACTION_PERMISSIONS = {
    m.SIGNAL_APPROVE: (selectors.APPROVE_PERMISSION, "approve or reject orders"),
    m.SIGNAL_REJECT: (selectors.APPROVE_PERMISSION, "approve or reject orders"),
    m.SIGNAL_CANCEL: ("orders.cancel_order", "cancel orders"),
    m.SIGNAL_UPDATE: ("orders.change_order", "change orders"),
    holds.SIGNAL_RELEASE_HOLD: (selectors.APPROVE_PERMISSION, "release holds on orders"),
    # The requester may choose too, whatever their permissions (below).
    stock_decisions.SIGNAL_STOCK_DECISION: ("orders.change_order", "change orders"),
    withdrawal.SIGNAL_WITHDRAW_APPROVAL: (selectors.APPROVE_PERMISSION, "approve or reject orders"),
}


def actor_verify(check: ActorCheckInput) -> ActorCheckResult:
    """Whether the person a message names may take its action on the order now.

    The workflow asks before anything a message says counts: the message's
    own claims (who sent it, whether they are senior) are never trusted.
    """
    required = ACTION_PERMISSIONS.get(check.action)
    discussion = check.action in discussion_rules.ACTIONS
    if required is None and not discussion:
        return ActorCheckResult(False, f"{check.action!r} is not an action a person can take")
    # A name no user can have is never queried: PostgreSQL refuses NUL bytes
    # in text, and the identity check would fail and be retried for ever.
    if not check.actor or len(check.actor) > m.MAX_ACTOR or not check.actor.isprintable():
        return ActorCheckResult(False, f"{check.actor!r} is not a user of the desk")
    user = get_user_model().objects.filter(username=check.actor).first()
    if user is None:
        return ActorCheckResult(False, f"{check.actor} is not a user of the desk")
    if not user.is_active:
        return ActorCheckResult(False, f"{check.actor}'s account is inactive")
    if discussion:
        return _discussion_verify(check, user)
    permission, what = required
    requester_choosing = (check.action == stock_decisions.SIGNAL_STOCK_DECISION and not check.on_behalf_of
                          and Order.objects.filter(pk=check.order_id, created_by=user).exists())
    if not user.has_perm(permission) and not requester_choosing:
        return ActorCheckResult(False, f"{check.actor} is not allowed to {what}")
    if check.action in (m.SIGNAL_APPROVE, m.SIGNAL_REJECT) and Order.objects.filter(pk=check.order_id, created_by=user).exists():
        return ActorCheckResult(False, "the requester cannot decide on their own order")
    if check.on_behalf_of:
        # Only a decision, and only while the delegation stands at this moment.
        if check.action not in (m.SIGNAL_APPROVE, m.SIGNAL_REJECT):
            return ActorCheckResult(False, "only approvals and rejections can be made on behalf of someone")
        if delegations.standing_delegation(delegator_username=check.on_behalf_of, substitute=user) is None:
            return ActorCheckResult(False, f"no delegation from {check.on_behalf_of!r} to {check.actor} stands now"
                                      if not check.on_behalf_of.isprintable() else
                                      f"no delegation from {check.on_behalf_of} to {check.actor} stands now")
        if Order.objects.filter(pk=check.order_id, created_by__username=check.on_behalf_of).exists():
            return ActorCheckResult(False, f"{check.on_behalf_of} is the requester, and nobody decides on their own order")
    # The actor's own seniority, never the delegator's: a senior slot needs a senior person.
    return ActorCheckResult(True, senior=selectors.is_senior(user))


def _discussion_verify(check: ActorCheckInput, user: AbstractBaseUser) -> ActorCheckResult:
    """A comment, a question or an answer: by the rules of approvals.discussion.rules, for oneself only."""
    if check.on_behalf_of:
        return ActorCheckResult(False, "only approvals and rejections can be made on behalf of someone")
    order = Order.objects.filter(pk=check.order_id).first()
    if order is None:
        return ActorCheckResult(False, "the order does not exist")
    reason = discussion_rules.refusal(check.action, order=order, user=user)
    if reason is not None:
        return ActorCheckResult(False, reason)
    return ActorCheckResult(True, senior=selectors.is_senior(user))
