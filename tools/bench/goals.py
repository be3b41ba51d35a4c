"""The table's closing rows: every figure the performance goals name, with its goal and verdict, in one place.

The engine's figures come from the sections' `ctx.figures`. The web's
figures are read back from the rows the polling and list sections added,
by their section and measure labels. A figure the run did not measure says so.
"""
from __future__ import annotations

import re

from tools.bench.context import Context
from tools.bench.report import Row, at_least, at_most
from tools.bench.sections import CPU_PER_ORDER_GOAL, RATIO_GOALS, WORKER_CPU_PER_ORDER_GOAL

SECTION = "Goals (the order path and the live panel)"
NOT_RUN = "not measured in this run"

WORKER_CPU_GOAL = WORKER_CPU_PER_ORDER_GOAL
ALL_CPU_GOAL = CPU_PER_ORDER_GOAL
AUTO_RATIO = RATIO_GOALS[(False, "business")]  # goal, moonshot
MANAGER_RATIO = RATIO_GOALS[(True, "business")][0]
PSYCOPG_RATIO = RATIO_GOALS[(False, "psycopg")][0]
POLL_CPU_GOAL_MS, POLL_QUERIES_GOAL = 1.5, 2
SLOW_PACE_P95 = {200: 0.100, 1000: 0.250}  # pages following the panel's own pace: p95 goal
FAST_P95, SERVED = 0.250, 0.99
# The words that mark the measurements taken the full way (no unchanged-poll shortcut): the reference, not the goal's case.
FULL_WAY = "the full way"


def summary(ctx: Context) -> None:
    t, f = ctx.table, ctx.figures
    add = t.add

    # The engine.
    if "auto rate real" in f:
        ratio = f["auto rate real"] / f["auto rate business"]
        verdict = at_least(ratio, AUTO_RATIO[0])
        if verdict == "met" and ratio >= AUTO_RATIO[1]:
            verdict = "met, moonshot too"
        add(SECTION, "auto-approved orders/s: real / bare-SDK business shape",
            f"{f['auto rate real']:.1f} / {f['auto rate business']:.1f} (ratio {ratio:.2f})",
            f"≥ {AUTO_RATIO[0]} (moonshot {AUTO_RATIO[1]})", verdict)
        add(SECTION, "CPU per auto-approved order, all processes (real / business shape)",
            f"{f['auto cpu real'] * 1000:.0f} ms / {f['auto cpu business'] * 1000:.0f} ms", f"≤ {ALL_CPU_GOAL * 1000:.0f} ms",
            at_most(f["auto cpu real"], ALL_CPU_GOAL))
        add(SECTION, "worker CPU per auto-approved order (real / business shape)",
            f"{f['auto worker cpu real'] * 1000:.0f} ms / {f['auto worker cpu business'] * 1000:.0f} ms",
            f"≤ {WORKER_CPU_GOAL * 1000:.0f} ms", at_most(f["auto worker cpu real"], WORKER_CPU_GOAL))
        if "auto rate psycopg" in f:
            ratio = f["auto rate real"] / f["auto rate psycopg"]
            add(SECTION, "auto-approved orders/s: real / psycopg shape (the business shape doing the real writes)",
                f"{f['auto rate real']:.1f} / {f['auto rate psycopg']:.1f} (ratio {ratio:.2f})", f"≥ {PSYCOPG_RATIO}",
                at_least(ratio, PSYCOPG_RATIO))
        else:
            add(SECTION, "auto-approved orders/s: real / psycopg shape", "not measured: needs PostgreSQL", f"≥ {PSYCOPG_RATIO}")
    else:
        for figure, goal in (("auto-approved orders/s: real / bare-SDK business shape", f"≥ {AUTO_RATIO[0]} (moonshot {AUTO_RATIO[1]})"),
                             ("CPU per auto-approved order, all processes", f"≤ {ALL_CPU_GOAL * 1000:.0f} ms"),
                             ("worker CPU per auto-approved order", f"≤ {WORKER_CPU_GOAL * 1000:.0f} ms"),
                             ("auto-approved orders/s: real / psycopg shape", f"≥ {PSYCOPG_RATIO}")):
            add(SECTION, figure, NOT_RUN, goal)
    if "manager rate real" in f:
        ratio = f["manager rate real"] / f["manager rate business"]
        add(SECTION, "manager-approved ratio to the business shape",
            f"{ratio:.2f} ({f['manager rate real']:.1f} / {f['manager rate business']:.1f})", f"≥ {MANAGER_RATIO}",
            at_least(ratio, MANAGER_RATIO))
    else:
        add(SECTION, "manager-approved ratio to the business shape", NOT_RUN, f"≥ {MANAGER_RATIO}")

    # The web (rows of page_sections.py).
    _poll_cost(ctx)
    for pages, goal in SLOW_PACE_P95.items():
        row = _row(t.rows, f"Polling load, {pages:,} open pages", "following")
        figure = f"{pages:,} open pages at the panel's own pace"
        if row is None:
            add(SECTION, figure, NOT_RUN, f"p95 ≤ {goal * 1000:.0f} ms")
            continue
        served, p95 = _served(row.value), _p95(row.value)
        verdict = "not measured" if p95 is None else (at_most(p95, goal) if served >= SERVED else f"MISSED: {served:.0%} served")
        add(SECTION, figure, row.value, f"p95 ≤ {goal * 1000:.0f} ms", verdict)
    # Every order moving: each poll asks its workflow (the shortcut's row, beside it, polls orders that wait).
    fast_goal = f"all served, p95 ≤ {FAST_P95 * 1000:.0f} ms"
    for figure, row in (("200 pages polling every 1.5 s (every order moving: each poll asks its workflow)",
                         _row(t.rows, "Polling load, 200 open pages", "every", full_way=True)),
                        ("the same, on the threaded WSGI server (WEB_SERVER=wsgi: pages poll, no streams)",
                         _row(t.rows, "Polling load, 200 open pages", "every 1.5 s, ORDER_PANEL_TRUST_SECONDS=0, WEB_SERVER=wsgi",
                              full_way=True)),
                        ("200 pages polling every 1.5 s, orders waiting on people (answered from the stamp)",
                         _row(t.rows, "Polling load, 200 open pages", "every", full_way=False))):
        if row is None:
            add(SECTION, figure, NOT_RUN, fast_goal)
            continue
        served, p95 = _served(row.value), _p95(row.value)
        verdict = "not measured" if p95 is None else (at_most(p95, FAST_P95) if served >= SERVED else f"MISSED: {served:.0%} served")
        add(SECTION, figure, row.value, fast_goal, verdict)
    _push_channel(ctx)
    _lists(ctx)

    # Scale out (no goal: it shows what the design leaves to scale, on this machine).
    if "scale workers 1" in f:
        add(SECTION, "scale out: auto-approved orders/s with 1 / 2 / 4 worker processes",
            " / ".join(f"{f[f'scale workers {n}']:.1f}" for n in (1, 2, 4) if f"scale workers {n}" in f),
            "", "ratio to 1: " + " / ".join(f"{f[f'scale workers {n}'] / f['scale workers 1']:.2f}" for n in (1, 2, 4)
                                             if f"scale workers {n}" in f)
            + "; orders/s per core used: " + " / ".join(f"{f[f'scale workers {n} per core']:.1f}" for n in (1, 2, 4)
                                                        if f"scale workers {n} per core" in f))
    if "scale web 1" in f:
        add(SECTION, "scale out: polls/s served with 1 / 2 web processes",
            " / ".join(f"{f[f'scale web {n}']:.1f}" for n in (1, 2) if f"scale web {n}" in f), "",
            f"ratio to 1: {f.get('scale web 2', float('nan')) / f['scale web 1']:.2f}")


