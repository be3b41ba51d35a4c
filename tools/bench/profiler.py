"""Where a bench process's CPU goes: py-spy samples, thread CPU, buckets, a flame graph.

`Recording` samples one process (the worker during the throughput rounds, a
web process during polling) with `py-spy record --gil --nonblocking --format
raw`, one py-spy run per measured window, and adds up the windows. It also
reads every thread's CPU from /proc at the start and end of each window:
py-spy sees Python threads only, so the Temporal core SDK's own (Rust, tokio)
threads are accounted from /proc by their names.

`write()` leaves in var/bench/profiles/:
- NAME.collapsed.txt: the merged samples, one stack per line ("a;b;c count"),
  the input of any flame graph tool (speedscope opens it too);
- NAME.svg: a flame graph of them (rendered here: no other tool needed);
- NAME.md: the share of each bucket, the top frames, the activities.

py-spy comes from PyPI (requirements-dev.txt). It needs ptrace on the target
(root here, or kernel.yama.ptrace_scope 0); without it `available()` says why
and the bench says so instead of a profile.
"""
from __future__ import annotations

import html
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from collections import Counter, defaultdict
from pathlib import Path

from tools.bench.stats import _CLOCK_TICKS

RATE = 100  # samples per second

# Bucket of a stack: its innermost frame that matches one of these (module path patterns, first match wins
# within a frame). Stdlib frames (json, typing, dataclasses, locks) match nothing and so fall to their caller:
# json under the converter is serialization, a lock under the ORM is the ORM. The loop and the thread pool
# match only when nothing inside them does.
BUCKETS: list[tuple[str, tuple[str, ...]]] = [
    ("codec (AES-GCM)", ("temporal_bridge/client/codec", "temporal_bridge/client/subject_keys", "cryptography/")),
    ("workflow sandbox: restrictions and proxies", ("temporalio/worker/workflow_sandbox/",)),
    ("serialization / converter", ("temporalio/converter", "temporalio/api/", "google/protobuf/", "temporal_bridge/contract/decoding")),
    ("ORM / DB driver", ("django/db/", "psycopg/", "psycopg_pool/", "psycopg_binary/", "sqlite3/")),
    ("our workflow code", ("temporal_bridge/order/workflow/", "temporal_bridge/shipment/workflow", "temporal_bridge/approvals/workflows",
                           "temporal_bridge/order/states", "temporal_bridge/order/messages", "temporal_bridge/order/status")),
    ("our activity code", ("temporal_bridge/", "orders/", "approvals/", "config/")),
    ("SDK core / bridge", ("temporalio/bridge/", "temporalio/worker/_workflow_instance", "temporalio/worker/_workflow.py",
                           "temporalio/worker/_activity", "temporalio/worker/", "temporalio/workflow.py", "temporalio/activity.py",
                           "temporalio/client.py", "temporalio/")),
    ("logging / metrics", ("logging/", "opentelemetry/", "prometheus_client/")),
    ("asyncio loop / thread pool", ("asyncio/", "selectors.py", "concurrent/futures/", "threading.py")),
]
OTHER = "other"
DJANGO_SETUP = "Django setup"  # any stack under django.setup(); Django outside the ORM elsewhere goes to its caller
# Any stack under the sandbox's importer: a new workflow instance runs its modules' code again (and, for modules
# not passed through, compiles and executes them: dataclasses, enums, module constants) in a fresh namespace.
SANDBOX_IMPORT = "workflow sandbox: module re-imports"
FRAME = re.compile(r"^(?P<func>.*?) \((?P<file>[^()]*?)(?::(?P<line>\d+))?\)$")


def available() -> str:
    """"" if py-spy can sample a child of this process here, else why not."""
    spy = _py_spy()
    if spy is None:
        return "py-spy is not installed (pip install -r requirements-dev.txt)"
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(5)"])
    try:
        time.sleep(0.3)
        done = subprocess.run([spy, "dump", "--pid", str(child.pid)], capture_output=True, text=True, timeout=20)
        if done.returncode != 0:
            return f"py-spy cannot read a process here: {(done.stderr or done.stdout).strip().splitlines()[0:1]}"
        return ""
    finally:
        child.kill()
        child.wait()


def _py_spy() -> str | None:
    return shutil.which("py-spy", path=os.path.dirname(sys.executable)) or shutil.which("py-spy")


