"""The companion page: ``figures/index.html``, built from ``figures/manifest.json``.

:func:`write_page` turns every registered artefact (:mod:`vts.app.figures`)
into one static, offline page that follows the paper's companion page section
by section -- descriptor animations (notebook 08), synthesis paths (07),
perceptual inference (06), additional information (01) -- then this project's
own: Table 1 (05), the listener evaluation (11), every other notebook in
order, and the executed notebooks rendered as HTML (nbconvert). Sections are
found by the notebook's number, artefacts are laid out by kind, so a new
artefact appears without a code change:

- ``animation``: ``<video>`` (MP4, H.264);
- ``figure``: ``<img>``; ``table``: the CSV as an HTML table (a Markdown twin is
  skipped; a Markdown or text file alone is shown as text);
- ``sound``: ``<audio>``. Sounds named ``<group>_<column>.wav`` where two or more
  share ``<group>`` form tables of players, a row per group, a column per suffix
  (``origin``, ``end``, ``linear``, ``spherical``, ``expressive`` first): the
  companion page's tables. Groups whose name starts with the same word (the
  letters before the first digit or ``_``: ``same-pitch1_...``, ``same-pitch2_...``)
  share one table, headed by that word when a section holds several tables
  (``same-pitch`` -> "Same pitch"); each table comes where its first group's
  artefacts come. Every other artefact whose name starts with ``<group>_`` (its
  video, its spectra, its interactive plot) is shown under the group's heading;
- ``interactive`` (HTML): a link, and listed again at the end.

Offline and self-contained: relative links only, no CDN, nothing but the files
under the figures folder (``assets/page.css``; plotly.js beside the interactive
files); works from ``file://`` and from ``python -m http.server``.
``tests/test_page.py`` opens it in headless Chromium.
"""
from __future__ import annotations

import html
import json
import os
import re
from collections import OrderedDict
from collections.abc import Mapping
from pathlib import Path
from urllib.parse import quote

import pandas as pd

from .. import config
from ..io import atomic_path
from . import figures

PAGE = "index.html"
CSS = "page.css"
#: Executed notebooks rendered as HTML, under the figures root.
NOTEBOOK_HTML = "notebooks"
#: (notebook number, title, introduction), in the companion page's order.
SECTIONS = (
    ("08", "Descriptor space animations",
     ("The topology of each spectral descriptor (centroid, flatness, bandwidth, loudness, "
      "rolloff) on planes sweeping the 3-D PCA of the latent space: the vanilla space (top) "
      "above the perceptually regularised one (bottom) along X, then the complete topology of "
      "the regularised space, each descriptor along X, Y and Z.")),
    ("07", "Synthesis paths",
     ("Paths between two notes decoded into sound. Linear interpolation walks the straight "
      "segment between the two notes' codes; spherical interpolation turns along the great "
      "circle around the prior's centre; expressive interpolation adds each note's own "
      "frame-by-frame motion (attack, decay) to the spherical path. Violin to clarinet "
      "first, the path through the space beside the spectra it decodes; then tables of "
      "pairs at the same pitch, pairs whose pitch changes and more pairs, each playing the "
      "origin and end notes beside the paths; on the flatness of the manifold, the "
      "distance between linear and spherical paths; last, expressive paths whose "
      "translation is scaled down and up, for creative sounds.")),
    ("06", "Perceptual inference",
     ("Novel instruments, never seen in training, projected into the vanilla and the "
      "regularised space: the space, the class centroids and the novel notes.")),
    ("01", "Additional information",
     ("The per-study timbre spaces recomputed from the normalised ratings, and the "
      "instrument co-occurrences across studies.")),
    ("05", "Table 1: generative quality",
     ("Log-likelihood and reconstruction error of every model on the test notes, beside the "
      "paper's values.")),
    ("11", "Listener evaluation",
     ("Do distances in each space agree with listeners' dissimilarity ratings, study by "
      "study? (This project's own evaluation; not in the paper.)")),
)
#: Kinds shown first in a section (else the notebook's order).
FIRST = {"08": ("animation",)}
#: Column order of the sound tables (other suffixes follow, sorted).
COLUMNS = ("origin", "original", "start", "end", "linear", "spherical", "expressive")
#: Rows of a CSV shown on the page (the whole table is linked); longer than FOLD: folded.
MAX_ROWS, FOLD = 40, 12
#: Text artefacts (.md / .txt alone) shown inline up to this size (bytes).
MAX_TEXT = 20_000
ATTRIBUTION = (
    "Method, model and every result reproduced here: Philippe Esling, Axel Chemla&ndash;Romeu-"
    "Santos and Adrien Bitton, <em>Generative timbre spaces with variational audio "
    "synthesis</em>, DAFx 2018, and its companion page. Orchestral notes: "
    "<strong>Philharmonia Orchestra</strong> sound samples, CC BY-SA 3.0 "
    "(creativecommons.org/licenses/by-sa/3.0); every sound and figure rendered from them is derived from their work. Violin, "
    "trumpet and piano: tonejs-instruments (MIT). Listener ratings: Grey (1977), Krumhansl "
    "(1989), McAdams et al. (1995), Lakatos (2000), gathered by Esling et al.; timbre-study "
    "matrices: Thoret, Caramiaux, Depalle &amp; McAdams (2021), from Grey (1977), Grey &amp; "
    "Gordon (1978), Iverson &amp; Krumhansl (1993), Lakatos (2000), McAdams et al. (1995).")
