"""Which warehouses ship an order: the split rule, stated once.

Free of Django: the reservation (orders.inventory.services) plans with it
under its row locks, the order page and the inbox preview an order's plan
with it from the stock as it is now, and the workflow may read the plan it
returns.

The rule:
1. A line ships whole from one warehouse (a line is never split); a line no
   active warehouse holds in full is *unavailable*.
2. If one warehouse holds every available line, it ships the order alone.
   Ties go to the warehouses' order: the default warehouse first, then by
   code.
3. Otherwise the order ships from the fewest warehouses that hold every
   available line. With up to EXACT_SEARCH_LIMIT candidate warehouses the
   search is exact (every set of 2, then 3, ... warehouses, in the
   warehouses' order; the first set that covers wins); beyond that it is
   greedy by coverage (take the warehouse holding most of the lines still
   uncovered, ties to the warehouses' order), which is at most a few
   warehouses worse and costs one pass per warehouse taken.
4. Within the chosen warehouses each line goes to the first, in the
   warehouses' order, that holds it.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from itertools import combinations

from temporal_bridge.contract.payload_types import resolve_annotations

# 2**12 sets at most: fast enough to run under row locks.
EXACT_SEARCH_LIMIT = 12


@dataclass(frozen=True)
class PlannedLine:
    product_id: int
    quantity: int


@dataclass
class PlannedFulfilment:
    """The lines one warehouse ships (keys, not state: the warehouse's code and the products)."""

    warehouse: str
    lines: list[PlannedLine] = field(default_factory=list)

    @property
    def units(self) -> int:
        return sum(line.quantity for line in self.lines)


@dataclass
class SplitPlan:
    fulfilments: list[PlannedFulfilment] = field(default_factory=list)
    unavailable: list[PlannedLine] = field(default_factory=list)

    @property
    def warehouses(self) -> list[str]:
        return [fulfilment.warehouse for fulfilment in self.fulfilments]

    @property
    def is_split(self) -> bool:
        return len(self.fulfilments) > 1


def plan_split(lines: list[PlannedLine], available: dict[str, dict[int, int]], warehouse_order: list[str]) -> SplitPlan:
    """The plan for `lines`, given each warehouse's units available per product.

    `warehouse_order` lists the active warehouses, preferred first (the
    default, then by code); a warehouse missing from it is never chosen.
    """
    lines = sorted(lines, key=lambda line: line.product_id)
    holders = {line.product_id: [code for code in warehouse_order
                                 if available.get(code, {}).get(line.product_id, 0) >= line.quantity]
               for line in lines}
    unavailable = [line for line in lines if not holders[line.product_id]]
    coverable = [line for line in lines if holders[line.product_id]]
    if not coverable:
        return SplitPlan(unavailable=unavailable)
    needed = frozenset(line.product_id for line in coverable)
    covers = {code: frozenset(pid for pid in needed if code in holders[pid]) for code in warehouse_order}
    candidates = [code for code in warehouse_order if covers[code]]
    chosen = _fewest_covering(candidates, covers, needed)
    fulfilments = [PlannedFulfilment(code) for code in chosen]
    for line in coverable:
        first = next(fulfilment for fulfilment in fulfilments if line.product_id in covers[fulfilment.warehouse])
        first.lines.append(line)
    return SplitPlan(fulfilments=[f for f in fulfilments if f.lines], unavailable=unavailable)


def _fewest_covering(candidates: list[str], covers: dict[str, frozenset[int]], needed: frozenset[int]) -> list[str]:
    if len(candidates) <= EXACT_SEARCH_LIMIT:
        for size in range(1, len(candidates) + 1):
            for chosen in combinations(candidates, size):
                if frozenset().union(*(covers[code] for code in chosen)) >= needed:
                    return list(chosen)
    chosen_greedily: list[str] = []
    uncovered = set(needed)
    while uncovered:
        best = max(candidates, key=lambda code: (len(covers[code] & uncovered), -candidates.index(code)))
        chosen_greedily.append(best)
        uncovered -= covers[best]
    # In the warehouses' order, so lines go to the preferred one among those chosen.
    return [code for code in candidates if code in chosen_greedily]


def describe(plan: SplitPlan, sku: dict[int, str] | None = None) -> str:
    """The plan in words, e.g. "MAIN: 2 lines (5 units); EAST: 1 line (1 unit); unavailable: SRV-1"."""
    def name(product_id: int) -> str:
        return (sku or {}).get(product_id, f"product {product_id}")

    parts = [f"{f.warehouse}: {_count(len(f.lines), 'line')} ({_count(f.units, 'unit')})" for f in plan.fulfilments]
    if plan.unavailable:
        parts.append("unavailable: " + ", ".join(f"{line.quantity} × {name(line.product_id)}" for line in plan.unavailable))
    return "; ".join(parts) or "nothing to ship"


def _count(n: int, word: str) -> str:
    return f"{n} {word}{'' if n == 1 else 's'}"


resolve_annotations(globals())  # after the last class: see temporal_bridge.contract.payload_types
