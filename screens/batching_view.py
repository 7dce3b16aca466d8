"""Batching results as the screen draws them: the tables, the chart, the verdict and the live server lines.

Pure rendering of results already computed (a :class:`engines.measure.sweep.SweepResult`, a comparison
dict from ``engines.serving.experiment.compare_batching``, the server's live stats); no model work here.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

from rich import box
from rich.table import Table
from rich.text import Text

from workbench.formatting import display_path
from workbench.wiring import batching as wiring


def comparison_table(result: dict[str, Any], title: str = "batching on vs off") -> Table:
    t = Table(title=f"{title}: requests/s, p99 ms", padding=(0, 1), collapse_padding=True,
              box=box.SIMPLE_HEAD, pad_edge=False, show_edge=False)
    for col in ("conc", "on/s", "on p99", "off/s", "off p99"):
        t.add_column(col, justify="right", no_wrap=True, min_width=len(col))
    for on, off in zip(result.get("on", []), result.get("off", [])):
        t.add_row(f"{on['level']:g}", f"{on['throughput_rps']:.0f}", f"{on['latency_ms']['p99']:.1f}",
                  f"{off['throughput_rps']:.0f}", f"{off['latency_ms']['p99']:.1f}")
    return t


def sweep_table(sweep: Any, title: str | None = None) -> Table:
    t = Table(title=title or f"batch sweep on {sweep.device}", padding=(0, 1),
              collapse_padding=True, box=box.SIMPLE_HEAD, pad_edge=False, show_edge=False)
    for col in ("batch", "p50 ms", "p99 ms", "items/s", "gain"):
        t.add_column(col, justify="right", no_wrap=True, min_width=len(col))
    for p in sweep.points:
        gain = f"{p.gain['value']:.2f}x" if p.gain else "1.00x" if p is sweep.points[0] else "—"
        t.add_row(str(p.batch), f"{p.latency_ms['p50']:.2f}", f"{p.latency_ms['p99']:.2f}",
                  f"{p.throughput_ips:.0f}", gain)
    return t


def draw_sweep(plt: Any, sweep: Any) -> None:
    """Throughput (left axis) and p99 latency (right axis) against batch size, batches evenly spaced."""
    pts = sweep.points
    xs = list(range(len(pts)))
    plt.title("items/s and p99 vs batch")
    plt.plot(xs, [p.throughput_ips for p in pts], label="items/s", marker="dot", color="green")
    plt.plot(xs, [p.latency_ms["p99"] for p in pts], label="p99 ms", marker="dot", color="orange",
             yside="right")
    plt.xticks(xs, [str(p.batch) for p in pts])
    plt.xlabel("batch size")
    plt.ylabel("items/s")
    plt.ylabel("p99 ms", yside="right")


def draw_comparison(plt: Any, result: dict[str, Any]) -> None:
    plt.title("p99 latency vs throughput")
    plt.xlabel("requests/s")
    plt.ylabel("p99 ms")
    for key, label, color in (("on", "batching on", "green"), ("off", "batching off", "red")):
        pts = result.get(key) or []
        if pts:
            plt.plot([p["throughput_rps"] for p in pts], [p["latency_ms"]["p99"] for p in pts],
                     label=label, marker="dot", color=color)


def counters_line(stats: dict[str, Any]) -> str:
    """requests, mean batch, queue depth, p99 (recent requests), rejected, failures."""
    lat = stats.get("latency_ms") or {}
    p99 = f"{lat['p99']:.1f} ms (last {lat['window']:,})" if lat.get("p99") is not None else "— (no requests yet)"
    return (f"requests {stats['requests']:,} · mean batch {stats['mean_batch']:.1f} · queue depth "
            f"{stats['queue_depth']} · p99 {p99} · rejected {stats['rejected_full']} · failures {stats['failures']}")


def server_text(srv: Any) -> str:
    """The server lines: where it serves and how, the live counters, a request to paste."""
    if srv is None:
        return "Server stopped."
    stats = wiring.server_stats(srv)
    mode = f"max batch {stats['max_batch']}, delay {stats['max_delay_ms']:g} ms" if stats["max_batch"] > 1 \
        else "batching off"
    try:
        example = wiring.curl_example(srv)
    except Exception:  # noqa: BLE001 - an example is a convenience, never a reason to fail the view
        example = f"curl -s {srv.url}/metadata"
    return (f"Serving at {srv.url} ({mode}) · GET /ping · POST /invocations\nLive: {counters_line(stats)}\n"
            f"Try: {example}")


def variant_name(session: Any, model: str) -> str:
    """The variant a result was measured on, by name (else the file name), so a result is never mistaken
    for the current variant's."""
    ws = session.workspace
    for v in session.variants:
        try:
            if ws is not None and ws.model_path(v).resolve() == Path(model).resolve():
                return "the baseline" if v.kind == "baseline" else v.name
        except Exception:  # noqa: BLE001 - a damaged variant entry: fall back to the file name
            continue
    return Path(model).name


def result_parts(state: Any, name_of: Callable[[str], str], chart: str | None) -> list[Any]:
    """The tables and sentences beside the chart: on/off with its verdict, Triton, the sweep and its advice."""
    result, sweep = state.batching_comparison, state.sweep
    parts: list[Any] = []
    if result:
        parts.append(comparison_table(result, f"on vs off of {name_of(result['model'])}"
                                      if result.get("model") else "batching on vs off"))
        verdict = wiring.batching_verdict(result)
        if verdict:
            parts.append(Text(verdict))
    exported = state.triton_export
    if exported is not None:
        parts.append(Text(f"Triton repository: {display_path(exported.model_dir)}", style="bold"))
    if sweep is not None:
        parts.append(sweep_table(sweep, f"sweep of {name_of(sweep.model)} on {sweep.device}"))
        rec = state.batching_recommendation
        if rec:
            use = " Press a to put it in the fields." if rec["meets_budget"] else ""
            parts.append(Text(f"recommended: max batch {rec['max_batch']}, queue delay "
                              f"{rec['max_delay_ms']:g} ms — {rec['reason']}.{use}"))
        if sweep.points:
            p = sweep.points[0]
            parts.append(Text(wiring.right_sizing_hint(p.run_metrics, p.batch), style="italic"))
    if result and sweep is not None:
        parts.append(Text(f"chart: {'batch sweep' if chart == 'sweep' else 'on vs off'} (g switches)", style="dim"))
    return parts
