"""The footer at 80x24: the app's own keys (open, help, quit, palette) always show; area keys give way.

Each FooterKey is checked by where it is drawn: inside the screen, and left of the command-palette key (docked
right), so a key half hidden behind the palette key fails too. The area keys dropped at 80 columns come back
at 120 columns and stay listed in help.
"""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from rich.console import Console
from textual.widgets._footer import FooterKey

from screens.help import help_table
from screens.widgets.footer import QuickFooter
from workbench.app import make_app
from workbench.palette import area_bindings

pytestmark = pytest.mark.asyncio
ROOT = Path(__file__).resolve().parents[2]
PT = ROOT / "sample_models" / "digits_cnn.pt"
APP_KEYS = ("o", "question_mark", "q")


async def open_area(app, pilot, key: str) -> None:
    await app.workers.wait_for_complete()
    await pilot.pause()
    await pilot.press(key)
    await app.workers.wait_for_complete()
    for _ in range(3):
        await pilot.pause()


def footer_keys(app) -> dict[str, FooterKey]:
    return {k.key: k for k in app.screen.query_one(QuickFooter).query(FooterKey)}


def assert_drawn_in_full(app, keys: dict[str, FooterKey]) -> None:
    width = app.screen.size.width
    palette = keys.get(app.COMMAND_PALETTE_BINDING)
    assert palette is not None and palette.region.width > 0 and palette.region.right <= width
    for key, widget in keys.items():
        region = widget.region
        assert region.width > 0, f"{key} takes no room"
        assert 0 <= region.x and region.right <= width, f"{key} drawn outside the screen: {region}"
        if widget is not palette:
            assert region.right <= palette.region.x, f"{key} runs under the palette key: {region}"


@pytest.mark.parametrize("area_key, area_only", [("2", "c"), ("7", "w"), ("5", "a")])
async def test_app_keys_show_at_80_columns(tmp_path, area_key, area_only):
    app = make_app(PT, workspace=tmp_path / "ws")
    async with app.run_test(size=(80, 24)) as pilot:
        await open_area(app, pilot, area_key)
        keys = footer_keys(app)
        for key in APP_KEYS:
            assert key in keys, f"{key} missing from the footer: {list(keys)}"
        assert_drawn_in_full(app, keys)
        area_keys = [k for k in keys if k not in APP_KEYS and k != app.COMMAND_PALETTE_BINDING]
        assert area_keys, "no area key left at all"
        # the app's keys come after the area's, as at full width
        order = list(keys)
        assert max(order.index(k) for k in area_keys) < min(order.index(k) for k in APP_KEYS)
        assert area_only not in keys   # the area's last key gave way ...
        out = Console(file=io.StringIO(), width=200, color_system=None)
        out.print(help_table(app.screen))
        assert area_only in {b.key for b in area_bindings(app.screen)}   # ... and is still in help
        assert f"\n{area_only} " in out.file.getvalue()

        await pilot.resize_terminal(120, 40)
        for _ in range(3):
            await pilot.pause()
        wide = footer_keys(app)
        assert area_only in wide and all(k in wide for k in APP_KEYS)
        assert_drawn_in_full(app, wide)

        await pilot.resize_terminal(80, 24)
        for _ in range(3):
            await pilot.pause()
        assert set(footer_keys(app)) == set(keys)


async def test_a_footer_that_fits_is_not_rebuilt_on_a_resize(tmp_path):
    app = make_app(PT, workspace=tmp_path / "ws")
    async with app.run_test(size=(120, 40)) as pilot:
        await open_area(app, pilot, "3")
        before = list(footer_keys(app).values())
        await pilot.resize_terminal(110, 40)
        for _ in range(3):
            await pilot.pause()
        assert list(footer_keys(app).values()) == before
