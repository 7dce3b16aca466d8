"""The metrics sampler: NVML absent/failing/vanishing gives n/a, polls never overlap, the recorder summarises."""

from __future__ import annotations

import json
import sys
import threading
import time
from dataclasses import FrozenInstanceError

import numpy as np
import pytest

from engines.measure.metrics import (NA, CpuSample, FixedSource, MetricsRecorder, Sampler, right_sizing_hint, summarize)
from engines.measure.nvml import NvmlProbe
from tests.perf_fixtures import FakeNvml



def test_nvml_missing_gives_no_gpu_and_cpu_still_sampled(monkeypatch):
    monkeypatch.setitem(sys.modules, "pynvml", None)   # import pynvml -> ImportError
    probe = NvmlProbe()
    assert probe.sample() == ()
    assert "not installed" in probe.status
    s = Sampler(gpu_probe=probe, deterministic=False)
    snap = s.poll()
    assert snap.gpus == () and not snap.has_gpu
    assert len(snap.cpu.per_core_pct) >= 1 and snap.cpu.ram_total > 0 and snap.cpu.rss > 0
    assert "not installed" in snap.gpu_status


def test_real_nvml_on_this_machine_never_raises():
    probe = NvmlProbe()
    gpus = probe.sample()                  # no driver here: (), on a GPU box: real readings
    assert isinstance(gpus, tuple)
    assert probe.status and isinstance(probe.status, str)
    probe.close()


def test_init_failure_means_no_gpu():
    pynvml = pytest.importorskip("pynvml", reason="needs nvidia-ml-py for its NVMLError type")
    fake = FakeNvml()

    def boom():
        raise pynvml.NVMLError(pynvml.NVML_ERROR_DRIVER_NOT_LOADED)

    fake.nvmlInit = boom
    probe = NvmlProbe(module=fake)
    assert probe.sample() == ()
    assert probe.status.startswith("no NVIDIA GPU detected")


def test_unsupported_field_is_na_others_present():
    probe = NvmlProbe(module=FakeNvml())
    (g,) = probe.sample()
    assert g.util_pct == 37.0 and g.mem_total == 16 * 2**30 and g.temp_c == 55.0
    assert g.power_w is NA and str(g.power_w) == "n/a" and f"{g.power_w:.1f}" == "n/a"
    assert g.power_limit_w == 300.0
    assert g.this_process_mem == 512 * 2**20
    assert [p.pid for p in g.processes][-1] > 1 and g.processes[0].used_bytes is NA  # pid 1: not reported


def test_nvml_failing_mid_run_turns_fields_na_and_recovers():
    fake = FakeNvml()
    s = Sampler(gpu_probe=NvmlProbe(module=fake), cpu_source=FixedSource(), deterministic=False)
    first = s.poll()
    assert first.gpus[0].util_pct == 37.0
    fake.mode = "fail"
    broken = s.poll()
    g = broken.gpus[0]
    assert (g.util_pct, g.mem_used, g.temp_c, g.sm_clock_mhz) == (NA, NA, NA, NA)
    assert g.lost is False
    fake.mode = "ok"
    assert s.poll().gpus[0].util_pct == 37.0      # a transient error is not permanent
    assert s.poll_errors == 0


def test_gpu_vanishing_marks_it_lost_and_stays_na():
    from screens.widgets.metrics_bar import bar_text

    fake = FakeNvml()
    s = Sampler(gpu_probe=NvmlProbe(module=fake), cpu_source=FixedSource(), deterministic=False)
    s.poll()
    fake.mode = "lost"
    snap = s.poll()
    assert snap.gpus[0].lost and snap.gpus[0].util_pct is NA and snap.gpus[0].name == "Fake Test GPU"
    assert "stopped answering" in snap.gpu_status
    assert "n/a (lost)" in bar_text(snap)
    fake.mode = "ok"
    assert s.poll().gpus[0].lost                 # a lost device is not queried again
    json.dumps(snap.to_dict())                   # NA serialises as null


def test_a_probe_that_raises_is_contained():
    class Broken:
        status = "broken"

        def sample(self):
            raise RuntimeError("driver exploded")

        def close(self):
            raise RuntimeError("again")

    s = Sampler(gpu_probe=Broken(), cpu_source=FixedSource(), deterministic=False)
    snap = s.poll()
    assert snap.gpus == () and s.poll_errors == 1
    s.stop()                                      # close() raising is contained too


