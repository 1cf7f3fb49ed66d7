"""Saving the notebooks' artefacts, and the manifest behind ``figures/README.md``.

The plots themselves are drawn by :mod:`vts.app.plots`; this module writes them:
matplotlib figures as PNG, plotly figures as HTML, tables as CSV + Markdown,
sounds as WAV, animations as H.264 MP4 only (the ffmpeg binary bundled in the
imageio-ffmpeg wheel), at least :data:`MIN_VIDEO_WIDTH` pixels wide.

Artefacts and the index
-----------------------
Every artefact is written through one of the ``save*`` functions, which write
atomically under ``<out_dir>/<notebook>/<name>`` and *register* the file and a
one-line caption in ``<out_dir>/manifest.json``. :func:`write_index` turns the
manifest into ``<out_dir>/README.md``. The output folder and the notebook name
come from :func:`use` (called by :func:`vts.app.notebook.setup`) or from the
explicit ``out_dir`` / ``notebook`` arguments.

Interactive HTML
----------------
An HTML artefact loads plotly.js from a ``plotly.min.js`` *beside it* (same
folder), so it works offline, from ``file://`` or any web server, and keeps
working when its folder is copied elsewhere. That file is written once per
figures root (``<out_dir>/assets/plotly.min.js``) and hard-linked into each
notebook folder that holds HTML (copied where the file system has no hard
links), so the root holds one copy on disk. Measured with plotly 7.1:
plotly.min.js is 4.8 MB; an HTML artefact that loads it is 10-600 kB, the same
figure inlined is 4.8 MB more: with ~30 interactive artefacts in a default
run, inlining everywhere would cost ~150 MB, one copy per folder costs 4.8 MB.
A file copied alone, without its ``plotly.min.js``, shows a note saying so
instead of a blank page. For sharing one file, ``save(fig, ...,
self_contained=True)`` inlines plotly.js, and :func:`self_contained_html`
turns any saved HTML artefact into a single file that needs nothing else.
Before writing, :func:`tidy_plotly` names unnamed 3-D axes PC1/PC2/PC3 and
gives legend symbols a constant, visible size.
"""
from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from .. import config
from ..io import atomic_path, read_json, shared_file_lock, write_json, write_wav

MANIFEST = "manifest.json"
#: The lock file of the manifest's updates (:func:`vts.io.shared_file_lock`).
MANIFEST_LOCK = ".manifest.lock"
INDEX = "README.md"
PLOTLY_JS = "plotly.min.js"
#: Folder of the figures root holding the shared copies (plotly.js; the page's CSS).
ASSETS = "assets"
#: Shown by an HTML artefact whose plotly.min.js is missing (copied alone).
_NO_PLOTLY = ("<script>if (typeof Plotly === 'undefined') {{ document.addEventListener("
              "'DOMContentLoaded', function () {{ var p = document.createElement('p'); "
              "p.style.cssText = 'font: 16px sans-serif; color: #a00; margin: 1em'; "
              "p.textContent = 'This interactive figure needs {js} in its folder (it is in "
              "the figures folder this file came from), or a self-contained copy: "
              "vts.app.figures.self_contained_html(path).'; "
              "document.body.insertBefore(p, document.body.firstChild); }}); }}</script>")
#: Default resolution of PNG figures (dots per inch).
DPI = 110
#: Narrowest animation (pixels) :func:`save_animation` accepts.
MIN_VIDEO_WIDTH = 800
#: Kind of artefact by file suffix (for the index).
KINDS = {".png": "figure", ".html": "interactive", ".mp4": "animation",
         ".wav": "sound", ".csv": "table", ".md": "table", ".json": "data"}


# ============================================================================ context
@dataclass
class _Context:
    out_dir: Path | None = None
    notebook: str | None = None


_CONTEXT = _Context()


