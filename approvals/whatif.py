"""Policy what-if: what a draft change to the approval policies would have
done to the orders of the last N days. Read-only: it writes nothing, sends
nothing and never calls Temporal.

Each order is matched twice with the code submission uses
(`selectors.matching_policy`, `selectors.rule_for`): once against the active
policies as they are ("today"), once against the same set with the edited
policy replaced by the draft (or the draft added, if new). Orders are read
in chunks as plain tuples and folded into a few counters, and everything
else comes from aggregate queries, so 100k orders cost a constant number of
queries and memory bounded by the decisions' delays.

Two estimates, both stated on the page:

- Load per approver: each order's approvals go to the eligible approvers
  (by permission, never its requester, one approval per person per order; a
  senior rule's senior slot to the seniors), in proportion to the decisions
  each actually took on the window's orders ("observed"), or evenly.
- Expiries at the current pace: every approval an order needs is taken to
  arrive after a delay drawn independently from the delays observed in the
  window (order submission to each decision on it), where approvals that
  expired orders never got count as never arriving and orders still pending
  are left out. An order needing k approvals within its expiry T then
  expires with probability 1 - F(T)^k, F being the share of observed delays
  within T.
"""
from __future__ import annotations

from bisect import bisect_right
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from decimal import Decimal
from statistics import median

from django.db.models import Count, Q, Sum
from django.utils import timezone

from approvals import selectors
from approvals.models import ApprovalDecision, ApprovalPolicy
from orders.models import Order
from temporal_bridge.approvals import rules as approval_rules
from temporal_bridge.approvals.messages import ApprovalRule
from temporal_bridge.order import states

DEFAULT_DAYS, MIN_DAYS, MAX_DAYS = 30, 1, 365
OBSERVED, EVEN = "observed", "even"
METHODS = {
    OBSERVED: "In proportion to the decisions each approver took on these orders",
    EVEN: "Spread evenly over the eligible approvers",
}
# The key of the row of orders no active policy covers (the settings' fallback).
FALLBACK = None
NEW = "new"
FALLBACK_TEXT = "the settings' fallback: automatic below ORDER_AUTO_APPROVE_BELOW, else 1 approval"
_EPSILON = 1e-9


@dataclass(frozen=True)
class Approver:
    user_id: int
    username: str
    senior: bool


@dataclass
class Pace:
    """Observed time from an order's submission to each decision on it."""

    delays: list[float]  # seconds, sorted
    never: int = 0  # approvals that expired orders never got

    @property
    def observations(self) -> int:
        return len(self.delays) + self.never

    def share_within(self, seconds: float) -> float | None:
        """F(T): the share of approvals that came within `seconds`; None without any observation."""
        if not self.observations:
            return None
        return bisect_right(self.delays, seconds) / self.observations

    @property
    def median_text(self) -> str:
        return approval_rules.hours(median(self.delays)) if self.delays else "–"


@dataclass
class PolicyRow:
    key: object
    name: str
    today_rule: str
    draft_rule: str
    today_orders: int = 0
    draft_orders: int = 0
    moved_in: int = 0  # under the draft, caught here but by another policy today
    today_approvals: int = 0
    draft_approvals: int = 0
    edited: bool = False


@dataclass
class Side:
    """One policy set's effect on the window's orders."""

    needing_approval: int = 0
    approvals: int = 0
    senior_orders: int = 0
    unmeetable: int = 0  # rules no set of eligible approvers can satisfy
    expected_expiries: float | None = 0.0
    asked: Counter = field(default_factory=Counter)  # username -> orders awaiting them
    decisions: defaultdict = field(default_factory=lambda: defaultdict(float))  # username -> expected approvals


@dataclass
class ApproverLoad:
    username: str
    senior: bool
    observed: int
    asked_today: int
    asked_draft: int
    decisions_today: float
    decisions_draft: float


