"""The one layer between screens and engines.

Screens import ``workbench.wiring.*`` (and ``workbench.events``/``session``),
never ``engines``; an import-linter contract in ``pyproject.toml`` enforces
it. Each module here serves one area: it turns the area's inputs into engine
calls (imported lazily, inside the functions, so the first frame stays fast)
and returns typed results the screen matches on.
"""
