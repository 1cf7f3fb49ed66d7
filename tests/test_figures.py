"""Saving artefacts, the manifest and the index of vts.app.figures."""
import json

import numpy as np
import pandas as pd
import plotly.graph_objects as go
import pytest
import soundfile as sf

from vts.app import figures, plots


@pytest.fixture
def out(tmp_path):
    """A figures root with notebook "01_test" as the default target; context restored after."""
    saved = (figures._CONTEXT.out_dir, figures._CONTEXT.notebook)
    figures.use(tmp_path, "01_test")
    yield tmp_path
    figures._CONTEXT.out_dir, figures._CONTEXT.notebook = saved


def _manifest(root):
    return json.loads((root / figures.MANIFEST).read_text())["artefacts"]


def test_save_png_registers_caption_and_writes_a_png(out):
    fig = plots.new_figure(2, 2)
    fig.subplots().plot([0, 1], [1, 0])
    path = figures.save(fig, "line", "A  line\n going down")
    assert path == out / "01_test" / "line.png"
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    entry = _manifest(out)["01_test/line.png"]
    assert entry == {"caption": "A line going down", "notebook": "01_test", "kind": "figure"}


def test_save_plotly_loads_the_plotly_js_beside_it_and_is_deterministic(out):
    fig = go.Figure(go.Scatter(x=[0, 1], y=[1, 2]))
    first = figures.save(fig, "a", "first").read_text()
    figures.save(go.Figure(go.Scatter(x=[0, 1], y=[1, 2])), "b", "second", notebook="02_other")
    master = out / figures.ASSETS / figures.PLOTLY_JS
    beside = [out / nb / figures.PLOTLY_JS for nb in ("01_test", "02_other")]
    assert master.stat().st_size > 1_000_000
    # one copy on disk: each notebook folder holds a hard link to the master
    assert all(b.stat().st_ino == master.stat().st_ino for b in beside)
    # the HTML loads the copy in its own folder, embeds no plotly.js, and says so if missing
    assert 'src="plotly.min.js"' in first and "../" not in first
    assert "typeof Plotly === 'undefined'" in first and "self_contained_html" in first
    assert len(first) < 50_000
    again = figures.save(go.Figure(go.Scatter(x=[0, 1], y=[1, 2])), "a", "first").read_text()
    assert again == first


def test_html_works_when_its_folder_is_copied_elsewhere(out, tmp_path):
    import shutil

    figures.save(go.Figure(go.Scatter(x=[0, 1], y=[1, 2])), "a", "first")
    copy = shutil.copytree(out / "01_test", tmp_path / "elsewhere")
    html = (copy / "a.html").read_text()
    assert 'src="plotly.min.js"' in html and (copy / figures.PLOTLY_JS).is_file()


def test_self_contained_html_needs_nothing_else(out, tmp_path):
    import plotly.offline

    js = plotly.offline.get_plotlyjs()
    fig = go.Figure(go.Scatter(x=[0, 1], y=[1, 2]))
    inlined = figures.save(fig, "shared", "for sharing", self_contained=True).read_text()
    assert js in inlined and 'src="plotly.min.js"' not in inlined
    linked = figures.save(fig, "linked", "linked")
    standalone = figures.self_contained_html(linked, tmp_path / "alone.html").read_text()
    assert js in standalone and 'src="plotly.min.js"' not in standalone
    assert "<script" in standalone and standalone.count(js) == 1
    twice = figures.self_contained_html(tmp_path / "alone.html", tmp_path / "twice.html")
    assert twice.read_text() == standalone                 # already self-contained: a copy
    (tmp_path / "plain.html").write_text("<html><body>no plot</body></html>")
    with pytest.raises(ValueError, match="no <script"):
        figures.self_contained_html(tmp_path / "plain.html")


