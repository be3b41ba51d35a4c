"""The bench's closing rows: every goal, with the run's figure and an honest verdict (or "not measured")."""
from __future__ import annotations

from types import SimpleNamespace

import pytest

from tools.bench import goals
from tools.bench.report import Table

pytestmark = pytest.mark.database_agnostic

ENGINE = {
    "auto rate real": 9.0, "auto rate business": 12.0, "auto rate psycopg": 10.0,
    "auto cpu real": 0.100, "auto cpu business": 0.070, "auto worker cpu real": 0.050, "auto worker cpu business": 0.030,
    "manager rate real": 6.0, "manager rate business": 10.0,
    "scale workers 1": 5.0, "scale workers 2": 7.5, "scale workers 1 per core": 4.0, "scale workers 2 per core": 4.1,
    "scale web 1": 100.0, "scale web 2": 120.0,
}


def summarise(figures: dict, rows: list[tuple[str, str, str, str]] = ()) -> dict[str, tuple[str, str, str]]:
    table = Table("test")
    for section, measure, value, verdict in rows:
        table.add(section, measure, value, "", verdict)
    goals.summary(SimpleNamespace(table=table, figures=figures))
    return {r.measure: (r.value, r.goal, r.verdict) for r in table.rows if r.section == goals.SECTION}


def test_each_engine_goal_gets_the_runs_figure_and_its_verdict():
    got = summarise(ENGINE)
    assert got["auto-approved orders/s: real / bare-SDK business shape"] == ("9.0 / 12.0 (ratio 0.75)", "≥ 0.6 (moonshot 0.8)", "met")
    assert got["CPU per auto-approved order, all processes (real / business shape)"] == ("100 ms / 70 ms", "≤ 110 ms", "met")
    assert got["worker CPU per auto-approved order (real / business shape)"] == ("50 ms / 30 ms", "≤ 45 ms", "MISSED by 5 ms")
    assert got["manager-approved ratio to the business shape"] == ("0.60 (6.0 / 10.0)", "≥ 0.5", "met")
    value, goal, verdict = got["auto-approved orders/s: real / psycopg shape (the business shape doing the real writes)"]
    assert (value, goal, verdict) == ("9.0 / 10.0 (ratio 0.90)", "≥ 0.8", "met")
    assert got["scale out: auto-approved orders/s with 1 / 2 / 4 worker processes"][0] == "5.0 / 7.5"
    assert got["scale out: auto-approved orders/s with 1 / 2 / 4 worker processes"][2] == (
        "ratio to 1: 1.00 / 1.50; orders/s per core used: 4.0 / 4.1")
    assert got["scale out: polls/s served with 1 / 2 web processes"][2] == "ratio to 1: 1.20"


def test_the_moonshot_is_named_only_when_reached():
    got = summarise({**ENGINE, "auto rate real": 10.0})
    assert got["auto-approved orders/s: real / bare-SDK business shape"][2] == "met, moonshot too"


def test_a_figure_the_run_did_not_measure_says_so_and_claims_nothing():
    got = summarise({})
    for measure in ("CPU per auto-approved order, all processes", "manager-approved ratio to the business shape",
                    "one unchanged poll (204), in process", "200 open pages at the panel's own pace",
                    "list and search at 1M orders, admin at 100k (p95)"):
        value, _, verdict = got[measure]
        assert value == goals.NOT_RUN and verdict == "", measure
    assert not any(m.startswith("scale out") for m in got)


def test_the_web_goals_are_read_from_the_polling_and_list_rows():
    rows = [
        ("One unchanged poll (204), in-process through the WSGI handler", "manager, cached", "1.20 ms CPU, 2 SQL queries, HTTP [204]", ""),
        ("One unchanged poll (204), in-process through the WSGI handler", "manager, asks", "3.90 ms CPU, 5 SQL queries, HTTP [204]", ""),
        ("One unchanged poll (204), in-process through the WSGI handler", "manager, the full way (no cache)",
         "7.68 ms CPU, 7 SQL queries, HTTP [204]", ""),
        ("Polling load, 200 open pages on 200 orders (gunicorn)", "following the panel's pace",
         "10.0 of 10.0 req/s served, p50 40.0 ms, p95 90.0 ms; HTTP 204: 200", ""),
        ("Polling load, 200 open pages on 200 orders (gunicorn)", "every 1.5 s (the pace of an order that moves), orders waiting on people",
         "133.0 of 133.3 req/s served, p50 4 ms, p95 31 ms; HTTP 204: 2000", ""),
        ("Polling load, 200 open pages on 200 orders, every poll the full way and a workflow query (gunicorn)", "every 1.5 s, trust 0",
         "100.0 of 133.3 req/s served, p50 900 ms, p95 1619 ms; HTTP 204: 2000", ""),
        ("Polling load, 1,000 open pages on 200 orders (gunicorn)", "following the panel's pace",
         "50.0 of 50.0 req/s served, p50 200 ms, p95 300 ms; HTTP 204: 1000", ""),
        ("List pages at 1,000,000 orders", "order list: first page, p50 / p95", "10.0 ms / 21.0 ms", "met"),
        ("List pages at 1,000,000 orders", "order list: search, p50 / p95", "30.0 ms / 73.0 ms", "met"),
    ]
    got = summarise({}, rows)
    value, goal, verdict = got["one unchanged poll (204), in process (each case answered as unchanged)"]
    assert goal == "≤ 1.5 ms CPU, ≤ 2 queries" and verdict == "MISSED: 3.90 ms, 5 queries"
    assert value.endswith("(the full way, for comparison: 7.68 ms CPU, 7 queries)"), "the reference, never counted as a miss"
    assert got["200 open pages at the panel's own pace"][1:] == ("p95 ≤ 100 ms", "met")
    assert got["1,000 open pages at the panel's own pace"][1:] == ("p95 ≤ 250 ms", "MISSED by 50 ms")
    assert got["200 pages polling every 1.5 s (every order moving: each poll asks its workflow)"][2] == "MISSED: 75% served"
    assert got["200 pages polling every 1.5 s, orders waiting on people (answered from the stamp)"][2] == "met"
    assert got["list and search at 1M orders, admin at 100k (p95)"][0] == "p95 21–73 ms over 2 groups"


def test_the_push_channel_goal_is_read_from_the_stream_row_with_its_verdict():
    section = "Live panel push channel (server-sent events), 200 open pages on 200 orders (gunicorn as make serve runs it)"
    measure = "every order moving (approved, then by itself to its end): its final state written → the page shows it, p50 / p95"
    got = summarise({}, [(section, measure, "120 ms / 300 ms; 200 of 200 pages", "MISSED by 50 ms")])
    figure = "200 pages of orders that move, on the push channel (server-sent events): a change → the page shows it"
    assert got[figure] == ("120 ms / 300 ms; 200 of 200 pages", "every change shown, p95 ≤ 250 ms", "MISSED by 50 ms")
    assert summarise({})[figure][0] == goals.NOT_RUN
