"""What a focus change costs: the body column restyles its children only when a rule needs it, and the
footer rebuilds its keys only when they change (screens/widgets/area_scroll.py, footer.py)."""

from __future__ import annotations

import pytest
from textual.app import App, ComposeResult
from textual.binding import Binding
from textual.widgets import Input, Static

from screens.widgets.area_scroll import AreaScroll
from screens.widgets.footer import QuickFooter

pytestmark = pytest.mark.asyncio


class Column(App):
    def __init__(self, css: str) -> None:
        self.CSS = css
        super().__init__()

    def compose(self) -> ComposeResult:
        with AreaScroll(id="col"):
            yield Static("a", id="a")
            yield Input(id="field")


@pytest.mark.parametrize("css, restyled", [
    ("Static { color: blue; }", False),
    ("AreaScroll:focus > Static { color: red; } Static { color: blue; }", True),
    ("#col:focus-within Static { color: red; } Static { color: blue; }", True),
])
async def test_a_body_column_restyles_its_children_on_focus_only_when_a_rule_says_so(css, restyled, monkeypatch):
    app = Column(css)
    async with app.run_test() as pilot:
        column, child = app.query_one("#col"), app.query_one("#a")
        app.query_one("#field").focus()                       # the column had the focus as the app opened
        await pilot.pause()
        seen: list[object] = []
        real = app.stylesheet.update_nodes
        monkeypatch.setattr(app.stylesheet, "update_nodes", lambda nodes, animate=False: real(
            (seen.extend(nodes := list(nodes)), nodes)[1], animate=animate))
        column.focus()
        await pilot.pause()
        assert column in seen and (child in seen) is restyled
        if restyled:
            assert child.styles.color.rgb == (255, 0, 0)        # the rule that needs it still applies


class Keys(App):
    BINDINGS = [Binding("f2", "noop(1)", "Apply"), Binding("f3", "noop(2)", "Build")]   # not typed into a field

    def compose(self) -> ComposeResult:
        yield Input(id="one")
        yield Input(id="two")
        yield QuickFooter()

    def action_noop(self, which: int) -> None:
        pass


async def test_the_footer_rebuilds_only_when_its_keys_change(monkeypatch):
    app = Keys()
    async with app.run_test() as pilot:
        await pilot.pause()
        footer = app.query_one(QuickFooter)
        calls = []
        real = footer.recompose

        async def counted():
            calls.append(1)
            await real()

        monkeypatch.setattr(footer, "recompose", counted)
        keys = lambda: [k.key for k in footer.query("FooterKey")]  # noqa: E731
        before = keys()
        assert "f2" in before and "f3" in before
        app.query_one("#two").focus()                          # focus moves, the same keys show
        await pilot.pause()
        assert calls == [] and keys() == before
        app.bind("f4", "noop(3)", description="Check")
        app.refresh_bindings()
        await pilot.pause()
        await pilot.pause()
        assert calls and "f4" in keys()                         # a new key: rebuilt once