def use(out_dir: str | os.PathLike, notebook: str) -> Path:
    """Make ``out_dir`` (figures root) and ``notebook`` the defaults of every ``save*`` call.

    Returns the notebook's artefact folder ``out_dir / notebook`` (created).
    """
    _CONTEXT.out_dir = Path(out_dir).resolve()
    _CONTEXT.notebook = str(notebook)
    folder = _CONTEXT.out_dir / _CONTEXT.notebook
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def _where(out_dir, notebook) -> tuple[Path, str]:
    root = Path(out_dir).resolve() if out_dir is not None else _CONTEXT.out_dir
    if root is None:
        root = config.figures_dir()
    name = notebook if notebook is not None else _CONTEXT.notebook
    if not name:
        raise ValueError("no notebook name: call figures.use(out_dir, notebook) or pass notebook=")
    return root, str(name)


def artefact_path(name: str, out_dir=None, notebook=None) -> Path:
    """Where artefact ``name`` of the current notebook is written."""
    root, nb = _where(out_dir, notebook)
    if not name or Path(name).is_absolute() or ".." in Path(name).parts:
        raise ValueError(f"artefact name must be a relative file name, got {name!r}")
    return root / nb / name


# ============================================================================ manifest
def read_manifest(out_dir: str | os.PathLike) -> dict:
    """The manifest of ``out_dir``: ``{"artefacts": {relpath: {caption, notebook, kind}}}``."""
    path = Path(out_dir) / MANIFEST
    if not path.is_file():
        return {"artefacts": {}}
    try:
        manifest = read_json(path)
    except ValueError as error:
        raise ValueError(f"{path}: corrupt manifest ({error}); delete it and rerun") from error
    manifest.setdefault("artefacts", {})
    return manifest


def register(path: str | os.PathLike, caption: str, out_dir=None, notebook=None) -> Path:
    """Record an artefact (a file under ``out_dir``) and its one-line caption in the manifest."""
    root, nb = _where(out_dir, notebook)
    path = Path(path).resolve()
    if not path.is_file():
        raise FileNotFoundError(f"{path}: cannot register a missing artefact")
    caption = " ".join(str(caption).split())
    if not caption:
        raise ValueError(f"{path.name}: an artefact needs a caption")
    try:
        rel = path.relative_to(root).as_posix()
    except ValueError as error:
        raise ValueError(f"{path}: artefact outside the output folder {root}") from error
    with _manifest_update(root) as manifest:
        manifest["artefacts"][rel] = {"caption": caption, "notebook": nb,
                                      "kind": KINDS.get(path.suffix.lower(), "file")}
    return path


def forget_notebook(notebook: str, out_dir=None) -> int:
    """Drop a notebook's entries from the manifest (before it runs again); returns how many."""
    root, _ = _where(out_dir, notebook)
    with _manifest_update(root) as manifest:
        keep = {k: v for k, v in manifest["artefacts"].items() if v.get("notebook") != notebook}
        dropped = len(manifest["artefacts"]) - len(keep)
        manifest["artefacts"] = keep
    return dropped


def set_run_info(out_dir: str | os.PathLike, **info) -> None:
    """Record how the artefacts were made (profile, seed ...) for the index header."""
    with _manifest_update(Path(out_dir)) as manifest:
        manifest.setdefault("run", {}).update(info)


@contextlib.contextmanager
def _manifest_update(root: Path) -> Iterator[dict]:
    """The manifest of ``root`` to change in the ``with`` block, written back at its end;
    one process at a time (notebooks running side by side share the manifest)."""
    with shared_file_lock(root / MANIFEST_LOCK):
        manifest = read_manifest(root)
        before = json.dumps(manifest, sort_keys=True)
        yield manifest
        if json.dumps(manifest, sort_keys=True) != before:
            write_json(root / MANIFEST, manifest)


