"""End to end in a real browser: JupyterLab runs the explorer notebook on the smoke space,
and the explorer is driven as a user would: a slider dragged, an instrument picked, the
slider mode switched, ten quick arrow-key steps, a path played and followed.

What the kernel did is read back by running a probe cell appended to the notebook
(``explorer.counts``, the cursor, the sliders), so "the pick sticks" means the
kernel's state after the browser's echoes, not only what the page shows.

Needs Debian's Chromium (``/usr/bin/chromium``) and the Python ``playwright``
package (its driver, never its own browsers): ``tools/install-browser.sh``.
Marked ``browser``: not part of ``make test``; run by ``make test-browser``.
Screenshots: ``build/explorer-browser.png`` (after the drag), ``build/explorer-pick.png``,
``build/explorer-path.png`` (path mode, cursor moving).
"""
from __future__ import annotations

import contextlib
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

#: JavaScript: the plotly graph div whose first trace has a type (spectrum: 'scatter').
GRAPH = """(type) => [...document.querySelectorAll('.js-plotly-plot')]
  .find(p => p.data && p.data.length && p.data[0].type === type)"""
#: JavaScript: the y values of the first trace of the 2-D plotly figure (the spectrum).
SPECTRUM_Y = f"""() => {{
  const spectrum = ({GRAPH})('scatter');
  return spectrum ? Array.from(spectrum.data[0].y) : null;
}}"""
#: The probe cell appended to the notebook: the kernel's view of the explorer, as JSON.
PROBE = """import json as _json
_probe_n = globals().get("_probe_n", 0) + 1
print("PROBE", _json.dumps({"n": _probe_n, "counts": explorer.counts,
      "instrument": explorer.current_instrument, "pca": explorer.current_pca.tolist(),
      "timings": list(explorer.timings),
      "value": [s.value for s in explorer._pca_sliders],
      "step": [s.step for s in explorer._pca_sliders],
      "min": [s.min for s in explorer._pca_sliders],
      "max": [s.max for s in explorer._pca_sliders],
      "instruments": explorer.instruments}))"""
#: JavaScript: run the last cell (the probe) again.
RUN_PROBE = """async () => {
  const panel = window.jupyterapp.shell.currentWidget;
  panel.content.activeCellIndex = panel.content.widgets.length - 1;
  await window.jupyterapp.commands.execute('notebook:run-cell');
}"""
#: JavaScript: the text of the probe's output.
PROBE_TEXT = """() => {
  const panel = window.jupyterapp.shell.currentWidget;
  const cells = panel.content.widgets;
  return cells[cells.length - 1].node.querySelector('.jp-OutputArea').innerText;
}"""


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def explorer_notebook(folder: Path, model_dir: Path) -> Path:
    """A copy of the explorer notebook whose parameters point at ``model_dir`` (as papermill
    injects them), with the probe cell appended."""
    import nbformat

    nb = nbformat.read(NOTEBOOK, as_version=4)
    at = [i for i, c in enumerate(nb.cells) if "parameters" in c.metadata.get("tags", [])]
    assert at, f"{NOTEBOOK}: no cell tagged 'parameters'"
    injected = nbformat.v4.new_code_cell(f"model_dir = {str(model_dir)!r}\nautoplay = False")
    injected.metadata["tags"] = ["injected-parameters"]
    nb.cells.insert(at[0] + 1, injected)
    nb.cells.append(nbformat.v4.new_code_cell(PROBE))
    path = folder / "explorer.ipynb"
    nbformat.write(nb, path)
    return path


