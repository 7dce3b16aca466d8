"""Spreading load over several servers: deterministic round-robin / weighted picks, per-target reports,
bad weights refused. The servers are real local HTTP servers."""

from __future__ import annotations

import json

import pytest

pytest.importorskip("httpx")

from engines.errors import WorkbenchError  # noqa: E402
from engines.serving.app import start_server  # noqa: E402
from engines.serving.balance import Targets, check_weights, parse_target  # noqa: E402
from engines.serving.loadgen import example_payload, run_concurrency, run_rate  # noqa: E402
from tests.perf_fixtures import SlowRunner  # noqa: E402


@pytest.fixture(scope="module")
def two():
    with start_server(SlowRunner(delay_s=0.001), max_batch=4, max_delay_ms=1) as a, \
            start_server(SlowRunner(delay_s=0.001), max_batch=4, max_delay_ms=1) as b:
        yield a, b


def test_round_robin_alternates():
    t = Targets(["http://a", "http://b", "http://c"])
    assert [t.pick() for _ in range(7)] == [0, 1, 2, 0, 1, 2, 0]


def test_weighted_gives_exact_shares_spread_out():
    t = Targets(["http://a", "http://b"], [3, 1], "weighted")
    picks = [t.pick() for _ in range(8)]
    assert picks.count(0) == 6 and picks.count(1) == 2
    assert picks[:4].count(1) == 1          # smooth: one b in every window of 4, not a burst
    t = Targets(["http://a", "http://b"], [0.9, 0.1], "weighted")
    picks = [t.pick() for _ in range(100)]
    assert picks.count(1) == 10
    t = Targets(["http://a", "http://b"], [1, 0], "weighted")   # a zero weight drains a target
    assert {t.pick() for _ in range(10)} == {0}


@pytest.mark.parametrize("weights, msg", [([-1, 2], "negative"), ([0, 0], "all are zero"),
                                          ([float("nan"), 1], "finite"), (["x", 1], "not a number"),
                                          ([1], "1 weight")])
def test_bad_weights_refused(weights, msg):
    with pytest.raises(WorkbenchError, match=msg):
        Targets(["http://a", "http://b"], weights, "weighted")


def test_parse_targets():
    assert parse_target("http://h:8080=0.25") == ("http://h:8080", 0.25)
    assert parse_target("http://h:8080") == ("http://h:8080", None)
    t = Targets.parse(["http://a=3", "http://b=1"])
    assert t.policy == "weighted" and t.weights == [3.0, 1.0]
    with pytest.raises(WorkbenchError, match="every target"):
        Targets.parse(["http://a=3", "http://b"])
    with pytest.raises(WorkbenchError, match="must be a number"):
        Targets.parse(["http://a=x"])
    with pytest.raises(WorkbenchError, match="round-robin"):
        Targets(["http://a", "http://b"], [3, 1], "round-robin")
    with pytest.raises(WorkbenchError, match="policy"):
        Targets(["http://a"], policy="random")


def test_concurrency_run_reports_each_target(two):
    a, b = two
    body, ctype = example_payload(a.url)
    r = run_concurrency(Targets([a.url, b.url], [3, 1], "weighted"), body, ctype, 2, requests=80, duration_s=30)
    per = {t["url"]: t for t in r.extra["targets"]}
    assert r.ok == 80 and r.extra["policy"] == "weighted"
    assert per[a.url]["sent"] == 60 and per[b.url]["sent"] == 20
    assert per[a.url]["ok"] + per[b.url]["ok"] == r.ok and per[b.url]["share"] == pytest.approx(0.25)
    assert per[a.url]["latency_ms"]["p50"] > 0


def test_rate_run_round_robin_and_dead_target_counted(two):
    a, _ = two
    body, ctype = example_payload(a.url)
    dead = "http://127.0.0.1:9"   # discard port: nothing listens, connection refused
    r = run_rate([a.url, dead], body, ctype, 200.0, requests=40, duration_s=30, timeout_s=2)
    per = {t["url"]: t for t in r.extra["targets"]}
    assert per[a.url]["sent"] == 20 and per[a.url]["ok"] == 20
    assert per[dead]["sent"] == 20 and per[dead]["ok"] == 0 and sum(per[dead]["errors"].values()) == 20


def test_cli_spreads_and_reports(two, capsys):
    from workbench.cli import main

    a, b = two
    assert main(["loadgen", f"{a.url}=1", f"{b.url}=1", "--concurrency", "2", "--requests", "20", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["policy"] == "weighted" and len(out["results"][0]["extra"]["targets"]) == 2
    assert main(["loadgen", f"{a.url}=-1", f"{b.url}=1", "--requests", "5"]) == 2
    assert "negative" in capsys.readouterr().err


def test_check_weights_helper():
    assert check_weights([0.9, 0.1]) == [0.9, 0.1]
    with pytest.raises(WorkbenchError):
        check_weights([])