def write_index(out_dir: str | os.PathLike, titles: Mapping[str, str] | None = None) -> Path:
    """Write ``<out_dir>/README.md``: every registered artefact that exists, with its caption.

    Parameters
    ----------
    out_dir : path
        The figures root holding ``manifest.json``.
    titles : mapping, optional
        Section title of each notebook name (default: the name itself).

    Returns
    -------
    Path of the index.
    """
    out_dir = Path(out_dir)
    manifest = read_manifest(out_dir)
    run = manifest.get("run", {})
    lines = ["# Figures, tables, animations and sounds", "",
             ("Rebuilt by `make figures` (`python -m vts.app.notebook`) from the notebooks in "
             "`notebooks/`; do not edit by hand.")]
    if run:
        lines.append("Run: " + ", ".join(f"{k} `{v}`" for k, v in sorted(run.items())) + ".")
    lines += ["", ("Reproduces Esling, Chemla–Romeu-Santos & Bitton, *Generative timbre spaces "
              "with variational audio synthesis* (DAFx 2018). Sounds derived from the "
              "Philharmonia Orchestra sound samples (CC BY-SA 3.0) are marked as such; "
              "attribution: Philharmonia Orchestra."), ""]
    by_notebook: dict[str, list[tuple[str, dict]]] = {}
    for rel, entry in sorted(manifest["artefacts"].items()):
        if (out_dir / rel).is_file():
            by_notebook.setdefault(entry.get("notebook", "other"), []).append((rel, entry))
    if not by_notebook:
        lines.append("No artefact yet: run `make figures`.")
    for nb in sorted(by_notebook):
        title = (titles or {}).get(nb, nb)
        lines += [f"## {title}", "", f"Notebook: `notebooks/{nb}.ipynb`", ""]
        for rel, entry in by_notebook[nb]:
            lines.append(f"- [`{rel}`]({rel}) ({entry.get('kind', 'file')}): {entry['caption']}")
        lines.append("")
    path = out_dir / INDEX
    with atomic_path(path) as tmp:
        tmp.write_text("\n".join(lines).rstrip("\n") + "\n")
    return path


# ============================================================================ saving
def save(obj, name: str, caption: str, *, out_dir=None, notebook=None, dpi: int = DPI,
         self_contained: bool = False) -> Path:
    """Save a matplotlib figure (PNG), a plotly figure (HTML) or a DataFrame (CSV) and register it.

    Parameters
    ----------
    obj : matplotlib.figure.Figure, plotly.graph_objects.Figure or pandas.DataFrame
    name : str
        File name inside the notebook's folder; the suffix is added when missing
        (``.png``, ``.html``, ``.csv``).
    caption : str
        One line for the index.
    self_contained : bool
        Plotly only: inline plotly.js (one ~5 MB file that needs nothing else)
        instead of loading the ``plotly.min.js`` beside it.
    """
    from matplotlib.figure import Figure

    if isinstance(obj, Figure):
        path = artefact_path(_suffixed(name, ".png"), out_dir, notebook)
        with atomic_path(path) as tmp:
            obj.savefig(tmp, format="png", dpi=dpi, bbox_inches="tight")
    elif isinstance(obj, pd.DataFrame):
        return save_table(obj, name, caption, out_dir=out_dir, notebook=notebook)
    elif type(obj).__module__.startswith("plotly"):
        path = artefact_path(_suffixed(name, ".html"), out_dir, notebook)
        root, _ = _where(out_dir, notebook)
        write_plotly_html(obj, path, root=root, self_contained=self_contained)
    else:
        raise TypeError(f"{name}: cannot save a {type(obj).__name__} (expected a matplotlib "
                        "Figure, a plotly Figure or a DataFrame)")
    return register(path, caption, out_dir, notebook)


def _suffixed(name: str, suffix: str) -> str:
    return name if Path(name).suffix else name + suffix


def tidy_plotly(fig):
    """Make a plotly figure read alone (in place; returns it): every 3-D scene whose axes
    have no title (plotly would show "x", "y", "z") gets PC1, PC2, PC3 -- every 3-D view
    of this project is a PCA of codes -- and legend symbols get a constant size
    (``legend.itemsizing = "constant"``: 2-px markers stay visible in the legend)."""
    layout = fig.layout
    if any("scene" in trace for trace in fig.data):          # 3-D traces: scatter3d, surface...
        for scene in fig.select_scenes():
            for axis, title in (("xaxis", "PC1"), ("yaxis", "PC2"), ("zaxis", "PC3")):
                text = scene[axis].title.text
                if text is None or str(text).strip().lower() in ("", axis[0]):
                    scene[axis].title.text = title
    if layout.legend.itemsizing is None:
        layout.legend.itemsizing = "constant"
    return fig


