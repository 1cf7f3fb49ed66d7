"""Saving the notebooks' artefacts, and the manifest behind ``figures/README.md``.

The plots themselves are drawn by :mod:`vts.app.plots`; this module writes them:
matplotlib figures as PNG, plotly figures as HTML, tables as CSV + Markdown,
sounds as WAV, animations as GIF (Pillow, imageio's GIF backend, called
directly for its fast palette quantiser) or MP4 (imageio-ffmpeg).

Artefacts and the index
-----------------------
Every artefact is written through one of the ``save*`` functions, which write
atomically under ``<out_dir>/<notebook>/<name>`` and *register* the file and a
one-line caption in ``<out_dir>/manifest.json``. :func:`write_index` turns the
manifest into ``<out_dir>/README.md``. The output folder and the notebook name
come from :func:`use` (called by :func:`vts.app.notebook.setup`) or from the
explicit ``out_dir`` / ``notebook`` arguments.

Interactive HTML files load plotly.js from one shared ``plotly.min.js`` at the
root of the output folder (written once), so they work offline and stay small.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping, Sequence

import numpy as np
import pandas as pd

from .. import config
from ..io import atomic_path, read_json, write_json

MANIFEST = "manifest.json"
INDEX = "README.md"
PLOTLY_JS = "plotly.min.js"
#: Default resolution of PNG figures (dots per inch).
DPI = 110
#: Kind of artefact by file suffix (for the index).
KINDS = {".png": "figure", ".html": "interactive", ".gif": "animation", ".mp4": "animation",
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
    manifest = read_manifest(root)
    manifest["artefacts"][rel] = {"caption": caption, "notebook": nb,
                                  "kind": KINDS.get(path.suffix.lower(), "file")}
    write_json(root / MANIFEST, manifest)
    return path


def forget_notebook(notebook: str, out_dir=None) -> int:
    """Drop a notebook's entries from the manifest (before it runs again); returns how many."""
    root, _ = _where(out_dir, notebook)
    manifest = read_manifest(root)
    keep = {k: v for k, v in manifest["artefacts"].items() if v.get("notebook") != notebook}
    dropped = len(manifest["artefacts"]) - len(keep)
    if dropped:
        manifest["artefacts"] = keep
        write_json(root / MANIFEST, manifest)
    return dropped