STYLE = """
body { font: 16px/1.5 system-ui, sans-serif; margin: 0 auto; max-width: 1240px;
       padding: 0 1.2em 3em; color: #1d1d1f; }
header { border-bottom: 2px solid #ccc; margin-bottom: 1em; }
nav ol { columns: 2; } h2 { margin-top: 2.2em; border-bottom: 1px solid #ddd; }
h3 { margin-top: 1.6em; } h4 { margin: 1.4em 0 .3em; }
figure { margin: 1em 0 1.6em; } figcaption, .caption { font-size: 14px; color: #444; }
img, video { max-width: 100%; height: auto; display: block; background: #fafafa; }
.grid { display: grid; grid-template-columns: repeat(auto-fill, minmax(520px, 1fr));
        gap: 0 1.2em; align-items: start; }
audio { width: 100%; min-width: 180px; max-width: 320px; display: block; }
table { border-collapse: collapse; font-size: 14px; margin: .5em 0; }
td, th { border: 1px solid #ddd; padding: 3px 8px; text-align: left; vertical-align: top;
         white-space: nowrap; }
th { background: #f2f2f2; } tr:nth-child(even) td { background: #fafafa; }
.table-wrap { overflow-x: auto; } .sounds td:first-child { max-width: 260px; white-space: normal; }
.answer { border-left: 4px solid #2a7ab0; background: #f3f8fc; padding: .2em 1em; }
.note { color: #a05a00; } footer { margin-top: 3em; font-size: 14px; color: #444;
        border-top: 1px solid #ccc; } .small { font-size: 13px; color: #555; }
"""


def _e(text) -> str:
    return html.escape(str(text), quote=True)


def _href(rel: str) -> str:
    return _e(quote(rel))


def _number(name: str) -> str:
    return name[:2] if name[:2].isdigit() else name


def _pretty(name: str) -> str:
    n = _number(name)
    rest = name[len(n):].lstrip("_") if n != name else name
    return f"{n} · {rest.replace('_', ' ')}" if n != name else name.replace("_", " ")


def notebook_title(path: str | os.PathLike) -> str | None:
    """The first Markdown heading of a notebook file (None without one)."""
    for cell in json.loads(Path(path).read_text()).get("cells", []):
        if cell.get("cell_type") == "markdown":
            for line in "".join(cell.get("source", "")).splitlines():
                if line.startswith("#") and line.lstrip("#").strip():
                    return line.lstrip("#").strip()
    return None


def notebook_titles(notebooks_dir: str | os.PathLike) -> dict[str, str]:
    """``{stem: first Markdown heading}`` of the readable notebooks of a folder that have one."""
    titles = {}
    for path in sorted(Path(notebooks_dir).glob("*.ipynb")):
        try:
            heading = notebook_title(path)
        except (OSError, ValueError):
            continue
        if heading:
            titles[path.stem] = heading
    return titles


