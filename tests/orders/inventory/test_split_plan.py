"""The split rule (temporal_bridge/order/split_plan.py): one warehouse if one holds it all, else the fewest."""
from __future__ import annotations

import pytest

from temporal_bridge.order import split_plan
from temporal_bridge.order.split_plan import PlannedFulfilment, PlannedLine, SplitPlan, plan_split

pytestmark = pytest.mark.database_agnostic

A, B, C = PlannedLine(1, 2), PlannedLine(2, 1), PlannedLine(3, 5)


def test_one_warehouse_holding_the_whole_order_ships_it_alone():
    stock = {"MAIN": {1: 10}, "EAST": {1: 10, 2: 10, 3: 10}, "WEST": {2: 10, 3: 10}}
    plan = plan_split([A, B, C], stock, ["MAIN", "EAST", "WEST"])
    assert plan == SplitPlan([PlannedFulfilment("EAST", [A, B, C])])
    assert not plan.is_split


def test_a_tie_goes_to_the_default_warehouse_then_by_code():
    stock = {code: {1: 10, 2: 10} for code in ("MAIN", "EAST", "WEST")}
    assert plan_split([A, B], stock, ["MAIN", "EAST", "WEST"]).warehouses == ["MAIN"]
    assert plan_split([A, B], stock, ["EAST", "WEST"]).warehouses == ["EAST"]


def test_else_the_fewest_warehouses_even_where_greedy_coverage_would_take_three():
    # EAST holds most lines (3 of 6), but WEST + NORTH hold all six between them.
    lines = [PlannedLine(pid, 1) for pid in range(1, 7)]
    stock = {"EAST": {1: 1, 2: 1, 3: 1}, "WEST": {1: 1, 4: 1, 5: 1}, "NORTH": {2: 1, 3: 1, 6: 1}}
    plan = plan_split(lines, stock, ["EAST", "NORTH", "WEST"])
    assert plan.warehouses == ["NORTH", "WEST"]
    assert [line.product_id for line in plan.fulfilments[0].lines] == [2, 3, 6]
    assert [line.product_id for line in plan.fulfilments[1].lines] == [1, 4, 5]


def test_within_the_chosen_warehouses_a_line_goes_to_the_preferred_one():
    stock = {"MAIN": {1: 10}, "EAST": {1: 10, 2: 10}, "WEST": {3: 10}}
    plan = plan_split([A, B, C], stock, ["MAIN", "EAST", "WEST"])
    # MAIN is not needed: EAST + WEST cover all three lines.
    assert plan == SplitPlan([PlannedFulfilment("EAST", [A, B]), PlannedFulfilment("WEST", [C])])


def test_a_line_is_never_split_and_one_no_warehouse_holds_whole_is_unavailable():
    stock = {"MAIN": {1: 10, 3: 3}, "EAST": {3: 3}}
    plan = plan_split([A, C], stock, ["MAIN", "EAST"])  # 5 of product 3 wanted, 3 + 3 held apart
    assert plan == SplitPlan([PlannedFulfilment("MAIN", [A])], unavailable=[C])


def test_a_warehouse_not_listed_as_active_is_never_chosen():
    stock = {"MAIN": {1: 10}, "CLOSED": {1: 10, 2: 10}}
    plan = plan_split([A, B], stock, ["MAIN"])
    assert plan == SplitPlan([PlannedFulfilment("MAIN", [A])], unavailable=[B])


def test_nothing_available_is_a_plan_with_no_fulfilment():
    assert plan_split([A], {}, ["MAIN"]) == SplitPlan(unavailable=[A])


def test_beyond_the_exact_search_limit_greedy_coverage_still_covers_every_line():
    codes = [f"W{i:02d}" for i in range(split_plan.EXACT_SEARCH_LIMIT + 3)]
    lines = [PlannedLine(pid, 1) for pid in range(len(codes))]
    stock = {code: {pid: 1} for pid, code in enumerate(codes)}  # each line in one warehouse only
    stock["W14"].update({0: 1, 1: 1, 2: 1})
    plan = plan_split(lines, stock, codes)
    assert sorted(line.product_id for f in plan.fulfilments for line in f.lines) == list(range(len(codes)))
    assert len(plan.fulfilments) == len(codes) - 3  # W14 takes lines 0-2 and the three warehouses holding only one of them drop out
    assert not plan.unavailable


def test_the_plan_in_words():
    plan = SplitPlan([PlannedFulfilment("MAIN", [A, B]), PlannedFulfilment("EAST", [PlannedLine(4, 1)])], unavailable=[C])
    assert split_plan.describe(plan, {3: "SRV-1"}) == "MAIN: 2 lines (3 units); EAST: 1 line (1 unit); unavailable: 5 × SRV-1"
