"""The variants of the open model: measured figures, deltas vs the baseline, Pareto marks.

Sortable: click a column header, or press ``s`` to cycle the sort column
(``S`` reverses). Failed variants stay in the table with their reason.
Rows come from ``workbench.wiring.optimize.table_rows``.
"""

from __future__ import annotations

from typing import Any

from rich.text import Text
from textual.binding import Binding
from textual.widgets import DataTable

COLUMNS = [("★", "pareto"), ("variant", "name"), ("× speed", "speedup"), ("acc %", "accuracy"),
           ("Δ pts", "delta"), ("p50 ms", "p50"), ("KiB", "size"), ("agree %", "agree"),
           ("p99 ms", "p99"), ("status", "status")]
NAME_WIDTH = 22   # the full name, MACs and status of the highlighted row are in the note above the table
SORTABLE = ["name", "accuracy", "p50", "speedup", "size", "status"]


def _num(v: Any, spec: str, scale: float = 1.0) -> Text:
    return Text("—" if v is None else format(v * scale, spec), justify="right")


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
        self.tooltip = ("★ on the quality/latency Pareto front, ☆ on the quality/size front only; ⚠ see the note "
                        "above. Sort: click a header, or s (S reverses).")

    def on_mount(self) -> None:
        for label, key in COLUMNS:
            self.add_column(label, key=key)

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
        selected = None
        if self.row_count and self.cursor_row < self.row_count:
            selected = self.coordinate_to_cell_key(self.cursor_coordinate).row_key.value
        self.clear()
        ok = sorted((r for r in self.rows_data if r["status"] == "ok"), key=self._sort_value,
                    reverse=self.sort_reverse)
        failed = [r for r in self.rows_data if r["status"] != "ok"]
        for r in ok + failed:
            self.add_row(*self._cells(r), key=r["id"])
        if selected is not None:
            self.select_id(selected)

    def _cells(self, r: dict[str, Any]) -> list[Any]:
        star = "★" if r["pareto_latency"] else ("☆" if r["pareto_size"] else "")
        label = r["name"] if len(r["name"]) <= NAME_WIDTH else r["name"][:NAME_WIDTH - 1] + "…"
        name = Text(label, style="bold" if r["kind"] == "baseline" else "")
        if r["status"] != "ok":
            status = Text(f"failed: {r['error']}", style="red")
            return [star, name, "", "", "", "", "", "", "", status]
        delta = r.get("accuracy_delta_points")
        dtext = _num(delta, "+.2f")
        if delta is not None and delta < -1e-9:
            dtext.stylize("red")
        speed = _num(r.get("speedup"), ".2f")
        if r.get("speedup") is not None and r["speedup"] < 1.0:
            speed.stylize("yellow")
        status = Text("ok" + (" ⚠" if r.get("notes") else ""), style="green")
        return [star, name, speed, _num(r["accuracy"], ".2f", 100), dtext, _num(r["p50_ms"], ".3f"),
                _num(r["size_bytes"], ".1f", 1 / 1024), _num(r["top1_agreement"], ".1f", 100),
                _num(r["p99_ms"], ".3f"), status]

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
        key = {"agree": "accuracy", "delta": "accuracy", "p99": "p50", "pareto": "p50"}.get(
            str(event.column_key.value), str(event.column_key.value))
        if key == self.sort_key:
            self.sort_reverse = not self.sort_reverse
        else:
            self.sort_key, self.sort_reverse = key, False
        self._fill()