def thread_cpu(pid: int) -> dict[int, tuple[str, float]]:
    """Every thread's (name, CPU seconds so far)."""
    out = {}
    try:
        tids = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return out
    for tid in tids:
        try:
            with open(f"/proc/{pid}/task/{tid}/stat") as f:
                raw = f.read()
        except OSError:
            continue
        name = raw[raw.index("(") + 1:raw.rindex(")")]
        fields = raw.rsplit(")", 1)[1].split()
        out[int(tid)] = (name, (int(fields[11]) + int(fields[12])) / _CLOCK_TICKS)
    return out


def thread_group(name: str) -> str:
    """A thread's kind by its name: the core SDK's runtime threads are tokio's."""
    if name.startswith("tokio") or "runtime" in name or name.startswith("temporal"):
        return "core SDK threads (Rust)"
    return "Python threads"


class Recording:
    """Samples of one process over one or more windows (`with recording.window(): ...`)."""

    def __init__(self, name: str, pid: int, out_dir: Path, *, wall: bool = False) -> None:
        """`wall`: every thread, waiting or not (`--idle`): where a request's time goes, not only its CPU."""
        self.name, self.pid, self.out_dir, self.wall = name, pid, out_dir, wall
        self.out_dir.mkdir(parents=True, exist_ok=True)
        self.stacks: Counter[str] = Counter()
        self.thread_seconds: Counter[str] = Counter()  # by thread group
        self.thread_names: Counter[str] = Counter()  # CPU seconds by thread name
        self.seconds = 0.0
        self.windows = 0
        self.errors: list[str] = []

    def window(self):
        return _Window(self)

    # --- reading ---------------------------------------------------------------------------

    @property
    def samples(self) -> int:
        return sum(self.stacks.values())

    def cpu_seconds(self) -> float:
        return sum(self.thread_seconds.values())

    def bucket_shares(self) -> dict[str, float]:
        by_bucket: Counter[str] = Counter()
        for stack, count in self.stacks.items():
            by_bucket[bucket_of(stack)] += count
        total = max(1, self.samples)
        return {name: by_bucket.get(name, 0) / total for name in [SANDBOX_IMPORT, *(b for b, _ in BUCKETS), DJANGO_SETUP, OTHER]}

    def top_self(self, n: int = 15) -> list[tuple[str, float]]:
        """The innermost frames that held the GIL most (self time), as shares of the samples."""
        leaves: Counter[str] = Counter()
        for stack, count in self.stacks.items():
            leaves[_short(stack.rsplit(";", 1)[-1])] += count
        total = max(1, self.samples)
        return [(frame, count / total) for frame, count in leaves.most_common(n)]

    def top_waits(self, n: int = 15) -> list[tuple[str, float]]:
        """Innermost frames with the nearest caller outside the stdlib ("caller → frame"): where threads wait or run."""
        found: Counter[str] = Counter()
        for stack, count in self.stacks.items():
            frames = stack.split(";")
            leaf = _short(frames[-1], with_line=False)
            caller = next((_short(f, with_line=False) for f in reversed(frames[:-1]) if not _is_stdlib(f)), "")
            found[f"{caller} → {leaf}" if caller else leaf] += count
        total = max(1, self.samples)
        return [(where, count / total) for where, count in found.most_common(n)]

    def top_total(self, n: int = 15, *, ours_only: bool = False) -> list[tuple[str, float]]:
        """Functions by the share of samples they are on the stack for (inclusive time)."""
        seen: Counter[str] = Counter()
        for stack, count in self.stacks.items():
            names = {_short(f, with_line=False) for f in stack.split(";")}
            for frame in names:
                if not ours_only or (frame.startswith(("temporal_bridge/", "orders/", "approvals/")) and "/management/" not in frame):
                    seen[frame] += count
        total = max(1, self.samples)
        return [(frame, count / total) for frame, count in seen.most_common(n)]

    def activities(self) -> list[tuple[str, float]]:
        """Samples under each activity function of ours (outermost frame in an activities module)."""
        per: Counter[str] = Counter()
        for stack, count in self.stacks.items():
            for frame in stack.split(";"):
                m = FRAME.match(frame)
                if m and re.search(r"temporal_bridge/.*(activities|confirmations)\.py$", m["file"] or ""):
                    per[m["func"]] += count
                    break
        total = max(1, self.samples)
        return [(name, count / total) for name, count in per.most_common()]

    # --- writing ---------------------------------------------------------------------------

    def write(self, *, orders: int | None = None) -> dict[str, Path]:
        collapsed = self.out_dir / f"{self.name}.collapsed.txt"
        collapsed.write_text("".join(f"{stack} {count}\n" for stack, count in self.stacks.most_common()))
        svg = self.out_dir / f"{self.name}.svg"
        what = "samples over all threads, waiting or not" if self.wall else "samples holding the GIL"
        svg.write_text(flame_graph(self.stacks, title=f"{self.name}: {self.samples} {what}"))
        md = self.out_dir / f"{self.name}.md"
        md.write_text(self.summary(orders=orders))
        return {"collapsed": collapsed, "svg": svg, "md": md}

    def summary(self, *, orders: int | None = None) -> str:
        cpu = self.cpu_seconds()
        per = (lambda s: f"{s / orders * 1000:.1f} ms") if orders else (lambda s: f"{s:.1f} s")
        py = self.thread_seconds.get("Python threads", 0.0)
        lines = [f"# Profile: {self.name}", "",
                 f"- {self.windows} window(s), {self.seconds:.1f} s sampled at {RATE} Hz, {self.samples} samples "
                 + ("over all threads, waiting or not (the buckets below count waiting too)" if self.wall else "holding the GIL")
                 + (f", {orders} orders" if orders else ""),
                 f"- process CPU {cpu:.1f} s ({cpu / max(1e-9, self.seconds):.2f} cores)" + (f" = {per(cpu)} per order" if orders else ""),
                 ]
        for group, seconds in sorted(self.thread_seconds.items()):
            lines.append(f"  - {group}: {per(seconds)} ({seconds / max(1e-9, cpu):.0%})")
        lines.append("  - by thread name: " + ", ".join(f"{n} {per(v)}" for n, v in self.thread_names.most_common(8) if v > 0))
        if self.errors:
            lines += ["", "Errors:"] + [f"- {e}" for e in self.errors]
        if self.wall:
            lines += ["", "## Where the threads are (all threads, waiting or running; share of samples)", "",
                      "| innermost frame (nearest caller outside the stdlib →) | share |", "|---|---|"]
            lines += [f"| `{f}` | {v:.1%} |" for f, v in self.top_waits(20)]
        lines += ["", "## Buckets (share of GIL samples; ms = share × the Python threads' CPU)", "",
                  "| bucket | share | CPU |", "|---|---|---|"]
        for name, share in sorted(self.bucket_shares().items(), key=lambda kv: -kv[1]):
            lines.append(f"| {name} | {share:.1%} | {per(share * py)} |")
        lines += ["", "## Top frames by self time", "", "| frame | share |", "|---|---|"]
        lines += [f"| `{f}` | {s:.1%} |" for f, s in self.top_self(15)]
        lines += ["", "## Our functions by inclusive time", "", "| function | share |", "|---|---|"]
        lines += [f"| `{f}` | {s:.1%} |" for f, s in self.top_total(15, ours_only=True)]
        lines += ["", "## Activities (inclusive)", "", "| activity | share |", "|---|---|"]
        lines += [f"| `{f}` | {s:.1%} |" for f, s in self.activities()]
        return "\n".join(lines) + "\n"


