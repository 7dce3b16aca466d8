"""The variants of the open model: measured figures, deltas vs the baseline, Pareto marks.

The columns follow the table's width: narrow (an 80-column terminal) keeps the mark, the short name, the
speed with its interval, the quality and the size; wide (120 columns) adds the full recipe name, wrapped
at word boundaries, the delta, MACs and status; very wide adds p50/p99 and agreement. Sortable: click a
column header, or press ``s`` to cycle the sort column (``S`` reverses). Failed variants stay in the table
with their reason. Rows come from ``workbench.wiring.optimize.table_rows``.
"""

from __future__ import annotations

from typing import Any

from rich.text import Text
from textual import events
from textual.binding import Binding
from textual.widgets import DataTable

from workbench.formatting import human_count

# (label, key, width): width None = as wide as the content
ALL = {"pareto": ("★", 1), "name": ("variant", 24), "short": ("variant", 14), "speedup": ("× speed (95% CI)", 17),
       "speed_narrow": ("× speed  CI", 15), "accuracy": ("acc %", 5), "delta": ("Δ pts", 6), "size": ("KiB", 6),
       "macs": ("MACs", 7), "status": ("status", 6), "p50": ("p50 ms", 6), "p99": ("p99 ms", 6),
       "agree": ("agree %", 7)}
LAYOUTS = {   # smallest table width each layout needs, then its columns
    "narrow": (0, ["pareto", "short", "speed_narrow", "accuracy", "size"]),
    "wide": (80, ["pareto", "name", "speedup", "accuracy", "delta", "size", "macs", "status"]),
    "full": (112, ["pareto", "name", "speedup", "accuracy", "delta", "p50", "p99", "size", "macs", "agree",
                   "status"]),
}
SORTABLE = ["name", "accuracy", "p50", "speedup", "size", "status"]
SORT_OF = {"agree": "accuracy", "delta": "accuracy", "p99": "p50", "pareto": "p50", "short": "name",
           "speed_narrow": "speedup", "macs": "p50"}
LEGEND = "★ Pareto front (quality vs speed) · ☆ size front only · ⚠ see the note · bold = baseline"


def layout_for(width: int) -> str:
    return max((name for name, (need, _) in LAYOUTS.items() if width >= need), key=lambda n: LAYOUTS[n][0])


def _num(v: Any, spec: str, scale: float = 1.0) -> Text:
    return Text("—" if v is None else format(v * scale, spec), justify="right")


def speed_text(r: dict[str, Any], compact: bool = False) -> Text:
    """``1.26 (1.10–1.40)``: the paired speedup and its 95 % interval; ``≈`` within noise; yellow below 1."""
    sp = r.get("speedup")
    if sp is None:
        return Text("—", justify="right")
    t = Text(("≈" if r.get("within_noise") else "") + f"{sp:.2f}", style="yellow" if sp < 1.0 else "")
    iv = r.get("speedup_interval")
    if iv:
        t.append(f" {iv[0]:.2f}–{iv[1]:.2f}" if compact else f" ({iv[0]:.2f}–{iv[1]:.2f})", style="dim")
    elif r["kind"] != "baseline" and r.get("paired") is False:
        t.append(" unpaired", style="dim")
    t.justify = "right"
    return t


