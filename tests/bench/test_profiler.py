"""The bench's profile: py-spy really samples a process, and each sample lands in the bucket its stack says."""
from __future__ import annotations

import subprocess
import sys
import time
import xml.etree.ElementTree as ET
from collections import Counter

import pytest

from tools.bench import profiler

pytestmark = pytest.mark.database_agnostic

SITE = "/venv/lib/python3.11/site-packages"
STDLIB = "/usr/lib/python3.11"


def frame(func: str, path: str, line: int = 1) -> str:
    return f"{func} ({path}:{line})"


LOOP = [frame("run_forever", f"{STDLIB}/asyncio/base_events.py"), frame("_run", f"{STDLIB}/asyncio/events.py")]
ACTIVITY = [frame("_worker", f"{STDLIB}/concurrent/futures/thread.py"), frame("wrapper", "temporal_bridge/contract/db_activity.py"),
            frame("reserve_stock", "temporal_bridge/order/activities.py")]


@pytest.mark.parametrize(("stack", "bucket"), [
    # The ORM under an activity, down to the driver: the ORM, whatever calls it.
    (ACTIVITY + [frame("get", f"{SITE}/django/db/models/query.py"), frame("execute", f"{SITE}/psycopg/cursor.py")], "ORM / DB driver"),
    # The activity's own code above the ORM.
    (ACTIVITY + [frame("plan_split", "temporal_bridge/order/split_plan.py")], "our activity code"),
    # A module executed again by the sandbox for a new workflow: re-imports, even while building a dataclass in it.
    (LOOP + [frame("create_instance", f"{SITE}/temporalio/worker/workflow_sandbox/_runner.py"),
             frame("Importer._import", f"{SITE}/temporalio/worker/workflow_sandbox/_importer.py"),
             frame("<module>", "temporal_bridge/order/messages.py"), frame("_create_fn", f"{STDLIB}/dataclasses.py")],
     profiler.SANDBOX_IMPORT),
    # json under the converter: serialization (stdlib frames count for their caller).
    (LOOP + [frame("to_payload", f"{SITE}/temporalio/converter/_payload_converter.py"), frame("dumps", f"{STDLIB}/json/__init__.py")],
     "serialization / converter"),
    (LOOP + [frame("encrypt", "temporal_bridge/client/codec.py"), frame("encrypt", f"{SITE}/cryptography/hazmat/aead.py")],
     "codec (AES-GCM)"),
    (LOOP + [frame("activate", f"{SITE}/temporalio/worker/workflow_sandbox/_in_sandbox.py")],
     "workflow sandbox: restrictions and proxies"),
    (LOOP + [frame("complete_workflow_activation", f"{SITE}/temporalio/bridge/worker.py")], "SDK core / bridge"),
    (LOOP, "asyncio loop / thread pool"),
    ([frame("main", "manage.py"), frame("setup", f"{SITE}/django/__init__.py"), frame("populate", f"{SITE}/django/apps/registry.py")],
     profiler.DJANGO_SETUP),
    ([frame("something", "/elsewhere/thing.py")], profiler.OTHER),
])
def test_each_stack_lands_in_its_bucket(stack, bucket):
    assert profiler.bucket_of(";".join(stack)) == bucket


def test_shares_frames_and_activities_come_from_the_samples(tmp_path):
    recording = profiler.Recording("unit", 0, tmp_path)
    orm = ";".join(ACTIVITY + [frame("execute", f"{SITE}/psycopg/cursor.py", 7)])
    recording.stacks = Counter({orm: 3, ";".join(LOOP): 1})
    recording.thread_seconds = Counter({"Python threads": 2.0, "core SDK threads (Rust)": 0.5})
    shares = recording.bucket_shares()
    assert shares["ORM / DB driver"] == 0.75 and shares["asyncio loop / thread pool"] == 0.25
    assert recording.top_self(1) == [("psycopg/cursor.py:execute:7", 0.75)]
    assert recording.activities() == [("reserve_stock", 0.75)]
    files = recording.write(orders=10)
    assert files["collapsed"].read_text().splitlines()[0] == f"{orm} 3"
    svg = ET.parse(files["svg"]).getroot()
    titles = [t.text for t in svg.iter("{http://www.w3.org/2000/svg}title")]
    assert any(t.startswith("psycopg/cursor.py:execute (3 samples") for t in titles)
    text = files["md"].read_text()
    assert "| ORM / DB driver | 75.0% | 150.0 ms |" in text  # 75% of 2 s of Python CPU over 10 orders


BUSY = """
import time
def spin_in_a_named_function():
    end = time.monotonic() + 8
    while time.monotonic() < end:
        sum(range(1000))
print("ready", flush=True)
spin_in_a_named_function()
"""


def test_py_spy_samples_a_running_process_and_finds_its_hot_function(tmp_path):
    why_not = profiler.available()
    if why_not:
        pytest.skip(why_not)
    child = subprocess.Popen([sys.executable, "-c", BUSY], stdout=subprocess.PIPE, text=True)
    try:
        assert child.stdout.readline().strip() == "ready"
        recording = profiler.Recording("busy", child.pid, tmp_path)
        with recording.window():
            time.sleep(1.5)
    finally:
        child.kill()
        child.wait()
    assert recording.errors == []
    assert recording.samples >= 30  # 100 Hz for 1.5 s while it holds the GIL (fewer on a busy machine)
    on_stack = dict(recording.top_total(5))
    assert on_stack["<string>:spin_in_a_named_function"] > 0.9
    assert recording.thread_seconds["Python threads"] > 0.1  # its busy thread's CPU, from /proc (less than 1.5 s on a busy machine)


def test_a_wall_clock_profile_names_where_threads_wait_and_who_made_them(tmp_path):
    recording = profiler.Recording("web", 0, tmp_path, wall=True)
    request = [frame("_worker", "concurrent/futures/thread.py"), frame("handle", "gunicorn/workers/gthread.py"),
               frame("call", "temporal_bridge/client/bridge.py"), frame("result", "concurrent/futures/_base.py"),
               frame("wait", "threading.py")]
    idle = [frame("_worker", "concurrent/futures/thread.py"), frame("get", "queue.py")]
    recording.stacks = Counter({";".join(request): 3, ";".join(idle): 1})
    assert recording.top_waits(2) == [("temporal_bridge/client/bridge.py:call → threading.py:wait", 0.75),
                                      ("queue.py:get", 0.25)]
    assert "## Where the threads are" in recording.summary()