def set_run_info(out_dir: str | os.PathLike, **info) -> None:
    """Record how the artefacts were made (profile, seed ...) for the index header."""
    manifest = read_manifest(out_dir)
    manifest.setdefault("run", {}).update(info)
    write_json(Path(out_dir) / MANIFEST, manifest)


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
             "Rebuilt by `make figures` (`python -m vts.app.notebook`) from the notebooks in "
             "`notebooks/`; do not edit by hand."]
    if run:
        lines.append("Run: " + ", ".join(f"{k} `{v}`" for k, v in sorted(run.items())) + ".")
    lines += ["", "Reproduces Esling, Chemla–Romeu-Santos & Bitton, *Generative timbre spaces "
              "with variational audio synthesis* (DAFx 2018). Sounds derived from the "
              "Philharmonia Orchestra sound samples (CC BY-SA 3.0) are marked as such; "
              "attribution: Philharmonia Orchestra.", ""]
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
def save(obj, name: str, caption: str, *, out_dir=None, notebook=None, dpi: int = DPI) -> Path:
    """Save a matplotlib figure (PNG), a plotly figure (HTML) or a DataFrame (CSV) and register it.

    Parameters
    ----------
    obj : matplotlib.figure.Figure, plotly.graph_objects.Figure or pandas.DataFrame
    name : str
        File name inside the notebook's folder; the suffix is added when missing
        (``.png``, ``.html``, ``.csv``).
    caption : str
        One line for the index.
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
        js = ensure_plotlyjs(root)
        rel_js = os.path.relpath(js, path.parent).replace(os.sep, "/")
        with atomic_path(path) as tmp:
            obj.write_html(str(tmp), include_plotlyjs=rel_js, full_html=True,
                           div_id=Path(path).stem.replace(".", "-"), auto_play=False)
    else:
        raise TypeError(f"{name}: cannot save a {type(obj).__name__} (expected a matplotlib "
                        "Figure, a plotly Figure or a DataFrame)")
    return register(path, caption, out_dir, notebook)


def _suffixed(name: str, suffix: str) -> str:
    return name if Path(name).suffix else name + suffix


def ensure_plotlyjs(root: str | os.PathLike) -> Path:
    """Write plotly.js once at the figures root (shared by every HTML artefact)."""
    import plotly.offline

    path = Path(root) / PLOTLY_JS
    js = plotly.offline.get_plotlyjs()
    if not path.is_file() or path.stat().st_size != len(js.encode()):
        with atomic_path(path) as tmp:
            tmp.write_text(js)
    return path


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
    from ..io import write_wav

    audio = np.asarray(audio, dtype=np.float32)
    if audio.ndim != 1 or audio.size == 0 or not np.isfinite(audio).all():
        raise ValueError(f"{name}: expected a finite mono signal, got shape {audio.shape}")
    path = artefact_path(_suffixed(name, ".wav"), out_dir, notebook)
    write_wav(path, audio, sample_rate)
    return register(path, caption, out_dir, notebook)


def save_animation(frames: Sequence[np.ndarray], name: str, caption: str, *, fps: float = 4.0,
                   out_dir=None, notebook=None) -> Path:
    """Write RGB frames as an animated GIF (``.gif``, loops) or an H.264 MP4 (``.mp4``).

    Parameters
    ----------
    frames : sequence of uint8 arrays, shape (height, width, 3)
        All of one size (e.g. from :func:`figure_to_array`).
    fps : float
        Frames per second.
    """
    frames = [np.asarray(f) for f in frames]
    if not frames:
        raise ValueError(f"{name}: no frame to animate")
    shape = frames[0].shape
    if len(shape) != 3 or shape[2] != 3 or any(f.shape != shape for f in frames):
        raise ValueError(f"{name}: frames must all be (height, width, 3), got "
                         f"{sorted({f.shape for f in frames})}")
    path = artefact_path(_suffixed(name, ".gif"), out_dir, notebook)
    suffix = path.suffix.lower()
    frames = [f.astype(np.uint8) for f in frames]
    if suffix == ".gif":
        # imageio's GIF writer is Pillow; quantising with Pillow's fast octree
        # directly is ~20x faster than its default median cut, same look.
        from PIL import Image

        images = [Image.fromarray(f).quantize(colors=255, method=Image.Quantize.FASTOCTREE)
                  for f in frames]
        with atomic_path(path) as tmp:
            images[0].save(tmp, format="GIF", save_all=True, append_images=images[1:],
                           duration=int(round(1000.0 / fps)), loop=0)
    elif suffix == ".mp4":
        import imageio.v2 as iio2

        h, w = shape[0] + shape[0] % 2, shape[1] + shape[1] % 2   # yuv420p needs even sizes
        with atomic_path(path) as tmp:
            writer = iio2.get_writer(str(tmp), format="FFMPEG", fps=fps, codec="libx264",
                                     pixelformat="yuv420p", macro_block_size=1,
                                     ffmpeg_log_level="error",
                                     output_params=["-threads", "1", "-fflags", "+bitexact"])
            try:
                for f in frames:
                    writer.append_data(np.pad(f, ((0, h - shape[0]), (0, w - shape[1]), (0, 0)),
                                              mode="edge"))
            finally:
                writer.close()
    else:
        raise ValueError(f"{name}: animations are .gif or .mp4, not {suffix!r}")
    return register(path, caption, out_dir, notebook)


def figure_to_array(fig) -> np.ndarray:
    """Render a matplotlib figure to an RGB ``uint8`` array ``(height, width, 3)``."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    canvas = fig.canvas if isinstance(fig.canvas, FigureCanvasAgg) else FigureCanvasAgg(fig)
    canvas.draw()
    return np.asarray(canvas.buffer_rgba())[..., :3].copy()


def listen(path: str | os.PathLike):
    """An inline audio player for a WAV artefact (IPython), or the path outside IPython."""
    try:
        from IPython.display import Audio
    except ImportError:  # pragma: no cover
        return Path(path)
    return Audio(filename=str(path))
