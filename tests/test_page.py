"""The companion page (vts.app.page): built from a manifest, offline, every medium plays.

The page is built from a handful of artefacts registered here through
:mod:`vts.app.figures` (sounds, an MP4, PNGs, tables, a measured answer, an
interactive plot, an executed notebook), laid out as the notebooks would. The
tests without a browser check the HTML itself; the ones marked ``browser`` (run
by ``make test-browser`` / ``.ci/run``, Debian's Chromium driven by Playwright's
driver, ``tools/install-browser.sh``) open it from ``http://127.0.0.1`` and from
``file://`` and check that every ``<audio>`` / ``<video>`` has a duration, every
``<img>`` a width, no console error, no request leaves the machine; screenshot:
``build/page-browser.png``.
"""
from __future__ import annotations

import functools
import http.server
import re
import threading
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote, urlparse

import numpy as np
import pandas as pd
import plotly.graph_objects as go
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook, new_output

from vts.app import figures, page, plots, runner

SR = 22050
PAIR = "pair1_flute-e5_to_horn-a4"
#: Group prefix of a second table of players.
SAME = "same-pitch"
CREDIT = "Sounds: Philharmonia Orchestra (CC BY-SA 3.0)."


def _tone(hz: float, seconds: float = 0.5) -> np.ndarray:
    t = np.arange(int(seconds * SR)) / SR
    return (np.sin(2 * np.pi * hz * t) * np.hanning(len(t))).astype(np.float32)


def _frames(n: int = 6, width: float = 8.2) -> list[np.ndarray]:
    """Frames of a moving dot, rendered at 820 x 301 px (odd height: padded to even)."""
    fig = plots.new_figure(width, 3.01, dpi=100, layout=None)
    ax = fig.add_subplot()
    ax.set(xlim=(0, 1), ylim=(0, 1), title="a dot moving along x")
    (dot,) = ax.plot([0], [0.5], "o", ms=20)
    out = []
    for k in range(n):
        dot.set_xdata([k / (n - 1)])
        out.append(figures.figure_to_array(fig))
    return out


def build_site(root: Path, executed: Path | None = None) -> Path:
    """Artefacts of five notebooks, as the notebooks register them; returns the figures root."""
    nb07, nb08 = "07_interpolation_paths", "08_descriptor_topology"
    where = {"out_dir": root}
    for column, hz in (("origin", 660), ("end", 440), ("spherical", 550), ("expressive", 520)):
        figures.save_wav(_tone(hz), f"{PAIR}_{column}", f"Flute E5 f → French horn A4 ff: "
                         f"{column}. {CREDIT}", notebook=nb07, **where)
    figures.save_animation(_frames(), f"{PAIR}_spherical", "Flute E5 f → French horn A4 ff: "
                           "the spherical path beside its spectra.", fps=4, notebook=nb07, **where)
    fig = go.Figure(go.Scatter3d(x=[0, 1], y=[0, 1], z=[0, 1], mode="markers", name="flute"))
    figures.save(fig, f"{PAIR}_paths", "Interactive: the paths of Flute E5 f → French horn A4 ff",
                 notebook=nb07, **where)
    for k, (a, b) in enumerate((("bassoon G4 f", "clarinet G4 f"),
                                ("clarinet A4 f", "saxophone A4 f")), start=1):
        for column, hz in (("origin", 392), ("end", 392), ("spherical", 392),
                           ("expressive", 392)):
            figures.save_wav(_tone(hz, 0.3), f"{SAME}{k}_{a[:4]}_to_{b[:4]}_{column}",
                             f"{a} → {b}: {column}. {CREDIT}", notebook=nb07, **where)
    figures.save_table(pd.DataFrame({"pair": ["flute → horn"], "lsd_db": [0.31]}),
                       "linear_vs_spherical", "Linear vs spherical <distance>", notebook=nb07,
                       **where)
    figures.save_text("**Read** the table row by row.\n", "reading_notes.md",
                      "How to read it", notebook=nb07, **where)
    png = plots.new_figure(8.2, 3)
    png.subplots().plot([0, 1], [0, 1])
    figures.save(png, "planes_centroid", "Centroid on planes <b>along X</b>", notebook=nb08,
                 **where)
    figures.save_animation(_frames(4), "traversal_vanilla_X_centroid", "Centroid sweep X",
                           notebook=nb08, **where)
    figures.save_animation(_frames(4), "traversal_l2_X_centroid", "Centroid sweep X, l2",
                           notebook=nb08, **where)
    figures.save(png, "study_mds", "Per-study MDS", notebook="01_perceptual_spaces", **where)
    figures.save_table(pd.DataFrame({"model": ["nsgt-erb-regularized"], "test_mse": [0.0123]}),
                       "table1", "Table 1", notebook="05_generative_quality", **where)
    figures.save_wav(_tone(330), "original_flute-a4", "The note analysed. " + CREDIT,
                     notebook="02_transforms", **where)
    figures.set_run_info(root, profile="smoke", seed=0)
    if executed is not None:
        executed.mkdir(parents=True, exist_ok=True)
        book = new_notebook(cells=[new_markdown_cell("# 07 · Paths"), new_code_cell(
            "1 + 1", outputs=[new_output("execute_result", {"text/plain": "2"},
                                         execution_count=1)], execution_count=1)])
        (executed / f"{nb07}.ipynb").write_text(__import__("nbformat").writes(book))
    return root


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    root = tmp_path_factory.mktemp("site")
    build_site(root / "figures", root / "build" / "notebooks")
    index = page.write_page(root / "figures", {"02_transforms": "02 · Transforms"},
                            root / "build" / "notebooks")
    return index