def write_plotly_html(fig, path: str | os.PathLike, *, root: str | os.PathLike | None = None,
                      self_contained: bool = False) -> Path:
    """Write a plotly figure as a full HTML page (atomically), offline.

    ``self_contained``: plotly.js inlined. Otherwise the page loads ``plotly.min.js`` from
    its own folder (put there by :func:`ensure_plotlyjs`, from the master copy under
    ``root/assets``; ``root`` defaults to the folder's parent).
    """
    path = Path(path)
    tidy_plotly(fig)
    div_id = path.stem.replace(".", "-")
    if self_contained:
        include = True
    else:
        ensure_plotlyjs(path.parent, root if root is not None else path.parent.parent)
        include = PLOTLY_JS
    with atomic_path(path) as tmp:
        fig.write_html(str(tmp), include_plotlyjs=include, full_html=True, div_id=div_id,
                       auto_play=False)
        html = tmp.read_text()
        if not self_contained:
            tag = f'<script charset="utf-8" src="{PLOTLY_JS}"></script>'
            if tag not in html:
                tag = f'<script src="{PLOTLY_JS}"></script>'
            html = html.replace(tag, tag + _NO_PLOTLY.format(js=PLOTLY_JS), 1)
        # no favicon request (a 404 in the console of a served folder)
        tmp.write_text(html.replace("<head>", '<head><link rel="icon" href="data:,">', 1))
    return path


def ensure_plotlyjs(folder: str | os.PathLike, root: str | os.PathLike | None = None) -> Path:
    """Put ``plotly.min.js`` in ``folder`` (for the HTML files there); returns its path.

    The master copy is written once at ``root/assets/plotly.min.js`` (``root`` defaults
    to ``folder``: then the file is written in ``folder`` itself); ``folder``'s copy is a
    hard link to it where the file system allows, else a copy.
    """
    import plotly.offline

    folder = Path(folder)
    js = plotly.offline.get_plotlyjs().encode()
    master = Path(root) / ASSETS / PLOTLY_JS if root is not None else folder / PLOTLY_JS
    if not master.is_file() or master.stat().st_size != len(js):
        with atomic_path(master) as tmp:
            tmp.write_bytes(js)
    target = folder / PLOTLY_JS
    if target == master:
        return target
    if target.is_file() and target.stat().st_size == len(js):
        return target
    folder.mkdir(parents=True, exist_ok=True)
    with atomic_path(target) as tmp:
        tmp.unlink()
        try:
            os.link(master, tmp)
        except OSError:
            tmp.write_bytes(js)
    return target


def self_contained_html(path: str | os.PathLike, out: str | os.PathLike | None = None) -> Path:
    """A single-file copy of an HTML artefact: its ``plotly.min.js`` inlined.

    Parameters
    ----------
    path : path
        An HTML artefact written by :func:`save` (loading ``plotly.min.js`` beside it).
    out : path, optional
        Where to write (default: ``<stem>.standalone.html`` beside ``path``).
    """
    import plotly.offline

    path = Path(path)
    out = Path(out) if out is not None else path.with_name(path.stem + ".standalone.html")
    html = path.read_text()
    js = plotly.offline.get_plotlyjs()
    for tag in (f'<script charset="utf-8" src="{PLOTLY_JS}"></script>',
                f'<script src="{PLOTLY_JS}"></script>'):
        if tag in html:
            inline = f'<script type="text/javascript">{js}</script>'
            html = html.replace(tag, inline, 1)
            break
    else:
        if js[:1000] not in html:                # neither loading nor holding plotly.js
            raise ValueError(f"{path}: no <script src=\"{PLOTLY_JS}\"> to inline")
    with atomic_path(out) as tmp:
        tmp.write_text(html)
    return out