# ---------------------------------------------------------------------------- artefacts
def _sound_groups(items: list[tuple[str, dict]]) -> dict[str, dict[str, tuple[str, dict]]]:
    """``{group: {column: (rel, entry)}}`` for sounds ``<group>_<column>.wav`` sharing a group."""
    groups: dict[str, dict] = OrderedDict()
    for rel, entry in items:
        stem = Path(rel).stem
        if entry.get("kind") == "sound" and "_" in stem:
            group, column = stem.rsplit("_", 1)
            groups.setdefault(group, OrderedDict())[column] = (rel, entry)
    return OrderedDict((g, cols) for g, cols in groups.items() if len(cols) >= 2)


def _group_of(stem: str, groups) -> str | None:
    hits = [g for g in groups if stem == g or stem.startswith(g + "_")]
    return max(hits, key=len) if hits else None


def _common_label(captions: list[str], fallback: str) -> str:
    prefix = os.path.commonprefix(captions)
    if len(captions) > 1 and len(prefix) < max(len(c) for c in captions):
        prefix = prefix[: prefix.rfind(" ") + 1] if " " in prefix else ""
    label = prefix.strip().rstrip(",;:.(-–").strip()
    return label if len(label) >= 8 else fallback.replace("_", " ")


def _video(rel, entry) -> str:
    return (f'<figure class="video"><video controls preload="metadata" muted loop playsinline '
            f'src="{_href(rel)}"></video><figcaption>{_e(entry["caption"])} '
            f'<a class="small" href="{_href(rel)}">MP4</a></figcaption></figure>')


def _png_size(path: Path) -> str:
    """``width=".." height=".."`` of a PNG (its IHDR), so lazy images shift nothing."""
    try:
        with open(path, "rb") as f:
            head = f.read(24)
    except OSError:
        return ""
    if head[:8] != b"\x89PNG\r\n\x1a\n":
        return ""
    return f'width="{int.from_bytes(head[16:20], "big")}" height="{int.from_bytes(head[20:24], "big")}" '


def _image(rel, entry, root: Path | None = None) -> str:
    size = _png_size(root / rel) if root is not None else ""
    return (f'<figure><a href="{_href(rel)}"><img loading="lazy" {size}src="{_href(rel)}" '
            f'alt="{_e(entry["caption"])}"></a><figcaption>{_e(entry["caption"])}</figcaption>'
            '</figure>')


def _audio(rel, entry, caption: bool = True) -> str:
    player = (f'<audio controls preload="metadata" src="{_href(rel)}" '
              f'title="{_e(entry["caption"])}"></audio>')
    if not caption:
        return player
    return f'<figure>{player}<figcaption>{_e(entry["caption"])}</figcaption></figure>'


def _csv_table(path: Path, rel: str, caption: str, fold: bool = True) -> str:
    try:
        frame = pd.read_csv(path)
    except (OSError, ValueError) as error:
        return f'<p class="note">{_e(rel)}: unreadable table ({_e(error)})</p>'
    n, more = len(frame), ""
    if n > MAX_ROWS:
        more = f" (first {MAX_ROWS} of {n} rows)"
        frame = frame.head(MAX_ROWS)
    table = frame.to_html(index=False, border=0, na_rep="–", float_format=lambda v: f"{v:.4g}")
    table = f'<div class="table-wrap">{table}</div>'
    if fold and n > FOLD:
        table = f"<details><summary>show the table ({n} rows)</summary>{table}</details>"
    return (f'<figure>{table}<figcaption>{_e(caption)}{more} '
            f'<a class="small" href="{_href(rel)}">CSV</a></figcaption></figure>')


def _text(path: Path, rel: str, caption: str) -> str:
    if path.stat().st_size > MAX_TEXT:
        return f'<p><a href="{_href(rel)}">{_e(Path(rel).name)}</a>: {_e(caption)}</p>'
    text = path.read_text(errors="replace")
    if path.suffix.lower() == ".md":
        try:
            import mistune

            body = mistune.create_markdown(escape=True, plugins=["table"])(text)
        except ImportError:  # pragma: no cover - mistune comes with nbconvert
            body = f"<pre>{_e(text)}</pre>"
    else:
        body = f"<pre>{_e(text)}</pre>"
    return (f'<div class="answer"><p class="caption"><strong>{_e(caption)}</strong></p>'
            f'{body}</div>')