def _poll_cost(ctx: Context) -> None:
    figure = "one unchanged poll (204), in process"
    goal = f"≤ {POLL_CPU_GOAL_MS:g} ms CPU, ≤ {POLL_QUERIES_GOAL} queries"
    rows = [r for r in ctx.table.rows if r.section.startswith("One unchanged poll")]
    costs = [(r, m) for r in rows if (m := re.search(r"([\d.]+) ms CPU, (\d+) SQL", r.value))]
    answered = [(r, m) for r, m in costs if FULL_WAY not in r.measure]  # the full way is the reference beside them
    if not answered:
        ctx.table.add(SECTION, figure, NOT_RUN, goal)
        return
    missed = [f"{float(m[1]):.2f} ms, {m[2]} queries" for _, m in answered
              if float(m[1]) > POLL_CPU_GOAL_MS or int(m[2]) > POLL_QUERIES_GOAL]
    value = "; ".join(f"{m[1]} ms CPU, {m[2]} queries" for _, m in answered)
    reference = [f"{m[1]} ms CPU, {m[2]} queries" for r, m in costs if FULL_WAY in r.measure]
    if reference:
        value += f" (the full way, for comparison: {reference[0]})"
    ctx.table.add(SECTION, f"{figure} (each case answered as unchanged)", value, goal,
                  "met" if not missed else "MISSED: " + "; ".join(missed))


def _push_channel(ctx: Context) -> None:
    """The issue's answer where polling cannot carry orders that move: the same 200 pages on the push channel."""
    figure = "200 pages of orders that move, on the push channel (server-sent events): a change → the page shows it"
    goal = f"every change shown, p95 ≤ {FAST_P95 * 1000:.0f} ms"
    row = _row(ctx.table.rows, "Live panel push channel", "every order moving")
    if row is None:
        ctx.table.add(SECTION, figure, NOT_RUN, goal)
        return
    ctx.table.add(SECTION, figure, row.value, goal, row.verdict)


def _lists(ctx: Context) -> None:
    figure = "list and search at 1M orders, admin at 100k (p95)"
    rows = [r for r in ctx.table.rows if r.section.startswith("List pages at") and r.measure.endswith("p50 / p95")]
    if not rows:
        ctx.table.add(SECTION, figure, NOT_RUN, "keep (each row's own goal)")
        return
    p95s = [float(v) for r in rows if (v := r.value.split("/")[-1].strip().split(" ")[0]).replace(".", "", 1).isdigit()]
    missed = [r.measure for r in rows if r.verdict != "met"]
    value = f"p95 {min(p95s):.0f}–{max(p95s):.0f} ms over {len(rows)} groups" if p95s else "see the list rows"
    ctx.table.add(SECTION, figure, value, "keep (each row's own goal)", "met" if not missed else f"MISSED: {len(missed)} groups")


def _row(rows: list[Row], section_start: str, measure_start: str, *, full_way: bool = False) -> Row | None:
    """The first row of that section and measure; `full_way`: of the run with the unchanged-poll shortcut off."""
    return next((r for r in rows if r.section.startswith(section_start) and r.measure.startswith(measure_start)
                 and (FULL_WAY in r.section) == full_way), None)


def _served(value: str) -> float:
    m = re.search(r"([\d.]+) of ([\d.]+) req/s served", value)
    return float(m[1]) / float(m[2]) if m and float(m[2]) else 0.0


def _p95(value: str) -> float | None:
    m = re.search(r"p95 ([\d.]+) ms", value)
    return float(m[1]) / 1000 if m else None