def save_table(table: pd.DataFrame, name: str, caption: str, *, out_dir=None, notebook=None,
               index: bool = False, markdown: bool = True, digits: int = 4) -> Path:
    """Write a table as CSV (and Markdown beside it) and register both; returns the CSV path."""
    stem = str(Path(name).with_suffix("")) if Path(name).suffix in (".csv", ".md") else name
    csv = artefact_path(stem + ".csv", out_dir, notebook)
    with atomic_path(csv) as tmp:
        table.to_csv(tmp, index=index, float_format=f"%.{digits + 2}g")
    register(csv, caption, out_dir, notebook)
    if markdown:
        md = artefact_path(stem + ".md", out_dir, notebook)
        with atomic_path(md) as tmp:
            tmp.write_text(markdown_table(table, index=index, digits=digits) + "\n")
        register(md, f"{caption} (Markdown)", out_dir, notebook)
    return csv


def markdown_table(table: pd.DataFrame, index: bool = False, digits: int = 4) -> str:
    """A GitHub Markdown table (floats with ``digits`` significant digits)."""
    frame = table.reset_index() if index else table

    def cell(v):
        if isinstance(v, (float, np.floating)):
            return "–" if not np.isfinite(v) else f"{v:.{digits}g}"
        return str(v)

    head = "| " + " | ".join(map(str, frame.columns)) + " |"
    rule = "|" + "---|" * len(frame.columns)
    rows = ["| " + " | ".join(cell(v) for v in row) + " |" for row in frame.itertuples(index=False)]
    return "\n".join([head, rule, *rows])


def save_text(text: str, name: str, caption: str, *, out_dir=None, notebook=None) -> Path:
    """Write a small text / Markdown artefact and register it."""
    path = artefact_path(name, out_dir, notebook)
    with atomic_path(path) as tmp:
        tmp.write_text(text)
    return register(path, caption, out_dir, notebook)


def save_wav(audio: np.ndarray, name: str, caption: str, *, sample_rate: int = config.SAMPLE_RATE,
             out_dir=None, notebook=None) -> Path:
    """Write a peak-normalised 16-bit WAV (:func:`vts.io.write_wav`) and register it.

    Raises
    ------
    ValueError
        If ``audio`` is empty or not finite (a silent result would hide a bug).
    """
    audio = np.asarray(audio, dtype=np.float32)
    if audio.ndim != 1 or audio.size == 0 or not np.isfinite(audio).all():
        raise ValueError(f"{name}: expected a finite mono signal, got shape {audio.shape}")
    path = artefact_path(_suffixed(name, ".wav"), out_dir, notebook)
    write_wav(path, audio, sample_rate)
    return register(path, caption, out_dir, notebook)


def save_animation(frames: Sequence[np.ndarray], name: str, caption: str, *, fps: float = 4.0,
                   out_dir=None, notebook=None, min_width: int = MIN_VIDEO_WIDTH) -> Path:
    """Write RGB frames as an H.264 MP4 and register it (kind ``animation``).

    The MP4 (libx264, yuv420p, ``+faststart``: plays in every browser, the page shows
    it in a ``<video>``) is written by :func:`write_mp4`, with the ffmpeg binary
    bundled in the imageio-ffmpeg wheel. Animations are MP4 only.

    Parameters
    ----------
    frames : sequence of uint8 arrays, shape (height, width, 3)
        All of one size (e.g. :mod:`vts.app.animations`, :func:`figure_to_array`).
        Nothing is scaled, so render the frames at the size they are watched at;
        odd sizes are padded by one edge pixel to the even sizes yuv420p needs.
    name : str
        ``stem`` or ``stem.mp4``.
    fps : float
        Frames per second.
    min_width : int
        Narrowest frame accepted (pixels; :data:`MIN_VIDEO_WIDTH`): narrower
        animations are refused rather than published illegible.

    Returns
    -------
    Path of the MP4.
    """
    frames = [np.asarray(f) for f in frames]
    if not frames:
        raise ValueError(f"{name}: no frame to animate")
    shape = frames[0].shape
    if len(shape) != 3 or shape[2] != 3 or any(f.shape != shape for f in frames):
        raise ValueError(f"{name}: frames must all be (height, width, 3), got "
                         f"{sorted({f.shape for f in frames})}")
    if not fps > 0:
        raise ValueError(f"{name}: fps must be > 0, got {fps}")
    if shape[1] < min_width:
        raise ValueError(f"{name}: frames are {shape[1]} px wide, animations need at least "
                         f"{min_width} px (render them larger: vts.app.animations)")
    path = artefact_path(_suffixed(name, ".mp4"), out_dir, notebook)
    if path.suffix.lower() != ".mp4":
        raise ValueError(f"{name}: animations are written as H.264 MP4 only (name.mp4), "
                         f"not {path.suffix!r}")
    write_mp4([np.ascontiguousarray(f, dtype=np.uint8) for f in frames], path, fps)
    return register(path, caption, out_dir, notebook)