class _Window:
    def __init__(self, recording: Recording) -> None:
        self.r = recording

    def __enter__(self):
        r = self.r
        self.path = r.out_dir / f".{r.name}-{r.windows}.raw"
        spy = _py_spy()
        self.process = None
        if spy is not None:
            self.process = subprocess.Popen(
                [spy, "record", "--pid", str(r.pid), "--rate", str(RATE), *(["--idle"] if r.wall else ["--gil"]),
                 "--nonblocking", "--format", "raw", "--output", str(self.path)],
                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True)
            time.sleep(0.5)  # attached before the measured work starts
        self.threads = thread_cpu(r.pid)
        self.t0 = time.monotonic()
        return self

    def __exit__(self, *exc) -> None:
        r = self.r
        r.seconds += time.monotonic() - self.t0
        now = thread_cpu(r.pid)
        for tid, (name, seconds) in now.items():
            used = seconds - self.threads.get(tid, (name, 0.0))[1]
            r.thread_seconds[thread_group(name)] += used
            r.thread_names[name] += used
        r.windows += 1
        if self.process is None:
            r.errors.append("py-spy not installed")
            return
        self.process.send_signal(signal.SIGINT)  # py-spy writes its output on Ctrl-C
        try:
            _, err = self.process.communicate(timeout=60)
        except subprocess.TimeoutExpired:
            self.process.kill()
            _, err = self.process.communicate()
        if not self.path.exists():
            r.errors.append(f"py-spy wrote nothing: {err.decode(errors='replace').strip()[-300:]}")
            return
        for line in self.path.read_text().splitlines():
            stack, _, count = line.rpartition(" ")
            if stack and count.isdigit():
                r.stacks[stack] += int(count)
        self.path.unlink()