class _Refs(HTMLParser):
    def __init__(self):
        super().__init__()
        self.refs, self.tags = [], []

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)
        self.refs += [(tag, k, v) for k, v in attrs if k in ("src", "href") and v]


def _refs(html: str):
    parser = _Refs()
    parser.feed(html)
    return parser


# ---------------------------------------------------------------------------- the HTML
def test_sections_follow_the_companion_page(site):
    html = site.read_text()
    heads = re.findall(r"<h2>\d+\. ([^<]+)</h2>", html)
    assert heads == ["Descriptor space animations", "Synthesis paths", "Additional information",
                     "Table 1: generative quality", "02 · Transforms",
                     "Interactive plots and executed notebooks"]
    assert "Philharmonia Orchestra" in html and "CC BY-SA 3.0" in html
    assert "Esling" in html and "Thoret" in html and "profile <code>smoke</code>" in html


def test_every_reference_is_relative_and_exists(site):
    html = site.read_text()
    parser = _refs(html)
    assert parser.refs
    for tag, attr, ref in parser.refs:
        if ref.startswith("#") or ref == "data:,":       # anchors; the empty favicon
            continue
        assert not urlparse(ref).scheme and not ref.startswith("//"), (tag, ref)
        assert (site.parent / unquote(ref)).is_file(), ref
    assert "http://" not in html and "https://" not in html


def test_media_and_captions_by_kind(site):
    html = site.read_text()
    parser = _refs(html)
    srcs = {(t, unquote(v)) for t, k, v in parser.refs if k == "src"}
    assert ("video", f"07_interpolation_paths/{PAIR}_spherical.mp4") in srcs
    assert ("video", "08_descriptor_topology/traversal_vanilla_X_centroid.mp4") in srcs
    # animations are MP4 only, in <video> elements, at least 800 px wide
    videos = [v for t, v in srcs if t == "video"]
    assert len(videos) == 3 and all(v.endswith(".mp4") for v in videos)
    assert not any(v.endswith(".gif") for _, v in srcs)
    assert all(figures.video_size(site.parent / v)[0] >= 800 for v in videos)
    # the descriptor section opens with its animations, side by side
    assert html.index("traversal_vanilla_X_centroid.mp4") < html.index("planes_centroid.png")
    assert re.search(r'<div class="grid"><figure class="video">.*?traversal_vanilla.*?'
                     r'traversal_l2.*?</div>', html, re.DOTALL)
    # images carry their size (no layout shift while lazy images load)
    assert re.search(r'<img loading="lazy" width="\d+" height="\d+" src="08_descriptor', html)
    assert ("img", "08_descriptor_topology/planes_centroid.png") in srcs
    assert ("audio", "02_transforms/original_flute-a4.wav") in srcs
    # captions are escaped, never markup
    assert "Centroid on planes &lt;b&gt;along X&lt;/b&gt;" in html and "<b>along X" not in html
    # the CSV is a table (its Markdown twin is not repeated), the lone answer is text
    assert "0.0123" in html and "<td>nsgt-erb-regularized</td>" in html
    assert html.count("Linear vs spherical &lt;distance&gt;") == 1
    assert "<strong>Read</strong> the table row by row." in html
    # the interactive plot is linked in its section and in the closing table
    assert html.count(f'href="07_interpolation_paths/{PAIR}_paths.html"') == 2


