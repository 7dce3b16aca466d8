"""Spreading load over several servers: round-robin or weighted, deterministic.

``Targets`` holds the URLs and their weights. ``pick()`` returns the index of
the next target: round-robin cycles through them; weighted uses the smooth
weighted round-robin of nginx (each pick adds every weight to its running
score, takes the highest and subtracts the total), so over any window of
``sum(weights)`` picks each target gets exactly its weight's share, spread out
rather than in bursts. The same sequence every run: a test can check it.
"""

from __future__ import annotations

import math
import threading
from dataclasses import dataclass, field
from typing import Sequence

from engines.errors import WorkbenchError

POLICIES = ("round-robin", "weighted")


def check_weights(weights: Sequence[float], what: str = "weights") -> list[float]:
    """Finite, non-negative, not all zero: anything else is one line."""
    out = []
    for w in weights:
        try:
            w = float(w)
        except (TypeError, ValueError):
            raise WorkbenchError(f"{what}: {w!r} is not a number") from None
        if not math.isfinite(w):
            raise WorkbenchError(f"{what}: {w} is not a finite number")
        if w < 0:
            raise WorkbenchError(f"{what}: {w:g} is negative; give weights >= 0 (e.g. 0.9,0.1)")
        out.append(w)
    if not out:
        raise WorkbenchError(f"{what}: none given")
    if sum(out) <= 0:
        raise WorkbenchError(f"{what}: all are zero, so no target would get any traffic")
    return out


def parse_target(text: str) -> tuple[str, float | None]:
    """``URL`` or ``URL=WEIGHT``."""
    url, sep, weight = text.rpartition("=") if "=" in text.split("://")[-1] else (text, "", "")
    if not sep:
        return text, None
    try:
        return url, float(weight)
    except ValueError:
        raise WorkbenchError(f"target {text!r}: the weight after '=' must be a number") from None


@dataclass
class Targets:
    urls: list[str]
    weights: list[float] = field(default_factory=list)
    policy: str = "round-robin"

    def __post_init__(self) -> None:
        if not self.urls:
            raise WorkbenchError("no target URL given")
        if self.policy not in POLICIES:
            raise WorkbenchError(f"unknown balancing policy {self.policy!r}: use {' or '.join(POLICIES)}")
        if not self.weights:
            self.weights = [1.0] * len(self.urls)
        if len(self.weights) != len(self.urls):
            raise WorkbenchError(f"{len(self.weights)} weight(s) for {len(self.urls)} target(s): give one per URL")
        self.weights = check_weights(self.weights)
        if self.policy == "round-robin" and len(set(self.weights)) > 1:
            raise WorkbenchError("weights given with round-robin: use --balance weighted")
        self._lock = threading.Lock()
        self._n = 0
        self._score = [0.0] * len(self.urls)

    @classmethod
    def parse(cls, specs: Sequence[str], policy: str | None = None) -> "Targets":
        parsed = [parse_target(s) for s in specs]
        weighted = any(w is not None for _, w in parsed)
        if weighted and any(w is None for _, w in parsed):
            raise WorkbenchError("give a weight for every target (URL=WEIGHT) or for none")
        policy = policy or ("weighted" if weighted else "round-robin")
        weights = [w for _, w in parsed] if weighted else []
        return cls([u for u, _ in parsed], weights, policy)

    def shares(self) -> list[float]:
        total = sum(self.weights)
        return [w / total for w in self.weights]

    def pick(self) -> int:
        with self._lock:
            if self.policy == "round-robin":
                i = self._n % len(self.urls)
            else:
                total = sum(self.weights)
                for k, w in enumerate(self.weights):
                    self._score[k] += w
                i = max(range(len(self.urls)), key=lambda k: (self._score[k], -k))
                self._score[i] -= total
            self._n += 1
            return i
