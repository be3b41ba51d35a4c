"""The bench sections, each adding its rows to the table (Django is set up by now).

The engine's sections (throughput against the bare-SDK baselines, tuning)
are here; those measured through the web app are in page_sections.py.
"""
from __future__ import annotations

import os
import time
import uuid
from contextlib import nullcontext

from orders.models import Order
from tools.bench import baseline, history, lifecycle, profiler
from tools.bench.context import Context, cores, meters, pg_backend_pids
from tools.bench.page_sections import approve, export, list_pages, panel, polling
from tools.bench.report import at_least, at_most
from tools.bench.scale import scale
from tools.bench.split_orders import split
from tools.bench.stream import live_stream

# Throughput of the real path / a baseline shape's: (goal, moonshot or None), by (manager-approved?, shape key)
# (tools/bench/baseline.py). The psycopg shape does the real path's writes: its ratio says what is left above the work.
RATIO_GOALS = {(False, "same"): (0.8, None), (True, "same"): (0.8, None), (False, "business"): (0.6, 0.8), (True, "business"): (0.5, None),
               (False, "psycopg"): (0.8, None)}
CPU_PER_ORDER_GOAL = 0.110  # seconds of CPU per auto-approved order, all our processes
WORKER_CPU_PER_ORDER_GOAL = 0.045  # seconds of the worker process's CPU per auto-approved order
SHAPE_GOAL = (6, 8)  # activities, workflow tasks per auto-approved order: the lean engine's target
IDLE_SECONDS = 5.0  # the idle measurement before the rounds
HISTORY_SAMPLE = 5  # orders per side whose Temporal history is read back