def _link(rel, entry) -> str:
    return f'<li><a href="{_href(rel)}">{_e(Path(rel).name)}</a>: {_e(entry["caption"])}</li>'


def _render(root: Path, rel: str, entry: dict, stems: set[str],
            lead: str | None = None) -> str | None:
    """One artefact as HTML; None when it is shown elsewhere (or not at all)."""
    suffix = Path(rel).suffix.lower()
    twin = str(Path(rel).with_suffix(""))
    kind = entry.get("kind")
    if suffix == ".mp4":
        return _video(rel, entry)
    if suffix in (".png", ".jpg", ".jpeg", ".svg"):
        return _image(rel, entry, root)
    if kind == "sound":
        return _audio(rel, entry)
    if suffix == ".csv":
        return _csv_table(root / rel, rel, entry["caption"], fold=rel != lead)
    if suffix in (".md", ".txt"):
        return None if twin + ".csv" in stems else _text(root / rel, rel, entry["caption"])
    return None                                       # interactive / data: listed as links


def _gridded(blocks: list[str]) -> list[str]:
    """Runs of two or more videos side by side (a grid), at their own size or smaller."""
    out: list[str] = []
    run: list[str] = []
    for block in [*blocks, ""]:
        if block.startswith('<figure class="video">'):
            run.append(block)
            continue
        if run:
            out.append(f'<div class="grid">{"".join(run)}</div>' if len(run) > 1 else run[0])
            run = []
        if block:
            out.append(block)
    return out


def _table_key(group: str) -> str:
    """The table of a sound group: its name's first word (``same-pitch2_x`` -> ``same-pitch``)."""
    return re.split(r"[\d_]", group, maxsplit=1)[0] or group


def _sound_table(groups: Mapping[str, Mapping[str, tuple[str, dict]]], heading: str = "") -> str:
    """One table of players: a row per group, a column per suffix."""
    columns = sorted({c for cols in groups.values() for c in cols},
                     key=lambda c: (COLUMNS.index(c) if c in COLUMNS else len(COLUMNS), c))
    head = "".join(f"<th>{_e(c)}</th>" for c in columns)
    rows = []
    for group, cols in groups.items():
        label = _common_label([e["caption"] for _, e in cols.values()], group)
        cells = "".join(f"<td>{_audio(*cols[c], caption=False)}</td>" if c in cols
                        else "<td></td>" for c in columns)
        rows.append(f"<tr><td>{_e(label)}</td>{cells}</tr>")
    credits = sorted({e["caption"] for cols in groups.values() for _, e in cols.values()})
    title = f"<h3>{_e(heading)}</h3>" if heading else ""
    return (f'{title}<div class="table-wrap"><table class="sounds"><tr><th></th>{head}</tr>'
            f'{"".join(rows)}</table></div><details class="small"><summary>captions of '
            f'these {sum(map(len, groups.values()))} sounds</summary><ul>'
            + "".join(f"<li>{_e(c)}</li>" for c in credits) + "</ul></details>")


def _section(root: Path, items: list[tuple[str, dict]], first: tuple = ()) -> str:
    items = sorted(items, key=lambda item: item[1].get("kind") not in first)   # stable
    stems = {rel for rel, _ in items}
    lead = next((r for r, _ in items if r.lower().endswith(".csv")), None)   # never folded
    groups = _sound_groups(items)
    grouped = {rel: _group_of(Path(rel).stem, groups) for rel, _ in items}
    tables: dict[str, dict] = OrderedDict()
    for group, cols in groups.items():
        tables.setdefault(_table_key(group), OrderedDict())[group] = cols
    headed = len(tables) > 1
    out: list[str] = []
    done: set[str] = set()
    for rel, entry in items:
        group = grouped[rel]
        if group is None:
            block = _render(root, rel, entry, stems, lead)
            out += [block] if block else []
        elif group not in done:
            done.add(group)
            key = _table_key(group)
            if key in tables:                              # the table, before its first group
                heading = key.replace("-", " ").replace("_", " ").capitalize() if headed else ""
                out.append(_sound_table(tables.pop(key), heading))
            members = [(r, e) for r, e in items if grouped[r] == group]
            label = _common_label([e["caption"] for _, e in groups[group].values()], group)
            blocks = [_render(root, r, e, stems) for r, e in members if e.get("kind") != "sound"]
            links = [_link(r, e) for r, e in members if e.get("kind") == "interactive"]
            blocks = [b for b in blocks if b] + ([f"<ul>{''.join(links)}</ul>"] if links else [])
            if blocks:
                out.append(f"<h4>{_e(label)}</h4>" + "".join(_gridded(blocks)))
    loose = [_link(r, e) for r, e in items if e.get("kind") == "interactive" and not grouped[r]]
    if loose:
        out.append(f'<h4>Interactive plots</h4><ul>{"".join(loose)}</ul>')
    data = [_link(r, e) for r, e in items if _render(root, r, e, stems) is None
            and e.get("kind") not in ("interactive", "table", "animation")]
    if data:
        out.append(f'<h4>Data</h4><ul>{"".join(data)}</ul>')
    return "\n".join(_gridded(out))


