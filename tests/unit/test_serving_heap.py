"""The idle trimmer gives memory back once per quiet period, only after work."""

from __future__ import annotations

import time

from engines.serving import heap
from engines.serving.heap import IdleTrimmer


def test_trims_once_after_work_and_quiet(monkeypatch):
    calls = []
    monkeypatch.setattr(heap, "trim_heap", lambda: calls.append(1) or True)
    t = IdleTrimmer(idle_s=0.05)
    assert not t.idle() and not calls            # no work yet: nothing to give back
    t.touch()
    assert not t.idle()                           # not quiet long enough
    time.sleep(0.06)
    assert t.idle() and calls == [1] and t.trims == 1
    time.sleep(0.06)
    assert not t.idle() and calls == [1]          # once per quiet period


def test_trim_heap_answers_on_this_platform():
    assert heap.trim_heap() in (True, False)


def test_the_batcher_trims_when_idle(monkeypatch):
    import numpy as np

    from engines.serving.batcher import DynamicBatcher

    calls = []
    monkeypatch.setattr(heap, "trim_heap", lambda: calls.append(1) or True)
    b = DynamicBatcher(lambda feeds: [feeds["x"] * 2], max_batch=4, max_delay_ms=1)
    b.trimmer.idle_s = 0.05
    try:
        out = b.submit({"x": np.ones((1, 2), np.float32)}).result(timeout=5)
        assert out[0].tolist() == [[2.0, 2.0]]
        for _ in range(100):
            if calls:
                break
            time.sleep(0.02)
        assert calls and b.trimmer.trims >= 1
    finally:
        b.close()