class VariantsTable(DataTable):
    BINDINGS = [
        Binding("s", "cycle_sort", "Sort"),
        Binding("S", "reverse_sort", "Reverse", show=False),
    ]

    def __init__(self, *, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(id=id, classes=classes, cursor_type="row", zebra_stripes=True)
        self.rows_data: list[dict[str, Any]] = []
        self.sort_key = "p50"
        self.sort_reverse = False
        self.layout_name = ""
        self.tooltip = f"{LEGEND}. Click a row to make it the current variant. Sort: click a header, or s (S reverses)."

    def on_mount(self) -> None:
        self._set_layout(layout_for(self.size.width or 60))

    def on_resize(self, event: events.Resize) -> None:
        want = layout_for(event.size.width)
        if want != self.layout_name:
            self._set_layout(want)

    def _set_layout(self, name: str) -> None:
        self.layout_name = name
        self.clear(columns=True)
        for key in LAYOUTS[name][1]:
            label, width = ALL[key]
            self.add_column(label, key=key, width=max(width, len(label)))
        self._fill()

    def set_rows(self, rows: list[dict[str, Any]]) -> None:
        self.rows_data = list(rows)
        self._fill()

    def _sort_value(self, r: dict[str, Any]) -> tuple:
        key = self.sort_key
        failed = r["status"] != "ok"
        value = {"name": r["name"], "accuracy": r["accuracy"] if r["accuracy"] is not None else r["top1_agreement"],
                 "p50": r["p50_ms"], "speedup": r.get("speedup"), "size": r["size_bytes"],
                 "status": r["status"]}[key]
        # failed and unmeasured rows always last
        return (failed or value is None, value if value is not None else 0)

    def _fill(self) -> None:
        if not self.layout_name:
            return
        selected = None
        if self.row_count and self.cursor_row < self.row_count:
            selected = self.coordinate_to_cell_key(self.cursor_coordinate).row_key.value
        self.clear()
        ok = sorted((r for r in self.rows_data if r["status"] == "ok"), key=self._sort_value,
                    reverse=self.sort_reverse)
        failed = [r for r in self.rows_data if r["status"] != "ok"]
        for r in ok + failed:
            self.add_row(*self._cells(r), key=r["id"], height=None)   # auto height: names wrap at word boundaries
        if selected is not None:
            self.select_id(selected)

    def _cell(self, key: str, r: dict[str, Any]) -> Any:
        if key == "pareto":
            return "★" if r["pareto_latency"] else ("☆" if r["pareto_size"] else "")
        if key in ("name", "short"):
            return Text(r.get(key) or r["name"], style="bold" if r["kind"] == "baseline" else "")
        if r["status"] != "ok":
            return Text("failed", style="red") if key in ("status", "speed_narrow") else ""
        if key in ("speedup", "speed_narrow"):
            return speed_text(r, compact=key == "speed_narrow")
        if key == "accuracy":
            q = r["accuracy"] if r["accuracy"] is not None else r["top1_agreement"]
            return _num(q, ".2f" if r["accuracy"] is not None else ".1f", 100)
        if key == "delta":
            delta = r.get("accuracy_delta_points")
            text = _num(delta, "+.2f")
            if delta is not None and delta < -1e-9:
                text.stylize("red")
            return text
        if key == "size":
            return _num(r["size_bytes"], ".1f", 1 / 1024)
        if key == "macs":
            return Text(human_count(r.get("macs"), "").strip() if r.get("macs") else "—", justify="right")
        if key == "p50":
            return _num(r["p50_ms"], ".3f")
        if key == "p99":
            return _num(r["p99_ms"], ".3f")
        if key == "agree":
            return _num(r["top1_agreement"], ".1f", 100)
        return Text("ok" + (" ⚠" if r.get("notes") else ""), style="green")   # status

    def _cells(self, r: dict[str, Any]) -> list[Any]:
        return [self._cell(key, r) for key in LAYOUTS[self.layout_name][1]]

    def select_id(self, vid: str) -> None:
        try:
            self.move_cursor(row=self.get_row_index(vid))
        except Exception:  # the row is gone (variant removed)
            pass

    def row_for(self, vid: str) -> dict[str, Any] | None:
        return next((r for r in self.rows_data if r["id"] == vid), None)

    def action_cycle_sort(self) -> None:
        i = SORTABLE.index(self.sort_key) if self.sort_key in SORTABLE else -1
        self.sort_key = SORTABLE[(i + 1) % len(SORTABLE)]
        self._fill()

    def action_reverse_sort(self) -> None:
        self.sort_reverse = not self.sort_reverse
        self._fill()

    def on_data_table_header_selected(self, event: DataTable.HeaderSelected) -> None:
        event.stop()
        key = SORT_OF.get(str(event.column_key.value), str(event.column_key.value))
        if key == self.sort_key:
            self.sort_reverse = not self.sort_reverse
        else:
            self.sort_key, self.sort_reverse = key, False
        self._fill()
