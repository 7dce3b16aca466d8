"""Drive `workbench web` in a real headless Chromium (Debian's chromium + chromium-driver, via selenium).

The page's terminal draws on a canvas, so what the app shows is read where it arrives: a script added
before the page's own records every byte the app's websocket delivers (the terminal output Textual
writes), decoded and with escape sequences removed. Keys are typed into the terminal's own input element,
so they travel the real path: xterm.js, the websocket, textual-serve, the app's stdin.
"""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any, Callable

import psutil

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--disable-dev-shm-usage", "--window-size=1280,800",
         # the page loads nothing from other hosts; any name but localhost fails to resolve, so a stray
         # request cannot leave this machine
         "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE localhost, EXCLUDE 127.0.0.1"]
ANSI = re.compile(r"\x1b(\[[0-9;?<>=]*[ -/]*[@-~]|\][^\x07\x1b]*(\x07|\x1b\\)|[()][0-9A-Za-z]|[=>78DEHMc])")

RECORDER = r"""
(() => {
  const box = {text: "", opened: 0, closed: 0};
  window.__wb = box;
  const Native = window.WebSocket;
  const decoder = new TextDecoder();
  function Recording(url, protocols) {
    const ws = protocols === undefined ? new Native(url) : new Native(url, protocols);
    box.opened += 1;
    ws.addEventListener("message", (e) => {
      if (typeof e.data !== "string") {
        box.text = (box.text + decoder.decode(new Uint8Array(e.data), {stream: true})).slice(-1000000);
      }
    });
    ws.addEventListener("close", () => { box.closed += 1; });
    return ws;
  }
  Recording.prototype = Native.prototype;
  for (const k of ["CONNECTING", "OPEN", "CLOSING", "CLOSED"]) Recording[k] = Native[k];
  window.WebSocket = Recording;
})();
"""


def missing() -> str | None:
    """Why the browser tests cannot run here, or None."""
    for path, package in ((CHROMIUM, "chromium"), (CHROMEDRIVER, "chromium-driver")):
        if not path.exists():
            return f"{path} is missing: apt-get install -y {package} (.ci/run installs it)"
    try:
        import selenium  # noqa: F401
    except ImportError:
        return "selenium is missing: pip install -e '.[dev]'"
    try:
        import textual_serve  # noqa: F401
    except ImportError:
        return "textual-serve is missing: pip install -e ."
    return None


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(predicate: Callable[[], Any], timeout: float, what: str, poll: float = 0.25) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(poll)


class WebServer:
    """`python -m workbench web` on a free loopback port, in its own process group."""

    def __init__(self, *args: str, env: dict[str, str] | None = None) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}/"
        self.log = tempfile.TemporaryFile()
        self.proc = subprocess.Popen([sys.executable, "-m", "workbench", "web", "--port", str(self.port), *args],
                                     cwd=ROOT, env={**os.environ, **(env or {})}, stdout=self.log,
                                     stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True)
        wait_for(self._answers, 60, f"workbench web on {self.url} ({self.output()})")

    def _answers(self) -> bool:
        if self.proc.poll() is not None:
            raise AssertionError(f"workbench web exited with {self.proc.returncode}: {self.output()}")
        try:
            with urllib.request.urlopen(self.url, timeout=2) as r:
                return r.status == 200
        except OSError:
            return False

    def output(self) -> str:
        self.log.seek(0)
        return self.log.read().decode(errors="replace")[-3000:]

    def proc_connections(self) -> list:
        return psutil.Process(self.proc.pid).net_connections(kind="inet")

    def app_processes(self) -> list[psutil.Process]:
        """The app processes textual-serve started, one per connected tab."""
        try:
            kids = psutil.Process(self.proc.pid).children(recursive=True)
        except psutil.NoSuchProcess:
            return []
        out = []
        for p in kids:
            try:
                if p.is_running() and p.status() != psutil.STATUS_ZOMBIE and "workbench" in " ".join(p.cmdline()):
                    out.append(p)
            except psutil.Error:
                continue
        return out

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, 9)
                self.proc.wait(5)
        self.log.close()


class Browser:
    """Headless Chromium with a fresh profile, recording what the app's websocket delivers."""

    def __init__(self) -> None:
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service

        self.profile = tempfile.mkdtemp(prefix="wb-chromium-")
        options = webdriver.ChromeOptions()
        options.binary_location = str(CHROMIUM)
        for flag in FLAGS + [f"--user-data-dir={self.profile}"]:
            options.add_argument(flag)
        self.driver = webdriver.Chrome(service=Service(executable_path=str(CHROMEDRIVER)), options=options)
        self.driver.execute_cdp_cmd("Page.addScriptToEvaluateOnNewDocument", {"source": RECORDER})

    def open(self, url: str) -> None:
        self.driver.get(url)

    def raw(self) -> str:
        return self.driver.execute_script("return window.__wb ? window.__wb.text : ''") or ""

    def text(self) -> str:
        """What the app has drawn so far, escape sequences removed."""
        return ANSI.sub("", self.raw())

    def mark(self) -> int:
        return len(self.text())

    def shows(self, words: str, since: int = 0) -> bool:
        return words in self.text()[since:]

    def wait_shows(self, words: str, timeout: float, since: int = 0) -> None:
        wait_for(lambda: self.shows(words, since), timeout, f"the page to show {words!r}")

    def press(self, keys: str) -> None:
        from selenium.webdriver.common.by import By

        self.driver.find_element(By.CSS_SELECTOR, ".xterm-helper-textarea").send_keys(keys)

    def body_classes(self) -> str:
        return self.driver.execute_script("return document.body.className") or ""

    def screenshot(self, path: Path) -> Path:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.driver.save_screenshot(str(path))
        return path

    def close(self) -> None:
        """Quit the browser (its websocket closes as when a student closes the window); twice is harmless."""
        driver, self.driver = self.driver, None
        try:
            if driver is not None:
                driver.quit()
        finally:
            shutil.rmtree(self.profile, ignore_errors=True)