@dataclass
class WhatIf:
    days: int
    since: datetime
    method: str
    orders: int
    changed: int  # orders whose policy or rule differs under the draft
    rows: list[PolicyRow]
    today: Side
    draft: Side
    approvers: list[ApproverLoad]
    pace: Pace
    observed_expired: int = 0
    draft_expire_share: float | None = None  # F(T) at the draft's expiry

    @property
    def method_text(self) -> str:
        return METHODS[self.method]

    def summary(self) -> list[tuple[str, str, str]]:
        """(what, today, draft) for the page's first table and for reports."""
        def expiries(side: Side) -> str:
            return "not enough decisions to estimate" if side.expected_expiries is None else f"{side.expected_expiries:.1f}"

        return [
            ("Orders needing approval", str(self.today.needing_approval), str(self.draft.needing_approval)),
            ("Approvals required", str(self.today.approvals), str(self.draft.approvals)),
            ("Orders needing a senior approver", str(self.today.senior_orders), str(self.draft.senior_orders)),
            ("Orders no eligible approvers could satisfy", str(self.today.unmeetable), str(self.draft.unmeetable)),
            ("Expected to expire at the current pace", expiries(self.today), expiries(self.draft)),
        ]


# --- The computation (no queries) -----------------------------------------------------------


def compute(
    *,
    today_policies: Sequence[ApprovalPolicy],
    draft_policies: Sequence[ApprovalPolicy],
    orders: Iterable[tuple[Decimal, int | None, int | None]],
    approvers: Sequence[Approver],
    observed: Mapping[str, int],
    pace: Pace,
    method: str = OBSERVED,
    edited: ApprovalPolicy | None = None,
) -> tuple[int, int, list[PolicyRow], Side, Side]:
    """Fold `orders` ((total, customer id, requester id) tuples) through both policy sets.

    Returns (orders, changed, rows, today, draft).
    """
    rows: dict[object, PolicyRow] = {}
    for policy in today_policies:
        rows[policy_key(policy)] = PolicyRow(policy_key(policy), policy.name, rule_text(policy), "")
    for policy in draft_policies:
        row = rows.setdefault(policy_key(policy), PolicyRow(policy_key(policy), policy.name, "", ""))
        row.name, row.draft_rule = policy.name, rule_text(policy)
    edited_key = policy_key(edited) if edited is not None else object()
    if edited is not None and edited_key not in rows:  # an inactive policy left inactive
        rows[edited_key] = PolicyRow(edited_key, edited.name, "", "")

    today_match, draft_match = PolicyMatcher(today_policies), PolicyMatcher(draft_policies)
    # The loop only counts orders per (policy and rule today, in the draft, requester).
    combos: Counter = Counter()
    for total, customer_id, requester_id in orders:
        combos[(*today_match(total, customer_id), *draft_match(total, customer_id), requester_id)] += 1

    groups_today: Counter = Counter()
    groups_draft: Counter = Counter()
    total_orders = changed = 0
    for (t_key, t_sig, d_key, d_sig, requester_id), n in combos.items():
        total_orders += n
        for key in (t_key, d_key):
            if key not in rows:
                rows[key] = PolicyRow(key, "No active policy", FALLBACK_TEXT, FALLBACK_TEXT)
        rows[t_key].today_orders += n
        rows[t_key].today_approvals += n * t_sig[1]
        rows[d_key].draft_orders += n
        rows[d_key].draft_approvals += n * d_sig[1]
        if t_key != d_key:
            rows[d_key].moved_in += n
        if t_key != d_key or t_sig != d_sig:
            changed += n
        groups_today[(t_sig, requester_id)] += n
        groups_draft[(d_sig, requester_id)] += n

    for row in rows.values():
        row.edited = row.key == edited_key
    today = _side(groups_today, approvers, observed, pace, method)
    draft = _side(groups_draft, approvers, observed, pace, method)
    ordered = sorted(rows.values(), key=lambda r: (r.key is FALLBACK, -(r.draft_orders + r.today_orders), r.name))
    return total_orders, changed, ordered, today, draft


def rule_text(policy: ApprovalPolicy) -> str:
    """Which orders, then what they need: a draft may change either."""
    scope = f" from {policy.customer}" if policy.customer_id else ""
    return f"Orders{scope} of {policy.total_range}: {approval_rules.describe_rule(replace(policy.as_rule(), policy_name=''))}"


