"""Overview: what the open model is, what it costs to run, and what this tool can do with it."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Horizontal
from textual.widgets import DataTable, Static

from screens.base import WorkbenchScreen
from screens.widgets.area_scroll import AreaScroll
from workbench.formatting import display_path, format_name, human_bytes, human_count

if TYPE_CHECKING:
    from workbench.wiring.model import ModelInfo, TensorSpec

MAX_LAYER_ROWS = 500


def dim_text(d: Any) -> str:
    if isinstance(d, int):
        return str(d) if d >= 0 else "?"
    return str(d) or "?"


def dynamic_dims(spec: "TensorSpec") -> str:
    dyn = [f"{i}:{dim_text(d)}" for i, d in enumerate(spec.shape) if not isinstance(d, int) or d < 0]
    return ", ".join(dyn) if dyn else "—"


def summary_table(info: "ModelInfo") -> Table:
    grid = Table.grid(padding=(0, 1), expand=True)
    grid.add_column(style="bold", no_wrap=True)
    grid.add_column(ratio=1, overflow="fold")
    grid.add_row("Format", format_name(info.format))
    grid.add_row("Path", display_path(info.path))
    grid.add_row("Size on disk", human_bytes(info.size_bytes))
    params = f"{info.param_count:,}"
    grid.add_row("Parameters", params if info.param_count < 1000 else f"{params} ({human_count(info.param_count)})")
    if info.macs is None:
        grid.add_row("MACs", Text("unknown for this format", style="dim"))
    else:
        grid.add_row("MACs", f"{human_count(info.macs)} per sample (FLOPs ≈ {human_count(info.flops)})")
    grid.add_row("Framework", info.framework)
    if info.opset is not None:
        grid.add_row("Opset", str(info.opset))
    if info.arch:
        grid.add_row("Architecture", info.arch)
    grid.add_row("Supports", Text(info.support or "inspect only", style="italic"))
    for i, note in enumerate(info.notes):
        grid.add_row("Notes" if i == 0 else "", Text(f"• {note}", style="yellow"))
    return grid


class OverviewScreen(WorkbenchScreen):
    AREA = "overview"
    CSS_PATH = "overview.tcss"

    def compose_body(self) -> ComposeResult:
        info = self.session.model_info
        if info is None:
            loading = getattr(self.app, "loading_path", None)
            text = (f"Opening {loading.name}…" if loading is not None
                    else "No model loaded — press o to open one")
            yield Static(text, id="overview-empty", classes="placeholder")
            return
        with AreaScroll(id="overview"):
            card = Static(summary_table(info), id="summary")
            card.border_title = info.name
            yield card
            yield self._io_table(info)
            with Horizontal(id="overview-tables"):
                yield self._ops_table(info)
                if info.layers:
                    yield self._layers_table(info)

    def _ops_table(self, info: "ModelInfo") -> DataTable:
        table: DataTable = DataTable(id="ops", cursor_type="row", zebra_stripes=True)
        table.border_title = f"Ops ({sum(info.op_histogram.values())})"
        table.add_column("op", key="op")
        table.add_column("count", key="count")
        for op, count in sorted(info.op_histogram.items(), key=lambda kv: (-kv[1], kv[0])):
            table.add_row(op, Text(str(count), justify="right"))
        return table

    def _io_table(self, info: "ModelInfo") -> DataTable:
        table: DataTable = DataTable(id="io", cursor_type="row")
        table.border_title = "Inputs and outputs"
        for col in ("", "name", "shape", "dtype", "dynamic dims"):
            table.add_column(col)
        for kind, specs in (("in", info.inputs), ("out", info.outputs)):
            for spec in specs:
                shape = "[" + ", ".join(dim_text(d) for d in spec.shape) + "]"
                style = "bold yellow" if spec.is_dynamic else ""
                table.add_row(kind, spec.name, Text(shape, style=style), spec.dtype, dynamic_dims(spec))
        return table

    def _layers_table(self, info: "ModelInfo") -> DataTable:
        table: DataTable = DataTable(id="layers", cursor_type="row", zebra_stripes=True)
        shown = info.layers[:MAX_LAYER_ROWS]
        more = f", first {len(shown)} shown" if len(info.layers) > len(shown) else ""
        table.border_title = f"Layers ({len(info.layers)}{more})"
        for col in ("name", "op", "params", "MACs"):
            table.add_column(col)
        for layer in shown:
            params, macs = layer.get("params"), layer.get("macs")
            table.add_row(str(layer.get("name", "")), str(layer.get("op", "")),
                          Text(human_count(params) if params else "—", justify="right"),
                          Text(human_count(macs) if macs else "—", justify="right"))
        return table
