"""Quality against latency (or size) for every measured variant; the Pareto front drawn as a line.

Points are given by the screen as dicts ``{name, x, y, front, baseline}``
(see ``workbench.wiring.optimize.chart_points``). Pareto-optimal variants are
drawn as ``★``, the others as ``•``, the baseline as ``◆``.
"""

from __future__ import annotations

from typing import Any

from textual_plotext import PlotextPlot

AXES = {"latency": "p50 latency (ms)", "size": "size on disk (KiB)"}


class ParetoChart(PlotextPlot):
    DEFAULT_CSS = """
    ParetoChart {
        width: 1fr;
        height: 1fr;
        min-height: 8;
    }
    """

    def __init__(self, axis: str = "latency", *, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(id=id, classes=classes)
        self.axis = axis
        self.quality = "accuracy"
        self.points: list[dict[str, Any]] = []

    def set_points(self, points: list[dict[str, Any]], quality: str, axis: str | None = None) -> None:
        self.points = list(points)
        self.quality = quality
        if axis is not None:
            self.axis = axis
        self._draw()

    def on_mount(self) -> None:
        super().on_mount()
        self._draw()

    def _draw(self) -> None:
        plt = self.plt
        plt.clear_data()
        plt.clear_figure()
        ylabel = "accuracy (%)" if self.quality == "accuracy" else "top-1 agreement (%)"
        plt.title(f"{ylabel} vs {AXES[self.axis]}")
        plt.xlabel(AXES[self.axis])
        if not self.points:
            plt.text("no measured variants yet: Apply a recipe", 0.5, 0.5, alignment="center")
            plt.xlim(0, 1)
            plt.ylim(0, 1)
            self.refresh()
            return
        front = sorted((p for p in self.points if p["front"]), key=lambda p: p["x"])
        if len(front) > 1:
            plt.plot([p["x"] for p in front], [p["y"] for p in front], color="green", marker="braille")
        groups = (("baseline", "◆", "cyan"), ("front", "★", "green"), ("other", "•", "orange"))
        for kind, marker, color in groups:
            pts = [p for p in self.points if (kind == "baseline" and p["baseline"]) or
                   (kind == "front" and p["front"] and not p["baseline"]) or
                   (kind == "other" and not p["front"] and not p["baseline"])]
            if pts:
                plt.scatter([p["x"] for p in pts], [p["y"] for p in pts], marker=marker, color=color,
                            label=kind)
        xs = [p["x"] for p in self.points]
        ys = [p["y"] for p in self.points]
        xpad = (max(xs) - min(xs)) * 0.1 or max(xs) * 0.1 or 1.0
        ypad = (max(ys) - min(ys)) * 0.15 or 1.0
        plt.xlim(max(0.0, min(xs) - xpad), max(xs) + xpad)
        plt.ylim(min(ys) - ypad, min(100.0 + ypad / 3, max(ys) + ypad))
        self.refresh()