def policy_key(policy: ApprovalPolicy | None) -> object:
    if policy is None:
        return FALLBACK
    return policy.pk if policy.pk is not None else NEW


class PolicyMatcher:
    """matching_policy and rule_for over one policy set, called once per stretch of totals.

    Which policy covers a total depends only on which policy bounds ("from"
    and "below" totals) it has reached, so between two consecutive bounds
    the answer is the same for a customer: it is asked once per customer
    and stretch, which keeps 100k orders cheap. The settings' fallback rule
    depends on the total itself and is asked per order.
    """

    def __init__(self, policies: Sequence[ApprovalPolicy]):
        self.policies = list(policies)
        self.bounds = sorted({p.min_total for p in self.policies} | {p.max_total for p in self.policies if p.max_total is not None})
        self.memo: dict[tuple[int | None, int], tuple[object, tuple | None]] = {}

    def __call__(self, total: Decimal, customer_id: int | None) -> tuple[object, tuple]:
        """(policy key, rule signature) for an order of `total` by `customer_id`."""
        stretch = (customer_id, bisect_right(self.bounds, total))
        found = self.memo.get(stretch)
        if found is None:
            candidates = [p for p in self.policies if p.customer_id in (customer_id, None)]
            policy = selectors.matching_policy(candidates, total=total, customer_id=customer_id)
            found = self.memo[stretch] = (
                (FALLBACK, None) if policy is None else (policy_key(policy), rule_signature(selectors.rule_for(policy, total=total)))
            )
        if found[1] is None:
            return FALLBACK, rule_signature(selectors.rule_for(None, total=total))
        return found


def rule_signature(rule: ApprovalRule) -> tuple:
    """What of a rule matters to the load and the expiries."""
    if rule.auto_approve:
        return (True, 0, False, 0.0)
    return (False, rule.approvals_required, rule.requires_senior, rule.expire_after_seconds)


def _side(groups: Counter, approvers: Sequence[Approver], observed: Mapping[str, int], pace: Pace, method: str) -> Side:
    side = Side()
    expiries = 0.0
    estimable = True
    for (signature, requester_id), n in groups.items():
        auto, k, senior, expire = signature
        if auto:
            continue
        rule = ApprovalRule(approvals_required=k, requires_senior=senior, expire_after_seconds=expire)
        side.needing_approval += n
        side.approvals += n * k
        side.senior_orders += n if senior else 0
        pool = [a for a in approvers if a.user_id != requester_id]
        # Even if every eligible approver approved, the rule would not be met.
        if not approval_rules.quorum_met(rule, [a.senior for a in pool]):
            side.unmeetable += n
            expiries += n
            continue
        asked = [a for a in pool if a.senior] if approval_rules.senior_slot_only(rule, []) else pool
        for approver in asked:
            side.asked[approver.username] += n
        for approver, share in split_approvals(rule, pool, observed, method).items():
            side.decisions[approver.username] += n * share
        within = pace.share_within(expire)
        if within is None:
            estimable = False
        else:
            expiries += n * (1 - within ** k)
    side.expected_expiries = expiries if estimable else None
    return side


def split_approvals(rule: ApprovalRule, pool: Sequence[Approver], observed: Mapping[str, int], method: str) -> dict[Approver, float]:
    """Expected approvals each of `pool` gives one order under `rule` (at most 1 each)."""
    weights = {a: (observed.get(a.username, 0) if method == OBSERVED else 1) for a in pool}
    shares = dict.fromkeys(pool, 0.0)
    remaining = rule.approvals_required
    if rule.requires_senior:
        _fill(1, [a for a in pool if a.senior], weights, shares)
        remaining -= 1
    _fill(remaining, pool, weights, shares)
    return shares