def test_polls_never_overlap_even_when_slow_and_called_from_threads():
    class SlowSource(FixedSource):
        def read(self):
            time.sleep(0.03)
            return super().read()

    from engines.measure.metrics import _NoGpu

    s = Sampler(hz=100, cpu_source=SlowSource(), gpu_probe=_NoGpu(), deterministic=False)  # interval < poll time
    starts: list[float] = []
    s.subscribe(lambda snap: starts.append(time.perf_counter()))
    s.start()
    extra = [threading.Thread(target=s.poll) for _ in range(4)]
    for t in extra:
        t.start()
    time.sleep(0.4)
    s.stop()
    for t in extra:
        t.join()
    assert not s.running
    assert s.max_active_polls == 1
    assert len(starts) >= 5
    gaps = np.diff(starts)
    assert gaps.min() >= 0.025                    # each poll waited for the previous one to finish


def test_sampler_thread_rate_and_window():
    s = Sampler(hz=20, window=5, cpu_source=FixedSource(), deterministic=False)
    s.start()
    time.sleep(0.6)
    s.stop()
    hist = s.history()
    assert len(hist) == 5                          # rolling window keeps the last 5
    assert [h.seq for h in hist] == list(range(hist[0].seq, hist[0].seq + 5))
    assert 8 <= hist[-1].seq + 1 <= 16            # about 20 Hz for 0.6 s


def test_snapshot_is_immutable():
    snap = Sampler(cpu_source=FixedSource(), deterministic=False).poll()
    with pytest.raises(FrozenInstanceError):
        snap.cpu = None  # type: ignore[misc]


def test_deterministic_mode_is_fixed_and_threadless(monkeypatch):
    monkeypatch.setenv("WORKBENCH_DETERMINISTIC", "1")
    a, b = Sampler(window=10).start(), Sampler(window=10).start()
    assert not a.running and len(a.history()) == 10
    assert [s.cpu for s in a.history()] == [s.cpu for s in b.history()]
    assert a.latest.gpus == () and a.latest.poll_ms == 0.0


def test_recorder_summarises_samples_from_a_shared_sampler():
    s = Sampler(cpu_source=FixedSource(), gpu_probe=NvmlProbe(module=FakeNvml()), deterministic=False)
    rec = MetricsRecorder(s)
    rec.start()
    for _ in range(3):
        s.poll()
    out = rec.stop()                              # + one poll at stop
    assert out["samples"] == 4
    src = FixedSource()
    totals = [src.read().total_pct for _ in range(4)]
    assert out["cpu_mean"] == pytest.approx(sum(totals) / 4, abs=0.01)
    assert out["cpu_peak"] == max(totals)
    assert out["rss_peak"] == 300 * 2**20
    assert out["gpu_util_mean"] == 37.0 and out["gpu_util_peak"] == 37.0
    assert out["gpu_mem_peak"] == 2 * 2**30 and out["gpu"] == "Fake Test GPU"
    s.poll()
    assert rec.stop()["samples"] == 4             # unsubscribed: later ticks are not kept


def test_recorder_with_the_benchmark_harness():
    from engines.measure.harness import benchmark

    class Busy:
        threads, device = 1, "cpu"

        def run(self, feeds):
            t = time.perf_counter()
            while time.perf_counter() - t < 0.002:
                pass
            return [feeds["x"]]

    res = benchmark(Busy(), {"x": np.zeros((1, 4), np.float32)}, warmup=1, iterations=60, budget_s=2,
                    recorder=MetricsRecorder(hz=20))
    m = res.run_metrics
    assert m["samples"] >= 2 and m["cpu_mean"] is not None and m["rss_peak"] > 0
    assert m["gpu_util_mean"] is None             # no GPU on this machine's product path
    json.dumps(m)


def test_right_sizing_hints():
    gpu = {"samples": 10, "gpu_util_mean": 12.0, "gpu_mem_peak": 2 * 2**30, "gpu_mem_total": 80 * 2**30}
    text = right_sizing_hint(gpu, batch=1)
    assert text.startswith("GPU busy 12% at batch 1: batch more or pick a smaller instance")
    assert "smaller GPU would fit" in text
    assert "the GPU is the limit" in right_sizing_hint({"samples": 3, "gpu_util_mean": 95.0}, batch=64)
    cpu = right_sizing_hint({"samples": 5, "cpu_mean": 9.0, "cores": 2, "gpu_util_mean": None}, batch=1)
    assert "CPU busy 9% of 2 cores at batch 1" in cpu and "batch more" in cpu
    assert "CPU-bound" in right_sizing_hint({"samples": 5, "cpu_mean": 97.0, "cores": 2})
    assert right_sizing_hint({}) == "no metrics were recorded for this run"


def test_summarize_of_nothing():
    out = summarize([])
    assert out["samples"] == 0 and out["cpu_mean"] is None and out["gpu_mem_peak"] is None
    assert CpuSample((50.0,), 50.0, 1, 4, 1).ram_pct == 25.0