def bucket_of(stack: str) -> str:
    if re.search(r"(^|;)setup \([^;]*django/__init__\.py", stack):
        return DJANGO_SETUP
    frames = stack.split(";")
    if "Importer._import" in stack and any(
            (m := FRAME.match(f)) and m["func"] == "Importer._import" and _module_path(m["file"]).endswith("workflow_sandbox/_importer.py")
            for f in frames):
        return SANDBOX_IMPORT
    for frame in reversed(frames):
        m = FRAME.match(frame)
        path = _module_path(m["file"]) if m else frame
        for name, patterns in BUCKETS:
            if any(p in path for p in patterns):
                return name
    return OTHER


def _is_stdlib(frame: str) -> bool:
    m = FRAME.match(frame)
    file = (m["file"] if m else "") or ""
    return "site-packages/" not in file and ("/lib/python3." in file or file.startswith("<frozen") or "/" not in _module_path(file)
                                              or _module_path(file).split("/")[0] in STDLIB_PACKAGES)


STDLIB_PACKAGES = {"asyncio", "concurrent", "json", "http", "email", "importlib", "logging", "urllib", "xml", "collections", "encodings"}


def _module_path(file: str | None) -> str:
    """A frame's file relative to site-packages, the stdlib or the repo: "django/db/models/query.py"."""
    if not file:
        return ""
    for marker in ("site-packages/", "/lib/python3."):
        if marker in file:
            tail = file.split(marker, 1)[1]
            return tail.split("/", 1)[1] if marker.startswith("/lib") and "/" in tail else tail
    base = str(Path(__file__).resolve().parents[2]) + "/"
    return file[len(base):] if file.startswith(base) else file


def _short(frame: str, with_line: bool = True) -> str:
    m = FRAME.match(frame)
    if not m:
        return frame
    where = _module_path(m["file"])
    return f"{where}:{m['func']}" + (f":{m['line']}" if with_line and m["line"] else "")


# --- flame graph ----------------------------------------------------------------------------

def flame_graph(stacks: Counter[str], *, title: str, width: int = 1600, row: int = 16) -> str:
    """A static SVG flame graph (root at the bottom; hover a box for its name and share)."""
    tree: dict = {"n": 0, "c": {}}
    for stack, count in stacks.items():
        node = tree
        node["n"] += count
        for frame in stack.split(";"):
            node = node["c"].setdefault(_short(frame, with_line=False), {"n": 0, "c": {}})
            node["n"] += count
    total = max(1, tree["n"])
    boxes: list[tuple[int, float, float, str, int]] = []  # depth, x, w, name, count
    depth_max = 0

    def walk(node: dict, depth: int, x: float) -> None:
        nonlocal depth_max
        depth_max = max(depth_max, depth)
        for name, child in sorted(node["c"].items()):
            w = child["n"] / total * width
            if w >= 0.3:
                boxes.append((depth, x, w, name, child["n"]))
                walk(child, depth + 1, x)
            x += w

    walk(tree, 0, 0.0)
    height = (depth_max + 3) * row
    colours = defaultdict(lambda: "#e0a060", {name: colour for name, colour in zip(
        [b for b, _ in BUCKETS], ["#c55", "#d9a", "#9c5", "#59d", "#aaa", "#6cc", "#fc6", "#b8e", "#ccc", "#eee"], strict=False)})
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" font-family="monospace" font-size="11">',
           f'<text x="4" y="12">{html.escape(title)}</text>']
    for depth, x, w, name, count in boxes:
        y = height - (depth + 1) * row
        fill = colours[bucket_of(_unshort(name))]
        label = html.escape(name)
        out.append(f'<g><title>{label} ({count} samples, {count / total:.2%})</title>'
                   f'<rect x="{x:.1f}" y="{y}" width="{max(0.1, w - 0.3):.1f}" height="{row - 1}" fill="{fill}"/>')
        if w > 40:
            out.append(f'<text x="{x + 2:.1f}" y="{y + row - 4}">{html.escape(name[: int(w / 6.6)])}</text>')
        out.append("</g>")
    out.append("</svg>")
    return "\n".join(out)


def _unshort(name: str) -> str:
    """A short frame name back into the raw shape bucket_of reads."""
    path, _, func = name.rpartition(":")
    return f"{func} ({path})"