def test_sounds_sharing_a_group_form_tables_of_players(site):
    html = site.read_text()
    tables = re.findall(r'<table class="sounds">(.*?)</table>', html, re.DOTALL)
    assert len(tables) == 2                  # "pair..." and "same-pitch..." groups
    first, second = tables
    assert re.findall(r"<th>(\w+)</th>", first) == ["origin", "end", "spherical", "expressive"]
    assert re.findall(r"<tr><td>([^<]*)</td>", first) == ["Flute E5 f → French horn A4 ff"]
    assert first.count("<audio") == 4
    assert re.findall(r"<tr><td>([^<]*)</td>", second) == ["bassoon G4 f → clarinet G4 f",
                                                          "clarinet A4 f → saxophone A4 f"]
    assert second.count("<audio") == 8
    # several tables in a section: each headed by its groups' first word, in order
    assert html.index("<h3>Pair</h3>") < html.index("<h3>Same pitch</h3>")
    # the group's video sits under the group's heading, after its table
    h4 = html.index("<h4>Flute E5 f → French horn A4 ff</h4>")
    assert html.index("<h3>Pair</h3>") < h4 < html.index(f"{PAIR}_spherical.mp4")


def test_executed_notebooks_are_rendered_offline(site, tmp_path):
    rendered = site.parent / page.NOTEBOOK_HTML / "07_interpolation_paths.html"
    assert rendered.is_file()
    body = rendered.read_text()
    assert not re.search(r'<script[^>]*src="(https?:)?//', body)
    assert 'src=""' not in body
    assert 'href="notebooks/07_interpolation_paths.html"' in site.read_text()
    # without executed notebooks: a note, no link
    alone = page.write_page(build_site(tmp_path / "f"), {}, tmp_path / "none")
    assert "No executed notebook" in alone.read_text()
    assert not (tmp_path / "f" / page.NOTEBOOK_HTML).exists()


def test_missing_files_are_left_out(tmp_path):
    root = build_site(tmp_path / "figures")
    (root / "01_perceptual_spaces" / "study_mds.png").unlink()
    html = page.write_page(root, {}, tmp_path / "none").read_text()
    assert "study_mds" not in html and "Additional information" not in html


def test_runner_writes_the_page_and_strips_widget_state(tmp_path):
    folder = tmp_path / "nbs"
    folder.mkdir()
    params = new_code_cell("profile = 'default'\nmodels_dir = None\nfigures_dir = None\n"
                           "seed = 0")
    params.metadata["tags"] = ["parameters"]
    book = new_notebook(cells=[new_markdown_cell("# 10 · A widget"), params, new_code_cell(
        "import ipywidgets\nfrom vts.app import figures, notebook as nb\n"
        "ctx = nb.setup('10_widget', profile, models_dir, figures_dir, seed)\n"
        "figures.save_text('x', 'x.txt', 'A text')\n"
        "ipywidgets.FloatSlider(value=0.5)")])
    book.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3",
                                   "language": "python"}
    (folder / "10_widget.ipynb").write_text(__import__("nbformat").writes(book))
    runner.run_notebooks("smoke", output_dir=tmp_path / "fig", models_dir=tmp_path / "m",
                         build_dir=tmp_path / "build", notebooks_dir=folder, progress=False)
    executed = (tmp_path / "build" / "notebooks" / "10_widget.ipynb").read_text()
    assert "application/vnd.jupyter.widget-view+json" not in executed
    assert '"widgets"' not in executed and runner.WIDGET_NOTE in executed
    html = (tmp_path / "fig" / page.PAGE).read_text()
    assert "10 · A widget" in html and 'href="10_widget/x.txt"' not in html
    assert "<pre>x</pre>" in html
    assert (tmp_path / "fig" / page.NOTEBOOK_HTML / "10_widget.html").is_file()


# ---------------------------------------------------------------------------- in a browser
CHROMIUM = "/usr/bin/chromium"