@contextlib.contextmanager
def jupyterlab(root: Path, scratch: Path):
    """JupyterLab on 127.0.0.1 (free port, random token) serving ``root``, its settings and
    runtime files under ``scratch``; yields ``(base_url, token)``."""
    port, token = free_port(), secrets.token_hex(16)
    env = dict(os.environ, JUPYTER_RUNTIME_DIR=str(scratch / "runtime"),
               JUPYTER_CONFIG_DIR=str(scratch / "config"),
               JUPYTERLAB_SETTINGS_DIR=str(scratch / "settings"),
               JUPYTERLAB_WORKSPACES_DIR=str(scratch / "workspaces"))
    # no "official Jupyter news?" toast over the screenshot
    notification = scratch / "settings" / "@jupyterlab" / "apputils-extension"
    notification.mkdir(parents=True, exist_ok=True)
    (notification / "notification.jupyterlab-settings").write_text(
        json.dumps({"fetchNews": "false", "checkForUpdates": False}))
    log = open(scratch / "lab.log", "w")  # noqa: SIM115 - open while the server runs
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
                                       + (scratch / "lab.log").read_text()[-3000:]) from None
                time.sleep(0.5)
        yield base, token
    finally:
        server.terminate()
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()
        log.close()


@pytest.fixture(scope="module")
def lab(tmp_path_factory, space_dir):
    """JupyterLab serving the explorer notebook on the smoke space;
    yields (base_url, token, notebook)."""
    scratch = tmp_path_factory.mktemp("lab")
    root = scratch / "lab"
    root.mkdir()
    notebook = explorer_notebook(root, space_dir)
    with jupyterlab(root, scratch) as (base, token):
        yield base, token, notebook.name


def open_explorer(p, lab, profile_dir, viewport=(1500, 2100)):
    """Chromium on the lab's notebook, every cell run, the explorer drawn; returns
    (context, page)."""
    base, token, notebook = lab
    context = p.chromium.launch_persistent_context(
        str(profile_dir), executable_path=CHROMIUM, headless=True, args=CHROMIUM_FLAGS,
        viewport={"width": viewport[0], "height": viewport[1]})
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
    # the explorer: sliders and the plotly figures, with the first spectrum drawn
    page.wait_for_selector(".widget-slider .noUi-handle")
    page.wait_for_function(f"() => {{ const y = ({SPECTRUM_Y})(); "
                           "return y && y.some(v => v > -120); }")
    page.wait_for_function(f"() => ({PROBE_TEXT})().includes('PROBE')")
    return context, page


@pytest.fixture(scope="module")
def explorer_page(lab, tmp_path_factory):
    """One Chromium page on the explorer, shared by the tests below (in file order)."""
    from playwright.sync_api import sync_playwright

    assert Path(CHROMIUM).is_file(), f"{CHROMIUM} missing: run tools/install-browser.sh"
    with sync_playwright() as p:
        context, page = open_explorer(p, lab, tmp_path_factory.mktemp("chromium-profile"))
        try:
            yield page
        finally:
            context.close()


def probe(page) -> dict:
    """Run the probe cell once the kernel has read every message before it."""
    before = page.evaluate(PROBE_TEXT)
    n = json.loads(before.split("PROBE", 1)[1])["n"] if "PROBE" in before else 0
    page.evaluate(RUN_PROBE)
    page.wait_for_function(f"() => ({PROBE_TEXT})().includes('\"n\": {n + 1},')")
    return json.loads(page.evaluate(PROBE_TEXT).split("PROBE", 1)[1])


def explorer_output(page):
    """The output area that holds the explorer (the one with the sliders)."""
    return page.locator(".jp-Cell-outputArea").filter(has=page.locator(".widget-slider")).first


def shoot(page, name: str) -> Path:
    from vts import config

    shot = config.build_dir() / name
    shot.parent.mkdir(parents=True, exist_ok=True)
    page.wait_for_timeout(800)                        # let plotly finish drawing
    explorer_output(page).screenshot(path=str(shot))
    assert shot.stat().st_size > 10_000
    return shot