def throughput(ctx: Context) -> None:
    """The real path and each bare-SDK baseline shape in alternating rounds on the same server.

    All workers poll all along (the idle row says what that costs), and
    the rounds alternate (the order rotating each round), so a burst of other
    work on the shared machine hits every side alike instead of deciding the
    ratios. Afterwards a sample of each side's own workflows is read back from
    Temporal to count what an order cost the engine.
    """
    s, t = ctx.sizes, ctx.table
    fx = ctx.fx()
    section = "Lifecycle throughput"
    me = os.getpid()
    base_q = f"bench-base-{uuid.uuid4().hex[:6]}"
    real_q = f"bench-real-{uuid.uuid4().hex[:6]}"
    base_worker = ctx.procs.baseline_worker("worker-baseline", address=ctx.address, task_queue=base_q, concurrency=20)
    worker = ctx.procs.runworker("worker-throughput", address=ctx.address, task_queue=real_q, concurrency=20)
    rounds = s.throughput_rounds
    per_round = max(1, s.orders // rounds)
    # The psycopg shape writes the real rows: PostgreSQL only (the table says when it is left out).
    shapes = {shape.key: shape for shape in baseline.SHAPES if not shape.db or ctx.db.engine == "postgresql"}
    if len(shapes) < len(baseline.SHAPES):
        t.add(section, "psycopg-shape baseline (the business shape doing the real path's writes)", "skipped", "",
              "needs PostgreSQL; this run is on SQLite")
    recording = ctx.recording("worker-auto-approved", worker.pid, section)

    def measure(side: str, approval: bool, ids: list) -> tuple[float, int, dict[str, float]]:
        if side == "real":
            ctx.use_task_queue(real_q)
            # The sampler attaches outside the meters: its start is not in the measured window (its CPU is "other").
            sampled = recording.window() if recording and not approval else nullcontext()
            with sampled, meters({"worker": lambda: [worker.pid], "Temporal": lambda: [ctx.temporal_pid], "submitter": lambda: [me],
                                  "PostgreSQL": pg_backend_pids}) as used:
                rate, failed = lifecycle.real_throughput(fx, per_round, requires_approval=approval, timeout=s.timeout, ids_out=ids)
        else:
            groups = {"worker": lambda: [base_worker.pid], "Temporal": lambda: [ctx.temporal_pid], "driver": lambda: [me]}
            if shapes[side].db:
                groups["PostgreSQL"] = pg_backend_pids
            with meters(groups) as used:
                rate, failed = lifecycle.baseline_throughput(ctx.address, base_q, per_round, requires_approval=approval, steps=ctx.steps,
                                                             step_seconds=ctx.step_seconds, timeout=s.timeout, shape=side, ids_out=ids)
        return rate, failed, used

    try:
        # What the processes cost doing nothing (workers long-polling, the server's own timers): every
        # side's CPU per order carries its share, which grows as the rate falls (a loaded machine).
        idle_seconds = 1.0 if ctx.smoke else IDLE_SECONDS
        with meters({"real worker": lambda: [worker.pid], "baseline worker": lambda: [base_worker.pid],
                     "Temporal": lambda: [ctx.temporal_pid]}) as idle:
            time.sleep(idle_seconds)
        t.add(section, f"idle: both workers polling, nothing to run ({idle_seconds:g} s), cores", cores(idle), "",
              "included in every CPU-per-order figure below")
        for approval, label in ((False, "auto-approved"), (True, "manager-approved")):
            sides = ["real", *(key for key, shape in shapes.items() if approval or not shape.approval_only)]
            totals = {side: [0.0, {}] for side in sides}
            failures = dict.fromkeys(sides, 0)
            ids: dict[str, list] = {side: [] for side in sides}
            for r in range(rounds):
                for side in sides[r % len(sides):] + sides[:r % len(sides)]:
                    rate, failed, used = measure(side, approval, ids[side])
                    _accumulate(totals[side], per_round / rate, used)
                    failures[side] += failed
            n = per_round * rounds
            rate = {side: n / totals[side][0] for side in sides}
            used = {side: _average(totals[side]) for side in sides}
            cpu = {side: _cpu_per_order(used[side], rate[side]) for side in sides}
            how = f"{n} orders each, in {rounds} alternating rounds"
            t.add(section, f"{label}: real path (1 runworker, 20 slots), {how}", f"{rate['real']:.1f} orders/s", "",
                  f"CPU cores: {cores(used['real'])}")
            for key in sides[1:]:
                t.add(section, f"{label}: bare-SDK baseline, {shapes[key].summary}", f"{rate[key]:.1f} orders/s", "",
                      f"CPU cores: {cores(used[key])}")
            for key in sides[1:]:
                ratio = rate["real"] / rate[key]
                t.add(section, f"{label}: ratio real / {_side_name(key)}", f"{ratio:.2f}", *_ratio_goal(approval, key, ratio))
            # Wall-clock rates move with whatever else the machine runs; CPU per
            # order much less, so it is shown beside them, whole and by process.
            cpu_goal, cpu_verdict = ("", "")
            if not approval:
                cpu_goal, cpu_verdict = f"real ≤ {CPU_PER_ORDER_GOAL * 1000:.0f} ms", at_most(cpu["real"], CPU_PER_ORDER_GOAL)
            t.add(section, f"{label}: CPU per order, {' / '.join(_side_name(side) for side in sides)} (all our processes)",
                  " / ".join(f"{cpu[side] * 1000:.0f} ms" for side in sides), cpu_goal, cpu_verdict)
            for side in sides:
                t.add(section, f"{label}:   CPU per order by process, {_side_name(side)}", _per_order(used[side], rate[side]))
            worker_cpu = {side: used[side].get("worker", 0.0) / rate[side] for side in sides}
            if not approval:
                t.add(section, f"{label}: worker process CPU per order, {' / '.join(_side_name(side) for side in sides)}",
                      " / ".join(f"{worker_cpu[side] * 1000:.0f} ms" for side in sides),
                      f"real ≤ {WORKER_CPU_PER_ORDER_GOAL * 1000:.0f} ms", at_most(worker_cpu["real"], WORKER_CPU_PER_ORDER_GOAL))
            kind = "manager" if approval else "auto"
            ctx.figures.update({f"{kind} rate {side}": rate[side] for side in sides})
            ctx.figures.update({f"{kind} cpu {side}": cpu[side] for side in sides})
            ctx.figures.update({f"{kind} worker cpu {side}": worker_cpu[side] for side in sides})
            ctx.figures[f"{kind} other cores"] = max(_average(totals[side]).get("other", 0.0) for side in sides)
            _history_row(ctx, section, label, approval, ids)
            if recording and not approval:
                _profile_rows(ctx, section, recording, n)
            if any(failures.values()):
                t.errors.append(f"{label}: orders that did not end fulfilled: " + ", ".join(f"{side} {failures[side]}" for side in sides))
    finally:
        ctx.procs.stop(worker)
        ctx.procs.stop(base_worker)


def _profile_rows(ctx: Context, section: str, recording: profiler.Recording, orders: int) -> None:
    """Where the profiled worker's CPU went, by bucket, and where the files are."""
    files = recording.write(orders=orders)
    py = recording.thread_seconds.get("Python threads", 0.0)
    t = ctx.table
    t.add(section, f"profile (py-spy, {recording.samples} GIL samples): worker CPU per order by thread kind",
          ", ".join(f"{group} {seconds / orders * 1000:.0f} ms" for group, seconds in sorted(recording.thread_seconds.items())),
          "", "the sampler slowed the real side: its rate above is not comparable with an unprofiled run")
    shares = sorted(recording.bucket_shares().items(), key=lambda kv: -kv[1])
    t.add(section, "profile: worker Python CPU per order by bucket",
          ", ".join(f"{name} {share * py / orders * 1000:.1f} ms ({share:.0%})" for name, share in shares if share >= 0.005))
    t.add(section, "profile: worker's top frames (self time)",
          ", ".join(f"{frame} {share:.0%}" for frame, share in recording.top_self(5)))
    t.notes.append(f"Worker profile: {files['svg']} (flame graph), {files['collapsed']} (collapsed stacks), {files['md']} (tables).")
    for err in recording.errors:
        t.errors.append(f"profile: {err}")


def _side_name(side: str) -> str:
    return "real path" if side == "real" else f"{side}-shape baseline"


def _ratio_goal(approval: bool, shape: str, ratio: float) -> tuple[str, str]:
    """(goal, verdict) for real / `shape`; none for a shape without a goal."""
    if (approval, shape) not in RATIO_GOALS:
        return "", ""
    goal, moonshot = RATIO_GOALS[(approval, shape)]
    verdict = at_least(ratio, goal)
    if moonshot is None:
        return f"≥ {goal}", verdict
    return f"≥ {goal} (moonshot {moonshot})", "met, moonshot too" if verdict == "met" and ratio >= moonshot else verdict


def _per_order(used: dict[str, float], rate: float) -> str:
    """Each process group's CPU per order (ms); "other" is not ours and left out."""
    return ", ".join(f"{name} {value / rate * 1000:.0f} ms" for name, value in used.items() if name != "other")


def _history_row(ctx: Context, section: str, label: str, approval: bool, ids: dict[str, list]) -> None:
    """Activities, workflow tasks and signals per order, from the Temporal histories of the last orders each side ran."""
    real_ids = ids["real"][-HISTORY_SAMPLE:]
    workflow_ids = {"real": list(Order.objects.filter(pk__in=real_ids).exclude(workflow_id="").values_list("workflow_id", flat=True))}
    workflow_ids.update({side: values[-HISTORY_SAMPLE:] for side, values in ids.items() if side != "real"})
    counts = {side: history.count_at(ctx.address, values, timeout=ctx.sizes.timeout) for side, values in workflow_ids.items()}
    sampled = min(c.workflows for c in counts.values())
    goal, verdict = "", ""
    if not approval:
        most_activities, most_tasks = SHAPE_GOAL
        goal = f"real ≤ {most_activities} / ≤ {most_tasks}"
        real = counts["real"]
        missed = [f"{what} {value:g}" for what, value, most in (("activities", real.activities, most_activities),
                                                                ("workflow tasks", real.workflow_tasks, most_tasks)) if value > most]
        verdict = "met" if not missed else "MISSED: " + ", ".join(missed)
    t = ctx.table
    t.add(section, f"{label}: per order, activities / workflow tasks / signals (Temporal history, {sampled} orders each)",
          "; ".join(f"{side} {c.summary()}" for side, c in counts.items()), goal, verdict)


def _accumulate(total: list, seconds: float, used: dict[str, float]) -> None:
    """Add a round: its seconds, and its core-seconds per process group."""
    total[0] += seconds
    for name, value in used.items():
        total[1][name] = total[1].get(name, 0.0) + value * seconds


def _average(total: list) -> dict[str, float]:
    return {name: core_seconds / total[0] for name, core_seconds in total[1].items()}


def _cpu_per_order(used: dict[str, float], rate: float) -> float:
    """CPU seconds per order from the cores our processes used at `rate` orders/s."""
    return sum(v for k, v in used.items() if k != "other") / rate


def tuning(ctx: Context) -> None:
    """The knobs, each against the default, on the same auto-approved load."""
    s, t = ctx.sizes, ctx.table
    fx = ctx.fx()
    section = "Tuning (auto-approved)"
    variants = [
        ("runworker --concurrency 20 (default)", "runworker", 1, ["20"], None),
        ("runworker --concurrency 5", "runworker", 1, ["5"], None),
        ("runworker --concurrency 50", "runworker", 1, ["50"], None),
        ("2 × runworker --concurrency 20", "runworker", 2, ["20"], None),
        ("sticky cache off (max_cached_workflows=0)", "tuning", 1, ["--max-cached-workflows", "0"], None),
        # The worker profile's largest bucket was the sandbox loading the message modules again for each new order.
        ("sandbox as before: the message modules re-imported per order", "tuning", 1, ["--sandbox", "reimport"], None),
        ("sandbox passes all of temporal_bridge through (workflows too)", "tuning", 1, ["--sandbox", "all"], None),
    ]
    for label, kind, count, args, workflow_name in variants:
        q = ctx.use_task_queue(f"bench-tune-{uuid.uuid4().hex[:6]}")
        if kind == "tuning":
            workers = [ctx.procs.tuning_worker("worker-tune", address=ctx.address, task_queue=q, extra=args)]
        else:
            workers = [ctx.procs.runworker(f"worker-tune-{i}", address=ctx.address, task_queue=q, concurrency=int(args[0]))
                       for i in range(count)]
        pids = [w.pid for w in workers]
        try:
            with meters({"workers": lambda pids=pids: pids, "Temporal": lambda: [ctx.temporal_pid],
                         "submitter": lambda: [os.getpid()], "PostgreSQL": pg_backend_pids}) as used, \
                    lifecycle.starting_as(workflow_name):
                rate, failures = lifecycle.real_throughput(fx, s.tuning_orders, requires_approval=False,
                                                           timeout=min(s.timeout, 60 + 3 * s.tuning_orders))
        except TimeoutError as err:  # one variant failing must not hide the others
            t.add(section, f"{label}, {s.tuning_orders} orders", "failed", "", str(err))
            t.errors.append(f"tuning {label}: {err}")
            continue
        finally:
            for w in workers:
                ctx.procs.stop(w)
        t.add(section, f"{label}, {s.tuning_orders} orders", f"{rate:.1f} orders/s", "",
              f"CPU {_cpu_per_order(used, rate) * 1000:.0f} ms/order; cores: {cores(used)}")
        if failures:
            t.errors.append(f"tuning {label}: {failures} orders did not end fulfilled")


# --- The web: approve-to-visible, live panel, polling -----------------------------------------


ALL = [
    ("throughput", throughput),
    ("split", split),
    ("tuning", tuning),
    ("approve", approve),
    ("panel", panel),
    ("polling", polling),
    ("stream", live_stream),
    ("lists", list_pages),
    ("export", export),
    ("scale", scale),
]