# ---------------------------------------------------------------------------- notebooks
def export_notebooks(executed_dir: str | os.PathLike, out_dir: str | os.PathLike) -> dict:
    """Render the executed notebooks ``executed_dir/*.ipynb`` as offline HTML in ``out_dir``.

    nbconvert's HTMLExporter (images embedded); its CDN scripts (require.js, MathJax,
    mermaid) are dropped, so TeX shows as source. Up-to-date files are kept.
    Returns ``{stem: html path}``.
    """
    executed_dir, out_dir = Path(executed_dir), Path(out_dir)
    done = {}
    books = sorted(executed_dir.glob("*.ipynb")) if executed_dir.is_dir() else []
    for book in books:
        target = out_dir / f"{book.stem}.html"
        if not target.is_file() or target.stat().st_mtime < book.stat().st_mtime:
            import nbformat
            from nbconvert import HTMLExporter

            exporter = HTMLExporter(embed_images=True, mathjax_url="", require_js_url="",
                                    mermaid_js_url="", mermaid_layout_elk_js_url="")
            body, _ = exporter.from_notebook_node(nbformat.read(book, as_version=4))
            body = re.sub(r'<script[^>]*\ssrc="(?:https?:)?(?://[^"]*)?"[^>]*>\s*</script>', "",
                          body)
            body = re.sub(r'<link[^>]*href="(?:https?:)?//[^"]*"[^>]*>', "", body)
            body = body.replace("<head>", '<head><link rel="icon" href="data:,">', 1)
            with atomic_path(target) as tmp:
                tmp.write_text(body)
        done[book.stem] = target
    return done


