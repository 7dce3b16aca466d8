"""Metrics wiring: the live snapshot types and their formatting, for the Metrics screen and the metrics bar."""

from __future__ import annotations

from engines.measure.metrics import Snapshot, fmt_bytes, fmt_num, fmt_pct, is_na, right_sizing_hint

__all__ = ["Snapshot", "fmt_bytes", "fmt_num", "fmt_pct", "is_na", "right_sizing_hint"]