def video_size(path: str | os.PathLike) -> tuple[int, int]:
    """``(width, height)`` in pixels of a video file (as imageio-ffmpeg's reader reports it)."""
    import imageio_ffmpeg

    reader = imageio_ffmpeg.read_frames(str(path))
    try:
        meta = next(reader)
    finally:
        reader.close()
    return tuple(int(v) for v in meta["size"])


def write_mp4(frames: Sequence[np.ndarray], path: str | os.PathLike, fps: float,
              crf: int = 20) -> Path:
    """Encode uint8 RGB frames ``(h, w, 3)`` as H.264/yuv420p MP4 (atomically, bit-exact).

    Odd sizes are padded by repeating the last row / column; ``crf``: x264 quality
    (18-23 is visually lossless for plots).
    """
    import imageio_ffmpeg

    h0, w0 = frames[0].shape[:2]
    h, w = h0 + h0 % 2, w0 + w0 % 2                           # yuv420p needs even sizes
    with atomic_path(path) as tmp:
        writer = imageio_ffmpeg.write_frames(
            str(tmp), (w, h), fps=fps, codec="libx264", pix_fmt_in="rgb24",
            pix_fmt_out="yuv420p", quality=None, macro_block_size=1,
            ffmpeg_log_level="error",
            output_params=["-crf", str(int(crf)), "-preset", "medium", "-tune", "stillimage",
                           "-movflags", "+faststart", "-threads", "1", "-fflags", "+bitexact",
                           "-f", "mp4"])
        writer.send(None)
        try:
            for f in frames:
                if (h, w) != (h0, w0):
                    f = np.pad(f, ((0, h - h0), (0, w - w0), (0, 0)), mode="edge")
                writer.send(np.ascontiguousarray(f))
        finally:
            writer.close()
    return Path(path)


def figure_to_array(fig) -> np.ndarray:
    """Render a matplotlib figure to an RGB ``uint8`` array ``(height, width, 3)``."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    canvas = fig.canvas if isinstance(fig.canvas, FigureCanvasAgg) else FigureCanvasAgg(fig)
    canvas.draw()
    return np.asarray(canvas.buffer_rgba())[..., :3].copy()


def watch(path: str | os.PathLike, width: int | None = None):
    """An inline, looping video player for an MP4 artefact (IPython; embedded, so the
    executed notebook shows it anywhere), or the path outside IPython."""
    try:
        from IPython.display import Video
    except ImportError:  # pragma: no cover
        return Path(path)
    return Video(str(path), embed=True, width=width, mimetype="video/mp4",
                 html_attributes="controls loop muted playsinline")


def listen(path: str | os.PathLike):
    """An inline audio player for a WAV artefact (IPython), or the path outside IPython."""
    try:
        from IPython.display import Audio
    except ImportError:  # pragma: no cover
        return Path(path)
    return Audio(filename=str(path))
