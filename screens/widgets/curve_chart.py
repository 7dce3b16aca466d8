"""The pruning curve: accuracy (left axis, %) and paired speedup (right axis, ×) against the amount pruned.

The screen gives a :class:`engines.optimize.prune_curve.PruneCurve` read through ``workbench.wiring.curve``
(only its plain fields are used). Each speedup is drawn with its 95 % interval as a vertical bar; the largest
amount within the accuracy budget, when one was asked for, is marked ``▲``. Without labels there is no
accuracy: only the speed is drawn, and the title says so.
"""

from __future__ import annotations

from typing import Any

from textual_plotext import PlotextPlot

LEGEND = "● accuracy % (left) · ■ speedup × (right), bar = its 95% interval · ▲ largest amount within max drop"
TOOLTIP = ("Every point is a pruned variant (channels removed, then the recovery epochs), measured like any "
           "variant; all points are timed side by side with the baseline in one interleaved run, so each speedup "
           "has its 95% interval from the same rounds.")
SPEED_ONLY = "no labels in the data: no accuracy, so the curve shows speed only"


class CurveChart(PlotextPlot):
    DEFAULT_CSS = """
    CurveChart {
        width: 1fr;
        height: 1fr;
        min-height: 8;
    }
    """

    def __init__(self, *, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(id=id, classes=classes)
        self.curve: Any = None
        self.tooltip = TOOLTIP

    def set_curve(self, curve: Any) -> None:
        self.curve = curve
        self._draw()

    def on_mount(self) -> None:
        super().on_mount()
        self._draw()

    @property
    def speed_only(self) -> bool:
        return self.curve is not None and self.curve.quality_key != "accuracy"

    def _draw(self) -> None:
        plt = self.plt
        plt.clear_data()
        plt.clear_figure()
        ok = [p for p in (self.curve.points if self.curve is not None else []) if p.status == "ok"]
        if not ok:
            plt.title("pruning curve: accuracy and speedup")
            plt.text("no stored curve for these settings: press c to run one", 0.5, 0.5, alignment="center")
            plt.xlim(0, 1)
            plt.ylim(0, 1)
            self.refresh()
            return
        xs = [100.0 * p.amount for p in ok]
        plt.xlabel("channels pruned (%)")
        speeds = [(x, p) for x, p in zip(xs, ok) if p.speedup is not None]
        side = "left" if self.speed_only else "right"
        acc = [100.0 * (p.quality or 0.0) for p in ok]
        plt.title("speedup × (no labels: no accuracy)" if self.speed_only else "accuracy % (left), speedup × (right)")
        # drawn bars, then lines, then marks, so no line covers a mark
        for x, p in speeds:
            if p.speedup_interval and p.speedup_interval[1] > p.speedup_interval[0]:
                plt.plot([x, x], list(p.speedup_interval), marker="braille", color="orange", yside=side)
        if speeds:
            plt.plot([x for x, _ in speeds], [p.speedup for _, p in speeds], marker="braille", color="orange",
                     yside=side)
        if not self.speed_only:
            plt.plot(xs, acc, marker="braille", color="cyan")
            plt.scatter(xs, acc, marker="●", color="cyan")
            plt.ylim(max(0.0, min(acc) - 5), 100.5)
        if speeds:
            plt.scatter([x for x, _ in speeds], [p.speedup for _, p in speeds], marker="■", color="orange",
                        yside=side)
            highs = [(p.speedup_interval or (p.speedup, p.speedup))[1] for _, p in speeds]
            lows = [(p.speedup_interval or (p.speedup, p.speedup))[0] for _, p in speeds]
            pad = (max(highs) - min(lows)) * 0.1 or 0.1
            plt.ylim(max(0.0, min(lows) - pad), max(highs) + pad, yside=side)
        chosen = getattr(self.curve, "chosen", None)
        if chosen is not None and not self.speed_only:
            point = next((p for p in ok if abs(p.amount - chosen) < 1e-9), None)
            if point is not None and point.quality is not None:
                plt.scatter([100.0 * chosen], [100.0 * point.quality], marker="▲", color="green")
        pad = max(2.0, (max(xs) - min(xs)) * 0.05)
        plt.xlim(max(0.0, min(xs) - pad), min(100.0, max(xs) + pad))
        plt.xticks(xs, [f"{x:.0f}%" for x in xs])
        self.refresh()
