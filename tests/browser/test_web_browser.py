"""`workbench web` in a real headless Chromium: the page loads, keys reach the app, a real step completes,
and closing the browser mid-task ends the app process with nothing half-written.

A screenshot of each test's last page is kept (tests/browser/artifacts/, or $WORKBENCH_ARTIFACTS).
The step is the Optimize area's Apply (int8 static quantization of the bundled sample, measured): a lab's
step is driven the same way, by its area key, its action key and the text it shows when done.
"""

from __future__ import annotations

from pathlib import Path

import psutil
import pytest

from engines.manifest import read_manifest

pytestmark = pytest.mark.slow

LOAD_S = 180          # a fresh app process imports torch and opens the sample (slow on a busy 2-core machine)
STEP_S = 300
AREA_KEY, AREA_SHOWS = "2", "Quantization"                 # the Optimize area and a word only it shows
STEP_RUNNING = "optimize:"                                  # a task running on the Optimize screen
LAB_KEY, LAB_SHOWS = "8", "press a key, or n for the next"  # the Labs area (lab 1) and its steps box
LAB_STEP, LAB_DONE = "a", "step a:"                         # lab 1, step a: export to ONNX and benchmark
LONG_KEY = "t"                                             # auto-tune: long enough to close the tab during it
LOADED = "TorchScript"   # the header and the overview once the sample is open ("opening digits_cnn.pt…" before)
ENDS_S = 20           # the app process ends within this after the tab closes (quit, cancel, grace 3 s)


def open_session(server, browser) -> psutil.Process:
    browser.open(server.url)
    browser.wait_shows(LOADED, LOAD_S)   # the header: the model opened in this tab's own process
    procs = server.app_processes()
    assert len(procs) == 1, procs
    assert "-first-byte" in browser.body_classes()
    return procs[0]


def test_page_loads_keys_reach_the_app_and_a_lab_step_completes(web_server, browser, keep):
    server = web_server()
    assert "for this machine only" in server.output()
    open_session(server, browser)
    mark = browser.mark()
    browser.press(LAB_KEY)
    browser.wait_shows(LAB_SHOWS, 60, since=mark)
    mark = browser.mark()
    browser.press(LAB_STEP)
    browser.wait_shows(LAB_DONE, STEP_S, since=mark)
    shot = keep(browser, "web_lab_step_done")
    assert shot.stat().st_size > 10_000


def test_closing_the_browser_mid_task_ends_the_app_and_leaves_nothing_half_written(web_server, browser, keep,
                                                                                  _isolated_home):
    server = web_server()
    proc = open_session(server, browser)
    browser.press(AREA_KEY)
    browser.wait_shows(AREA_SHOWS, 60)
    mark = browser.mark()
    browser.press(LONG_KEY)
    browser.wait_shows(STEP_RUNNING, 60, since=mark)
    keep(browser, "web_mid_task")
    browser.close()
    gone, alive = psutil.wait_procs([proc], timeout=ENDS_S)
    assert not alive, f"the app process {proc.pid} still runs {ENDS_S} s after the browser closed"
    assert server.app_processes() == []
    assert server.proc.poll() is None          # the server itself keeps serving other tabs
    leftovers = [p for p in Path(_isolated_home).rglob("*") if p.name.endswith(".part")]
    assert leftovers == []
    for root in {m.parent for m in Path(_isolated_home).rglob("manifest.json")}:
        for entry in read_manifest(root):      # every published variant is whole: its model file exists
            if entry.get("status", "ok") == "ok":
                assert (root / "variants" / entry["id"] / entry["file"]).is_file(), entry["name"]


def test_presenter_page_uses_a_larger_font(web_server, browser, keep):
    server = web_server("--presenter")
    browser.open(server.url)
    size = browser.driver.execute_script("return document.getElementById('terminal').dataset.fontSize")
    assert size == "24"
    browser.wait_shows(LOADED, LOAD_S)
    keep(browser, "web_presenter")