#: Wait for every medium; returns what each reports.
MEDIA = """async () => {
  const imgs = [...document.images];
  imgs.forEach(i => { i.loading = 'eager'; });
  const media = [...document.querySelectorAll('audio, video')];
  const ready = el => new Promise(ok => {
    if (el.readyState >= 1) return ok();
    el.addEventListener('loadedmetadata', ok, {once: true});
    el.addEventListener('error', ok, {once: true});
    if (el.preload === 'none') el.load();
  });
  const loaded = img => img.complete ? Promise.resolve() : new Promise(ok => {
    img.addEventListener('load', ok, {once: true});
    img.addEventListener('error', ok, {once: true});
  });
  await Promise.all([...media.map(ready), ...imgs.map(loaded)]);
  return {
    media: media.map(m => ({tag: m.tagName, src: m.getAttribute('src'), duration: m.duration,
                            error: m.error ? m.error.code : null})),
    images: imgs.map(i => ({src: i.getAttribute('src'), width: i.naturalWidth})),
    videoWidths: [...document.querySelectorAll('video')].map(v => v.videoWidth),
  };
}"""


@pytest.fixture
def browser(tmp_path):
    """Chromium (Debian's) through Playwright's driver; yields (context, events)."""
    from playwright.sync_api import sync_playwright

    from test_browser import CHROMIUM_FLAGS

    assert Path(CHROMIUM).is_file(), f"{CHROMIUM} missing: run tools/install-browser.sh"
    events = {"console": [], "requests": [], "failed": []}
    with sync_playwright() as p:
        context = p.chromium.launch_persistent_context(
            str(tmp_path / "profile"), executable_path=CHROMIUM, headless=True,
            args=CHROMIUM_FLAGS, viewport={"width": 1300, "height": 1000})
        context.on("console", lambda m: events["console"].append((m.type, m.text))
                   if m.type == "error" else None)
        context.on("request", lambda r: events["requests"].append(r.url))
        context.on("requestfailed", lambda r: events["failed"].append((r.url, r.failure)))
        context.on("weberror", lambda e: events["console"].append(("pageerror", str(e.error))))
        try:
            yield context, events
        finally:
            context.close()


@pytest.fixture
def served(site):
    """The figures folder on http://127.0.0.1:<free port>/ (python -m http.server)."""
    handler = functools.partial(_QuietHandler, directory=str(site.parent))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


def _local(url: str) -> bool:
    parsed = urlparse(url)
    return parsed.scheme in ("file", "data", "blob") or parsed.hostname == "127.0.0.1"


def _check_page(context, events, url, shot: Path | None = None) -> dict:
    tab = context.new_page()
    tab.goto(url, wait_until="load")
    report = tab.evaluate(MEDIA)
    if shot is not None:
        shot.parent.mkdir(parents=True, exist_ok=True)
        tab.screenshot(path=str(shot), full_page=True)
    tab.close()
    assert report["media"] and report["images"]
    for m in report["media"]:
        assert m["error"] is None and m["duration"] > 0, m
    assert all(w > 0 for w in report["videoWidths"])
    for i in report["images"]:
        assert i["width"] > 0, i
    assert not events["console"], events["console"]
    assert not events["failed"], events["failed"]
    assert all(_local(u) for u in events["requests"]), \
        [u for u in events["requests"] if not _local(u)]
    return report


@pytest.mark.browser
def test_page_plays_every_medium_over_http(site, served, browser):
    from vts import config

    context, events = browser
    shot = config.build_dir() / "page-browser.png"
    report = _check_page(context, events, served + page.PAGE, shot)
    kinds = sorted(m["tag"] for m in report["media"])
    assert kinds == ["AUDIO"] * 13 + ["VIDEO"] * 3
    assert shot.stat().st_size > 20_000
    # the linked pages too: the interactive plot draws with its plotly.min.js, the executed
    # notebook opens; neither asks anything of the network
    for rel in (f"07_interpolation_paths/{PAIR}_paths.html",
                "notebooks/07_interpolation_paths.html"):
        tab = context.new_page()
        tab.goto(served + rel, wait_until="load")
        if not rel.startswith(page.NOTEBOOK_HTML):
            tab.wait_for_function("() => { const g = document.querySelector('.js-plotly-plot');"
                                  " return g && g._fullLayout && g.querySelector('canvas'); }")
            assert tab.evaluate("() => typeof Plotly") == "object"
            assert tab.evaluate("() => document.querySelector('.js-plotly-plot').layout"
                                ".scene.xaxis.title.text") == "PC1"
        tab.close()
    assert not events["console"], events["console"]
    assert all(_local(u) for u in events["requests"])


@pytest.mark.browser
def test_page_plays_from_file_url(site, browser):
    context, events = browser
    _check_page(context, events, site.as_uri())