def test_plotly_figures_get_pc_axes_and_visible_legend_symbols(out):
    from plotly.subplots import make_subplots

    fig = make_subplots(rows=1, cols=2, specs=[[{"type": "scene"}] * 2])
    fig.add_trace(go.Scatter3d(x=[0], y=[0], z=[0], marker={"size": 2}), row=1, col=1)
    fig.add_trace(go.Scatter3d(x=[1], y=[1], z=[1]), row=1, col=2)
    fig.layout.scene2.xaxis.title.text = "dim 1"              # a named axis is kept
    figures.tidy_plotly(fig)
    assert [fig.layout.scene[a].title.text for a in ("xaxis", "yaxis", "zaxis")] == \
        ["PC1", "PC2", "PC3"]
    assert fig.layout.scene2.xaxis.title.text == "dim 1"
    assert fig.layout.scene2.zaxis.title.text == "PC3"
    assert fig.layout.legend.itemsizing == "constant"
    flat = go.Figure(go.Scatter(x=[0], y=[0]))
    figures.tidy_plotly(flat)
    assert "scene" not in flat.to_plotly_json()["layout"]
    html = figures.save(fig, "three_d", "3-D").read_text()
    assert '"PC1"' in html and '"itemsizing":"constant"' in html


def test_save_table_writes_csv_and_markdown(out):
    table = pd.DataFrame({"name": ["a", "b"], "value": [1.5, np.nan]})
    csv = figures.save_table(table, "values", "Two values")
    assert pd.read_csv(csv)["value"].iloc[0] == 1.5
    md = (out / "01_test" / "values.md").read_text().splitlines()
    assert md == ["| name | value |", "|---|---|", "| a | 1.5 |", "| b | – |"]
    assert set(_manifest(out)) == {"01_test/values.csv", "01_test/values.md"}


def test_save_wav_is_22050_hz_and_peak_normalised(out):
    t = np.arange(22050) / 22050
    path = figures.save_wav(3.0 * np.sin(2 * np.pi * 440 * t), "tone", "A 440 Hz tone")
    audio, rate = sf.read(path)
    assert rate == 22050 and len(audio) == 22050
    assert 0.9 < np.max(np.abs(audio)) <= 1.0


def test_save_wav_refuses_empty_or_non_finite(out):
    with pytest.raises(ValueError, match="finite mono"):
        figures.save_wav(np.array([0.0, np.nan]), "bad", "bad")
    with pytest.raises(ValueError, match="finite mono"):
        figures.save_wav(np.zeros(0), "empty", "empty")


def test_animations_are_mp4_only_and_at_least_800_px_wide(out):
    frames = [np.full((20, 30, 3), v, dtype=np.uint8) for v in (0, 128, 255)]
    with pytest.raises(ValueError, match="H.264 MP4 only"):
        figures.save_animation(frames, "fade.gif", "Grey fade", fps=5, min_width=0)
    with pytest.raises(ValueError, match="30 px wide, animations need at least 800 px"):
        figures.save_animation(frames, "fade", "Grey fade", fps=5)
    assert not list((out / "01_test").glob("fade*"))              # nothing written
    wide = [np.full((300, 800, 3), v, dtype=np.uint8) for v in (0, 128, 255)]
    path = figures.save_animation(wide, "fade", "Grey fade", fps=5)
    assert path.suffix == ".mp4" and figures.video_size(path) == (800, 300)
    assert list(_manifest(out)) == ["01_test/fade.mp4"]
    assert _manifest(out)["01_test/fade.mp4"]["kind"] == "animation"


def _probe(path):
    """ffprobe-free: the stream header as ffmpeg (imageio-ffmpeg's binary) reports it."""
    import subprocess

    import imageio_ffmpeg

    out = subprocess.run([imageio_ffmpeg.get_ffmpeg_exe(), "-hide_banner", "-i", str(path)],
                         capture_output=True, text=True, check=False).stderr
    return out


