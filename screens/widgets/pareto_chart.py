"""Quality against latency (or size) for every measured variant; the Pareto front drawn as a line.

Points are given by the screen as dicts ``{name, short, x, y, front, baseline}``
(see ``workbench.wiring.optimize.chart_points``). Pareto-optimal variants are
drawn as ``★``, the others as ``•``, the baseline as ``◆``; each point is
labelled with the variant's short name (``LEGEND`` explains both).
"""

from __future__ import annotations

from typing import Any

from textual.app import RenderResult
from textual_plotext import PlotextPlot

AXES = {"latency": "p50 latency (ms)", "size": "size on disk (KiB)"}
LEGEND = ("◆ baseline · ★ Pareto front (line) · • dominated · names: ch/un = channels/weights pruned, "
          "+Nep = recovery epochs, int8 = static INT8")


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
        self._drawn_at: tuple[int, int] | None = None   # the size in cells the names were placed for

    def set_points(self, points: list[dict[str, Any]], quality: str, axis: str | None = None) -> None:
        self.points = list(points)
        self.quality = quality
        if axis is not None:
            self.axis = axis
        self._draw()

    def on_mount(self) -> None:
        super().on_mount()
        self._draw()

    def on_resize(self) -> None:
        self._draw()   # label places depend on the plot's size in cells

    def render(self) -> RenderResult:
        # a chart mounted into a tab as it opens gets its size without a Resize: place the names again
        if self.points and self._drawn_at != tuple(self.size):
            self._draw(refresh=False)
        return super().render()

    def _draw(self, refresh: bool = True) -> None:
        self._drawn_at = tuple(self.size)
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
            if refresh:
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
                plt.scatter([p["x"] for p in pts], [p["y"] for p in pts], marker=marker, color=color)
        xs = [p["x"] for p in self.points]
        ys = [p["y"] for p in self.points]
        xpad = (max(xs) - min(xs)) * 0.1 or max(xs) * 0.1 or 1.0
        ypad = (max(ys) - min(ys)) * 0.15 or 1.0
        box = (max(0.0, min(xs) - xpad), max(xs) + xpad, min(ys) - ypad, min(100.0 + ypad / 3, max(ys) + ypad))
        plt.xlim(box[0], box[1])
        plt.ylim(box[2], box[3])
        for p, (x, align) in self._labels(box):
            plt.text(p.get("short") or p["name"], x, p["y"], alignment=align,
                     color="cyan" if p["baseline"] else "green" if p["front"] else "orange")
        if refresh:
            self.refresh()

    def _labels(self, box: tuple[float, float, float, float]) -> list[tuple[dict[str, Any], tuple[float, str]]]:
        """Where each point's name goes: a cell right of its mark, else left of it, else nowhere (it would
        cover another name or mark; the table has every name)."""
        x0, x1, y0, y1 = box
        width, height = (self.size.width or 80), (self.size.height or 20)
        cols, rows = max(10, width - 8), max(4, height - 6)   # the plot area, roughly
        cw = (x1 - x0) / cols
        cell = lambda x, y: (round((x - x0) / cw), round((y1 - y) / (y1 - y0) * rows))   # noqa: E731
        taken = {cell(p["x"], p["y"]) for p in self.points}
        used: set[tuple[int, int]] = set()
        out = []
        for p in sorted(self.points, key=lambda q: (not q["baseline"], not q["front"], q["x"])):
            c, r = cell(p["x"], p["y"])
            name = p.get("short") or p["name"]
            for start, x, align in ((c + 2, p["x"] + 2 * cw, "left"), (c - 1 - len(name), p["x"] - 2 * cw, "right")):
                span = {(start + i, r) for i in range(-1, len(name) + 1)}
                if start >= 0 and start + len(name) <= cols and not span & (taken | used):
                    used |= span
                    out.append((p, (x, align)))
                    break
        return out
