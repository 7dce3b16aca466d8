"""The on/off verdict: one sentence, explained by the model's measured batch gain (fixed figures)."""

from __future__ import annotations

from engines.measure.sweep import SweepPoint, SweepResult
from workbench.wiring.batching import batch_gain, batching_verdict


def _result(on: float, off: float, gain: float | None, mean_batch: float = 8.0) -> dict:
    r = {"on": [{"level": 1, "throughput_rps": 10.0}, {"level": 32, "throughput_rps": on}],
         "off": [{"level": 1, "throughput_rps": 10.0}, {"level": 32, "throughput_rps": off}],
         "stats_on": {"mean_batch": mean_batch}}
    if gain is not None:
        r["batch_gain"] = {"from": 1, "to": 16, "value": gain, "interval": [gain - 0.05, gain + 0.05],
                           "device": "cpu"}
    return r


def test_little_batch_gain_explains_a_loss():
    text = batching_verdict(_result(100, 200, 1.1))
    assert text.startswith("at concurrency 32, batching gives 0.50x the throughput of batching off")
    assert "this model's throughput grows only 1.10x [1.05-1.15] from batch 1 to 16 on this CPU" in text
    assert text.endswith("so waiting for a batch costs more than it saves")


def test_a_large_gain_explains_a_win():
    text = batching_verdict(_result(600, 200, 4.0, mean_batch=12.5))
    assert "gives 3.00x" in text and "grows 4.00x" in text and "only" not in text
    assert "grouping requests pays off (batches held 12.5 requests on average)" in text


def test_a_gain_that_batches_never_fill():
    text = batching_verdict(_result(180, 200, 4.0, mean_batch=1.2))
    assert "batches held only 1.2 requests on average" in text and "lower the delay" in text


def test_without_a_measured_gain_it_says_how_to_get_one():
    text = batching_verdict(_result(100, 200, None))
    assert "gives 0.50x" in text and "a batch sweep, w," in text
    assert batching_verdict({"on": [], "off": []}) is None


def test_gain_comes_from_a_sweep_of_the_same_model_only(tmp_path):
    model = tmp_path / "m.onnx"
    pts = [SweepPoint(1, {"p50": 1.0, "p99": 1.2}, 1000.0, 10),
           SweepPoint(8, {"p50": 4.0, "p99": 4.4}, 2000.0, 10,
                      gain={"value": 2.0, "interval": [1.9, 2.1], "vs_batch": 1, "within_noise": False}),
           SweepPoint(32, {"p50": 30.0, "p99": 33.0}, 1066.0, 10,
                      gain={"value": 1.07, "interval": [1.0, 1.1], "vs_batch": 1, "within_noise": False})]
    sweep = SweepResult(model=str(model), device="cpu", threads=2, points=pts)
    assert batch_gain(sweep, str(model), 16) == {"from": 1, "to": 8, "value": 2.0, "interval": [1.9, 2.1],
                                                 "within_noise": False, "device": "cpu"}
    assert batch_gain(sweep, str(model), 32)["to"] == 32
    assert batch_gain(sweep, str(tmp_path / "other.onnx"), 32) is None
    assert batch_gain(None, str(model), 32) is None