def test_mp4_animation_is_h264_yuv420p_with_the_frames(out):
    import imageio.v2 as iio2

    frames = [np.full((15, 21, 3), v, dtype=np.uint8) for v in (0, 255, 0, 255)]
    path = figures.save_animation(frames, "blink", "Blinking", fps=2, min_width=0)
    assert path == out / "01_test" / "blink.mp4"
    assert _manifest(out)["01_test/blink.mp4"]["kind"] == "animation"
    decoded = np.stack(iio2.mimread(path, format="FFMPEG"))
    assert decoded.shape[0] == 4
    # odd sizes are padded to even ones (yuv420p), nothing scaled
    assert decoded.shape[1:3] == (16, 22)
    assert decoded[1].mean() > 200 and decoded[2].mean() < 50
    header = _probe(path)
    assert "h264" in header and "yuv420p" in header and "22x16" in header
    # +faststart: the index (moov) before the data (mdat), so a browser starts at once
    data = path.read_bytes()
    assert data.index(b"moov") < data.index(b"mdat")
    # bit-exact: the same frames give the same file
    again = figures.save_animation(frames, "blink.mp4", "Blinking", fps=2,
                                   min_width=0).read_bytes()
    assert again == data


def test_mp4_of_a_wide_figure_keeps_its_size(out):
    fig = plots.new_figure(8.2, 3.0, dpi=100, layout=None)
    fig.add_subplot().plot([0, 1], [0, 1])
    frames = [figures.figure_to_array(fig)] * 2
    path = figures.save_animation(frames, "wide", "Wide", fps=1)
    assert "820x300" in _probe(path) and figures.video_size(path) == (820, 300)


def test_animation_rejects_mixed_sizes(out):
    with pytest.raises(ValueError, match="frames must all be"):
        figures.save_animation([np.zeros((4, 4, 3)), np.zeros((4, 5, 3))], "x.mp4", "x")
    with pytest.raises(ValueError, match="MP4 only"):
        figures.save_animation([np.zeros((4, 800, 3))], "x.avi", "x")
    with pytest.raises(ValueError, match="no frame"):
        figures.save_animation([], "x.mp4", "x")


def test_artefact_names_cannot_escape_the_folder(out):
    with pytest.raises(ValueError, match="relative file name"):
        figures.artefact_path("../elsewhere.png")


def test_register_needs_a_caption_and_an_existing_file(out):
    with pytest.raises(FileNotFoundError):
        figures.register(out / "01_test" / "missing.png", "caption")
    (out / "01_test" / "x.txt").write_text("x")
    with pytest.raises(ValueError, match="caption"):
        figures.register(out / "01_test" / "x.txt", "   ")


def test_index_lists_existing_artefacts_by_notebook(out):
    figures.save_text("a", "a.md", "First artefact")
    figures.save_text("b", "b.md", "Second artefact", notebook="02_other")
    gone = figures.save_text("c", "c.md", "Deleted later")
    gone.unlink()
    figures.set_run_info(out, profile="smoke", seed=3)
    index = figures.write_index(out, {"01_test": "01 · Test notebook"}).read_text()
    assert "## 01 · Test notebook" in index and "## 02_other" in index
    assert "- [`01_test/a.md`](01_test/a.md) (table): First artefact" in index
    assert "Second artefact" in index and "Deleted later" not in index
    assert "profile `smoke`" in index and "Philharmonia Orchestra" in index
    assert index.index("01 · Test") < index.index("02_other")


def test_forget_notebook_drops_only_its_entries(out):
    figures.save_text("a", "a.md", "mine")
    figures.save_text("b", "b.md", "theirs", notebook="02_other")
    assert figures.forget_notebook("01_test", out) == 1
    assert list(_manifest(out)) == ["02_other/b.md"]


def test_figure_to_array_size_matches_dpi():
    fig = plots.new_figure(2, 1, dpi=50, layout=None)
    array = figures.figure_to_array(fig)
    assert array.shape == (50, 100, 3) and array.dtype == np.uint8