# ---------------------------------------------------------------------------- the page
def write_page(figures_dir: str | os.PathLike | None = None,
               titles: Mapping[str, str] | None = None,
               executed_dir: str | os.PathLike | None = None) -> Path:
    """Write ``<figures_dir>/index.html`` (and ``assets/page.css``) from the manifest.

    Parameters
    ----------
    figures_dir : path, optional
        The figures root (default :func:`vts.config.figures_dir`).
    titles : mapping, optional
        Title of each notebook (default: the first heading of ``notebooks/*.ipynb``).
    executed_dir : path, optional
        The executed notebooks (default ``<build>/notebooks``), rendered into
        ``<figures_dir>/notebooks/*.html``; skipped with a note when absent.

    Returns
    -------
    Path of ``index.html``.
    """
    root = Path(figures_dir) if figures_dir is not None else config.figures_dir()
    root = root.resolve()
    executed = Path(executed_dir) if executed_dir is not None else \
        config.build_dir() / "notebooks"
    titles = dict(titles) if titles is not None else \
        notebook_titles(config.PROJECT_ROOT / "notebooks")
    manifest = figures.read_manifest(root)
    by_notebook: dict[str, list] = OrderedDict()
    for rel, entry in manifest["artefacts"].items():
        if (root / rel).is_file():
            by_notebook.setdefault(entry.get("notebook", "other"), []).append((rel, entry))
    rendered = export_notebooks(executed, root / NOTEBOOK_HTML)

    order = [n for n, _, _ in SECTIONS]
    names = sorted(set(by_notebook) | set(rendered),
                   key=lambda n: (order.index(_number(n)) if _number(n) in order else len(order),
                                  n))
    intro = {n: (t, i) for n, t, i in SECTIONS}
    body, toc = [], []
    for k, name in enumerate(names, start=1):
        items = by_notebook.get(name, [])
        title, text = intro.get(_number(name), (titles.get(name, _pretty(name)), ""))
        anchor = f"s-{_e(name)}"
        toc.append(f'<li><a href="#{anchor}">{_e(title)}</a></li>')
        source = titles.get(name, _pretty(name))
        nb_link = (f' &middot; <a href="{_href(f"{NOTEBOOK_HTML}/{name}.html")}">executed '
                   f'notebook</a>' if name in rendered else "")
        body.append(f'<section id="{anchor}"><h2>{k}. {_e(title)}</h2>'
                    + (f"<p>{_e(text)}</p>" if text else "")
                    + f'<p class="small">Notebook <code>notebooks/{_e(name)}.ipynb</code> '
                    f'({_e(source)}){nb_link}</p>'
                    + (_section(root, items, FIRST.get(_number(name), ())) if items else
                       '<p class="note">This notebook writes no artefact: see the executed '
                       'notebook, or open it in JupyterLab (<code>make lab</code>).</p>')
                    + "</section>")
    links = []
    for name in names:
        inter = [(r, e) for r, e in by_notebook.get(name, []) if e.get("kind") == "interactive"]
        nb = (f'<a href="{_href(f"{NOTEBOOK_HTML}/{name}.html")}">notebook</a>'
              if name in rendered else "")
        plots = ", ".join(f'<a href="{_href(r)}">{_e(Path(r).stem)}</a>' for r, _ in inter)
        if nb or plots:
            links.append(f"<tr><td>{_e(titles.get(name, _pretty(name)))}</td><td>{nb}</td>"
                         f"<td>{plots}</td></tr>")
    missing = "" if rendered else (
        f'<p class="note">No executed notebook in <code>{_e(executed)}</code>: run '
        '<code>make figures</code> to render them here.</p>')
    toc.append('<li><a href="#s-links">Interactive plots and executed notebooks</a></li>')
    body.append(f'<section id="s-links"><h2>{len(names) + 1}. Interactive plots and executed '
                'notebooks</h2>'
                + missing + ('<div class="table-wrap"><table><tr><th>notebook</th><th>executed'
                             '</th><th>interactive plots</th></tr>' + "".join(links)
                             + "</table></div>" if links else "") + "</section>")

    run = manifest.get("run", {})
    run_line = ", ".join(f"{k} <code>{_e(v)}</code>" for k, v in sorted(run.items()))
    smoke = (' <span class="note">The smoke profile trains tiny models for tests: listen '
             'to check the plumbing, not the results.</span>' if run.get("profile") == "smoke"
             else "")
    n = sum(map(len, by_notebook.values()))
    readme = (f'Every artefact with its caption: <a href="{figures.INDEX}">{figures.INDEX}</a>. '
              if (root / figures.INDEX).is_file() else "")
    page = f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<link rel="icon" href="data:,">
<title>Generative timbre spaces: companion page (vts)</title>
<link rel="stylesheet" href="{figures.ASSETS}/{CSS}"></head><body>
<header><h1>Generative timbre spaces with variational audio synthesis</h1>
<p>A reproduction of Esling, Chemla&ndash;Romeu-Santos &amp; Bitton (DAFx 2018) and of its
companion page, rebuilt by <code>make figures</code> from the notebooks of this repository;
{n} artefacts. Run: {run_line or "unknown"}.{smoke}</p>
<p class="small">{ATTRIBUTION}</p>
<nav><ol>{"".join(toc)}</ol></nav></header>
<main>{"".join(body)}</main>
<footer><p>{ATTRIBUTION}</p><p>{readme}Generated file; do not edit.</p></footer>
</body></html>
"""
    with atomic_path(root / figures.ASSETS / CSS) as tmp:
        tmp.write_text(STYLE.lstrip())
    with atomic_path(root / PAGE) as tmp:
        tmp.write_text(page)
    return root / PAGE
