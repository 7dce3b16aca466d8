"""Glue between the Optimize screen's pruning-curve tab and ``engines.optimize.prune_curve``.

The curve's points are variants; the whole curve (all points timed side by side with the baseline) is
stored in the workspace by the engine, so a curve made with ``workbench curve`` shows here too.
:func:`stored` reads the one matching the form's settings (else the newest); :func:`curve_in_session`
is the worker body; :func:`amounts_problem` checks the amounts field inline.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from workbench.session import Session

DEFAULT_AMOUNTS = "0,30,50,70,90"


def settings_from_form(form: dict[str, Any]) -> dict[str, Any]:
    from engines.optimize.curve_store import curve_settings

    return curve_settings(form.get("schedule", "one-shot"), int(form.get("recover_epochs", 0) or 0),
                          int(form.get("prune_steps", 3) or 3), int(form.get("reg_epochs", 2) or 0))


def amounts_problem(text: str) -> str | None:
    """The one-line reason the amounts are not accepted (not numbers, past 95 %, none), or None."""
    from engines.errors import WorkbenchError
    from engines.optimize.prune_curve import parse_amounts

    try:
        parse_amounts(text)
    except WorkbenchError as exc:
        return str(exc)
    return None


def stored(session: "Session", form: dict[str, Any]) -> tuple[Any, bool]:
    """(the stored curve for the form's settings, True) or (the newest stored curve, False) or (None, False)."""
    from engines.optimize.curve_store import load_curves

    ws = session.workspace
    if ws is None:
        return None, False
    curves = load_curves(ws.root)
    want = settings_from_form(form)
    for settings, curve in curves:
        if settings == want:
            return curve, True
    return (curves[0][1], False) if curves else (None, False)


def curve_in_session(session: "Session", form: dict[str, Any], amounts: str, max_drop: float | None,
                     task: Any = None) -> dict[str, Any]:
    """Worker body: sweep the amounts with the form's schedule and recovery epochs, every point measured."""
    from engines.optimize.prune_curve import parse_amounts, prune_curve
    from workbench.wiring.optimize import get_context

    s = settings_from_form(form)
    curve = prune_curve(get_context(session), parse_amounts(amounts), recover_epochs=s["recover_epochs"],
                        schedule=s["schedule"], steps=s.get("steps", 3), reg_epochs=s.get("reg_epochs", 2),
                        max_drop=max_drop, task=task)
    return {"kind": "curve", "variant_id": None, "curve": curve, "notes": curve.notes}
