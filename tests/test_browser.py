"""End to end in a real browser: JupyterLab shows the explorer, a slider is dragged, the
spectrum is redrawn.

Needs Debian's Chromium (``/usr/bin/chromium``) and the Python ``playwright``
package (its driver, never its own browsers): ``tools/install-browser.sh``.
Marked ``browser``: not part of ``make test``; run by ``make test-browser``.
The screenshot is written to ``build/explorer-browser.png``.
"""
from __future__ import annotations

import json
import os
import secrets
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

pytestmark = pytest.mark.browser

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                  "--no-first-run", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync",
                  # software WebGL for the 3-D scatter (no GPU here)
                  "--use-angle=swiftshader", "--enable-unsafe-swiftshader"]
NOTEBOOK = Path(__file__).resolve().parents[1] / "notebooks" / "10_explorer.ipynb"
TIMEOUT_MS = 180_000

#: JavaScript: the y values of the first trace of the 2-D plotly figure (the spectrum).
SPECTRUM_Y = """() => {
  const plots = [...document.querySelectorAll('.js-plotly-plot')];
  const spectrum = plots.find(p => p.data && p.data.length && p.data[0].type === 'scatter');
  return spectrum ? Array.from(spectrum.data[0].y) : null;
}"""


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def lab(tmp_path, space_dir):
    """JupyterLab on 127.0.0.1 (free port, random token) serving a copy of the explorer
    notebook whose parameters point at the smoke space; yields (base_url, token, notebook)."""
    import nbformat

    root = tmp_path / "lab"
    root.mkdir()
    nb = nbformat.read(NOTEBOOK, as_version=4)
    at = [i for i, c in enumerate(nb.cells) if "parameters" in c.metadata.get("tags", [])]
    assert at, f"{NOTEBOOK}: no cell tagged 'parameters'"
    injected = nbformat.v4.new_code_cell(f"model_dir = {str(space_dir)!r}\nautoplay = False")
    injected.metadata["tags"] = ["injected-parameters"]          # as papermill does
    nb.cells.insert(at[0] + 1, injected)
    nbformat.write(nb, root / "explorer.ipynb")
    port, token = free_port(), secrets.token_hex(16)
    env = dict(os.environ, JUPYTER_RUNTIME_DIR=str(tmp_path / "runtime"),
               JUPYTER_CONFIG_DIR=str(tmp_path / "config"),
               JUPYTERLAB_SETTINGS_DIR=str(tmp_path / "settings"),
               JUPYTERLAB_WORKSPACES_DIR=str(tmp_path / "workspaces"))
    # no "official Jupyter news?" toast over the screenshot
    notification = tmp_path / "settings" / "@jupyterlab" / "apputils-extension"
    notification.mkdir(parents=True)
    (notification / "notification.jupyterlab-settings").write_text(
        json.dumps({"fetchNews": "false", "checkForUpdates": False}))
    log = open(tmp_path / "lab.log", "w")  # noqa: SIM115 - open while the server runs
    server = subprocess.Popen(
        [sys.executable, "-m", "jupyterlab", "--no-browser", "--ip=127.0.0.1", f"--port={port}",
         f"--IdentityProvider.token={token}", f"--ServerApp.root_dir={root}",
         "--ServerApp.port_retries=0", "--ServerApp.terminals_enabled=False",
         *(["--allow-root"] if os.geteuid() == 0 else []),
         "--LabApp.extension_manager=readonly", "--LabApp.expose_app_in_browser=True",
         "--LabApp.news_url=",
         "--LabApp.check_for_updates_class=jupyterlab.handlers.announcements.NeverCheckForUpdate"],
        cwd=root, env=env, stdout=log, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                with urllib.request.urlopen(f"{base}/api/status?token={token}", timeout=5) as r:
                    json.load(r)
                break
            except OSError:
                if server.poll() is not None or time.monotonic() > deadline:
                    log.flush()
                    raise RuntimeError("JupyterLab did not start:\n"
                                       + (tmp_path / "lab.log").read_text()[-3000:])
                time.sleep(0.5)
        yield base, token, "explorer.ipynb"
    finally:
        server.terminate()
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()
        log.close()


def test_slider_drag_redraws_the_spectrum(lab, tmp_path):
    from playwright.sync_api import sync_playwright

    from vts import config

    assert Path(CHROMIUM).is_file(), f"{CHROMIUM} missing: run tools/install-browser.sh"
    base, token, notebook = lab
    shot = config.build_dir() / "explorer-browser.png"
    shot.parent.mkdir(parents=True, exist_ok=True)
    profile = tmp_path / "chromium-profile"          # a fresh user-data-dir
    with sync_playwright() as p:
        context = p.chromium.launch_persistent_context(
            str(profile), executable_path=CHROMIUM, headless=True, args=CHROMIUM_FLAGS,
            viewport={"width": 1500, "height": 1100})
        try:
            page = context.new_page()
            page.set_default_timeout(TIMEOUT_MS)
            page.goto(f"{base}/lab/tree/{notebook}?token={token}")
            page.wait_for_selector(".jp-Notebook .jp-Cell")
            page.wait_for_function("() => window.jupyterapp && window.jupyterapp.shell"
                                   " && window.jupyterapp.shell.currentWidget"
                                   " && window.jupyterapp.shell.currentWidget.sessionContext"
                                   " && window.jupyterapp.shell.currentWidget.sessionContext"
                                   ".session && window.jupyterapp.shell.currentWidget"
                                   ".sessionContext.session.kernel")
            page.evaluate("() => window.jupyterapp.commands.execute('notebook:run-all-cells')")
            # the explorer: sliders and both plotly figures, with the first spectrum drawn
            page.wait_for_selector(".widget-slider .noUi-handle")
            page.wait_for_function(f"() => {{ const y = ({SPECTRUM_Y})(); "
                                   "return y && y.some(v => v > -120); }")
            before = page.evaluate(SPECTRUM_Y)

            handle = page.locator(".widget-slider .noUi-handle").first   # PC1
            handle.scroll_into_view_if_needed()
            box = handle.bounding_box()
            x, y = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
            page.mouse.move(x, y)
            page.mouse.down()
            for step in range(1, 9):                 # drag right by 120 px
                page.mouse.move(x + 15 * step, y)
            page.mouse.up()
            page.wait_for_function(
                f"(before) => {{ const y = ({SPECTRUM_Y})(); "
                "return y && y.some((v, i) => Math.abs(v - before[i]) > 1e-6); }",
                arg=before)
            after = page.evaluate(SPECTRUM_Y)
            page.wait_for_timeout(1500)              # let plotly finish drawing
            page.locator(".jp-Cell-outputArea").last.screenshot(path=str(shot))
        finally:
            context.close()
    assert len(after) == len(before) == 168
    assert max(abs(a - b) for a, b in zip(after, before)) > 1e-6
    assert shot.is_file() and shot.stat().st_size > 10_000