def test_slider_drag_redraws_the_spectrum(explorer_page):
    page = explorer_page
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
    assert len(after) == len(before) == 168
    assert max(abs(a - b) for a, b in zip(after, before)) > 1e-6
    # drawn over the whole output width, on a fixed dB axis
    widths = page.evaluate(f"""() => {{
        const g = ({GRAPH})('scatter');
        const out = g.closest('.jp-OutputArea-output');
        return [g.getBoundingClientRect().width, out.getBoundingClientRect().width,
                g.layout.yaxis.autorange, g.layout.yaxis.range];
    }}""")
    assert widths[0] >= 0.9 * widths[1], widths
    assert widths[2] is False and widths[3][1] - widths[3][0] == 80
    shoot(page, "explorer-browser.png")


def test_instrument_pick_sticks(explorer_page):
    page = explorer_page
    start = probe(page)
    name = start["instruments"][len(start["instruments"]) // 2]
    page.locator(".widget-dropdown", has_text="instrument").locator("select").select_option(
        label=name)
    page.wait_for_timeout(1500)                       # the browser's echoes come and go
    state = probe(page)
    assert state["instrument"] == name
    assert state["counts"]["redraws"] == start["counts"]["redraws"] + 1, state["counts"]
    assert state["counts"]["audio"] == start["counts"]["audio"] + 1
    assert page.locator(".widget-dropdown", has_text="instrument").locator(
        "select").input_value() == name
    assert name in page.locator(".widget-html", has_text="PCA (").first.inner_text()
    shoot(page, "explorer-pick.png")


def test_switching_slider_mode_changes_no_sound(explorer_page):
    page = explorer_page
    start = probe(page)
    spectrum = page.evaluate(SPECTRUM_Y)
    audio = page.evaluate("() => [...document.querySelectorAll('audio')].map(a => a.src)")
    for label in ("latent dims", "PCA axes", "latent dims", "PCA axes"):
        page.locator(".widget-toggle-buttons button", has_text=label).click()
        page.wait_for_timeout(600)
    state = probe(page)
    assert state["counts"] == start["counts"]
    assert state["instrument"] == start["instrument"]
    assert page.evaluate(SPECTRUM_Y) == spectrum
    assert page.evaluate("() => [...document.querySelectorAll('audio')].map(a => a.src)") \
        == audio


def test_quick_keyboard_steps_all_count(explorer_page):
    page = explorer_page
    start = probe(page)
    value, step = start["value"][0], start["step"][0]
    key, sign = ("ArrowRight", 1) if value + 11 * step <= start["max"][0] else ("ArrowLeft", -1)
    handle = page.locator(".widget-slider .noUi-handle").first   # PC1
    handle.focus()
    for _ in range(10):                               # as fast as the keyboard goes
        page.keyboard.press(key)
    page.wait_for_timeout(1500)
    state = probe(page)
    assert state["value"][0] == pytest.approx(value + sign * 10 * step, abs=step / 4)
    assert state["pca"][0] == pytest.approx(state["value"][0], abs=1e-5)
    assert state["instrument"] is None
    assert 1 <= state["counts"]["redraws"] - start["counts"]["redraws"] <= 10


def test_path_mode_shows_the_spectra_and_a_moving_cursor(explorer_page):
    page = explorer_page
    start = probe(page)
    page.locator(".widget-button", has_text="play path").click()
    page.wait_for_function(f"""() => {{ const g = ({GRAPH})('heatmap');
        return g && g.data[0].z.some(row => row.some(v => v > g.data[0].zmin + 1)); }}""")
    page.locator(".widget-play button").first.click()             # play: the cursor moves
    page.wait_for_function(f"""() => {{ const g = ({GRAPH})('heatmap');
        return g.data[1].x[0] > 1.0; }}""", timeout=20_000)
    shot = shoot(page, "explorer-path.png")
    state = probe(page)
    assert state["counts"]["path_audio"] == start["counts"]["path_audio"] + 1
    assert state["counts"]["audio"] == start["counts"]["audio"]    # the note is kept
    assert shot.is_file()