def _fill(amount: float, people: Sequence[Approver], weights: Mapping[Approver, float], shares: dict[Approver, float]) -> None:
    """Pour `amount` approvals over `people` by weight, nobody above 1 (water-filling).

    Without weight among those still open (nobody there decided anything),
    they share evenly: the approvals must come from someone.
    """
    open_ = [p for p in people if shares[p] < 1 - _EPSILON]
    while amount > _EPSILON and open_:
        total = sum(weights[p] for p in open_)
        portion = {p: (weights[p] / total if total else 1 / len(open_)) * amount for p in open_}
        amount = 0.0
        for p in open_:
            given = min(portion[p], 1 - shares[p])
            shares[p] += given
            amount += portion[p] - given
        open_ = [p for p in open_ if shares[p] < 1 - _EPSILON]


# --- Reading the database (a constant number of queries) ------------------------------------


def draft_policy_set(draft: ApprovalPolicy, today: Sequence[ApprovalPolicy]) -> list[ApprovalPolicy]:
    """Today's active policies with `draft` in place of its saved self (or added, if new)."""
    others = [p for p in today if draft.pk is None or p.pk != draft.pk]
    return [*others, draft] if draft.active else others


def policy_whatif(*, draft: ApprovalPolicy, days: int = DEFAULT_DAYS, method: str = OBSERVED, now: datetime | None = None) -> WhatIf:
    """What `draft` (validated, unsaved) would have done to the orders of the last `days` days."""
    if not MIN_DAYS <= days <= MAX_DAYS:
        raise ValueError(f"days must be between {MIN_DAYS} and {MAX_DAYS}")
    if method not in METHODS:
        raise ValueError(f"unknown method {method!r}")
    now = now or timezone.now()
    since = now - timedelta(days=days)
    today_policies = list(ApprovalPolicy.objects.filter(active=True).select_related("customer"))
    draft_policies = draft_policy_set(draft, today_policies)
    window = Order.objects.filter(created_at__gte=since, created_at__lte=now)
    orders = window.order_by().values_list("total", "customer_id", "created_by_id").iterator(chunk_size=2000)
    window_decisions = ApprovalDecision.objects.filter(order__created_at__gte=since, order__created_at__lte=now)
    approvers = eligible_approvers()
    observed = dict(window_decisions.order_by().values("approver_username").annotate(n=Count("pk")).values_list("approver_username", "n"))
    pace = observed_pace(window, window_decisions)

    count, changed, rows, today, draft_side = compute(
        today_policies=today_policies, draft_policies=draft_policies, orders=orders, approvers=approvers,
        observed=observed, pace=pace, method=method, edited=draft,
    )
    loads = [
        ApproverLoad(
            username=a.username, senior=a.senior, observed=observed.get(a.username, 0),
            asked_today=today.asked[a.username], asked_draft=draft_side.asked[a.username],
            decisions_today=today.decisions[a.username], decisions_draft=draft_side.decisions[a.username],
        )
        for a in approvers
    ]
    return WhatIf(
        days=days, since=since, method=method, orders=count, changed=changed, rows=rows, today=today, draft=draft_side,
        approvers=loads, pace=pace, observed_expired=window.filter(status=states.EXPIRED).count(),
        draft_expire_share=None if draft.auto_approve else pace.share_within(draft.as_rule().expire_after_seconds),
    )


def eligible_approvers() -> list[Approver]:
    seniors = set(selectors.senior_approvers().values_list("pk", flat=True))
    return [Approver(pk, username, pk in seniors) for pk, username in selectors.approvers().values_list("pk", "username")]


def observed_pace(window, window_decisions) -> Pace:
    """Delays of the decisions on the window's orders, and the approvals its expired orders never got."""
    delays = sorted(
        (decided - submitted).total_seconds()
        for decided, submitted in window_decisions.order_by().values_list("created_at", "order__created_at").iterator(chunk_size=5000)
    )
    expired = window.filter(status=states.EXPIRED, requires_approval=True)
    required = expired.aggregate(n=Sum("approvals_required"))["n"] or 0
    got = window_decisions.filter(
        Q(order__status=states.EXPIRED), decision=ApprovalDecision.Decision.APPROVED, superseded=False,
    ).count()
    return Pace(delays=delays, never=max(0, required - got))
