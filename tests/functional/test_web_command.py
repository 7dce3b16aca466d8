"""`workbench web` without a browser: binding, what it says, its page, and bad input (one line, exit 2).

These start the server process only (no app process is started until a browser connects), so they are
quick. The browser itself is driven in tests/browser/.
"""

from __future__ import annotations

import re
import socket
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest

pytest.importorskip("textual_serve")

from tests.browser.page import WebServer, free_port  # noqa: E402
from workbench.web.server import check_port, child_command, is_loopback, tui_args  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]


def run_cli(*args: str, timeout: float = 60) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "workbench", *args], cwd=ROOT, capture_output=True, text=True,
                          timeout=timeout, stdin=subprocess.DEVNULL)


def test_binds_loopback_by_default_says_so_and_serves_its_own_page():
    server = WebServer()
    try:
        assert f"serving on http://127.0.0.1:{server.port} for this machine only" in server.output()
        conns = [c for c in server.proc_connections() if c.status == "LISTEN"]
        assert {c.laddr.ip for c in conns} == {"127.0.0.1"}
        with urllib.request.urlopen(server.url, timeout=5) as r:
            page = r.read().decode()
        assert f'data-session-websocket-url="ws://127.0.0.1:{server.port}/ws"' in page
        # nothing on the page comes from another host (no web fonts, no CDN)
        hosts = set(re.findall(r'(?:src|href)="(?:https?:)?//([^/"]+)', page))
        assert hosts == {f"127.0.0.1:{server.port}"}
        assert server.app_processes() == []   # no tab connected: no app process
    finally:
        server.stop()


def test_reverse_proxy_address_is_used_for_the_websocket():
    server = WebServer()
    try:
        req = urllib.request.Request(server.url, headers={"X-Forwarded-Proto": "https",
                                                          "X-Forwarded-Host": "class.example.org"})
        with urllib.request.urlopen(req, timeout=5) as r:
            page = r.read().decode()
        assert 'data-session-websocket-url="wss://class.example.org/ws"' in page
    finally:
        server.stop()


def test_port_taken_is_one_line_and_exit_2():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        r = run_cli("web", "--port", str(port))
    assert r.returncode == 2
    assert r.stderr.strip() == (f"workbench: error: port {port} on 127.0.0.1 is taken (another server is "
                                "listening): choose another with --port")


def test_other_host_warns_before_binding():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        # port taken on loopback: 0.0.0.0 cannot bind it either, so nothing is ever exposed by this test
        r = run_cli("web", "--host", "0.0.0.0", "--port", str(port))
    lines = r.stderr.strip().splitlines()
    assert r.returncode == 2 and len(lines) == 2
    assert lines[0].startswith("workbench web: warning: listening on 0.0.0.0: anyone who can reach port")
    assert lines[1].startswith(f"workbench: error: port {port} on 0.0.0.0 is taken")


@pytest.mark.parametrize("args, message", [
    (["--port", "0"], "--port 0 is not a TCP port (1-65535)"),
    (["--port", "70000"], "--port 70000 is not a TCP port (1-65535)"),
    (["--host", ""], "--host is empty"),
    (["no/such/model.onnx"], "no such file or folder: no/such/model.onnx"),
    (["--data", "no/such.npz"], "no such data file: no/such.npz"),
    (["--public-url", "class.example.org"], "--public-url must start with http:// or https://"),
    (["--replay", "no/such/ws"], "no such workspace folder to replay: no/such/ws"),
    (["--replay", "x", "--workspace", "y"], "--replay WORKSPACE opens that workspace"),
    (["--max-sessions", "-1"], "--max-sessions must be 0 (no limit) or more, not -1"),
])
def test_bad_input(args, message):
    r = run_cli("web", *args)
    assert r.returncode == 2, r.stderr
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("workbench: error: ") and message in lines[0], r.stderr


def test_address_of_another_machine():
    r = run_cli("web", "--host", "192.0.2.1")   # TEST-NET-1: a literal, so no name is looked up
    lines = r.stderr.strip().splitlines()
    assert r.returncode == 2 and len(lines) == 2 and "warning" in lines[0]
    assert lines[1] == "workbench: error: --host 192.0.2.1 is not an address of this machine"


def test_child_command_quotes_paths(tmp_path):
    odd = tmp_path / "a model; rm -rf x.onnx"
    odd.write_bytes(b"")
    cmd = child_command(tui_args(str(odd), presenter=True))
    assert cmd.startswith(f"exec {sys.executable} -m workbench ")
    assert f"'{odd}'" in cmd and cmd.endswith("--presenter")


def test_loopback_names():
    assert is_loopback("127.0.0.1") and is_loopback("localhost") and is_loopback("::1")
    assert not is_loopback("0.0.0.0") and not is_loopback("192.0.2.1") and not is_loopback("example.org")


def test_check_port_free_and_taken():
    port = free_port()
    check_port("127.0.0.1", port)   # free: no error
    with socket.socket() as s:
        s.bind(("127.0.0.1", port))
        s.listen()
        from engines.errors import WorkbenchError

        with pytest.raises(WorkbenchError, match="is taken"):
            check_port("127.0.0.1", port)


def test_a_full_server_turns_tabs_away_without_starting_a_process():
    import asyncio
    import urllib.error

    import aiohttp
    import psutil

    server = WebServer("--max-sessions", "1")
    try:
        assert "(at most 1)" in server.output()

        async def scenario() -> None:
            async with aiohttp.ClientSession() as http:
                first = await http.ws_connect(f"ws://127.0.0.1:{server.port}/ws")
                for _ in range(100):   # its app process starts
                    if server.app_processes():
                        break
                    await asyncio.sleep(0.1)
                procs = server.app_processes()
                assert len(procs) == 1
                with pytest.raises(urllib.error.HTTPError) as page:
                    await asyncio.to_thread(urllib.request.urlopen, server.url, timeout=5)
                assert page.value.code == 503
                assert "this server is full (1 of 1 sessions)" in page.value.read().decode()
                second = await http.ws_connect(f"ws://127.0.0.1:{server.port}/ws")
                msg = await second.receive(timeout=10)
                assert msg.type == aiohttp.WSMsgType.CLOSE and msg.data == 1013, msg
                assert len(server.app_processes()) == 1
                await first.close()
                gone, alive = await asyncio.to_thread(psutil.wait_procs, procs, 30)
                assert not alive

        asyncio.run(scenario())
    finally:
        server.stop()
