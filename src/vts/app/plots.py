"""The static plots of notebooks 01-06 and the trade-off, the one palette, shared helpers.

Figures are built on :class:`matplotlib.figure.Figure` (never through pyplot's
global state, so that dozens of figures and animation frames leak nothing).
Nothing here writes files: the notebooks pass what these functions return to
the ``save*`` functions of :mod:`vts.app.figures`, which write and index the
artefacts. The plots of decoded spectra (notebooks 07-09) are in
:mod:`vts.app.spectrum_plots`, notebook 11's in :mod:`vts.app.listener_plots`,
plotly pages in :mod:`vts.app.interactive` and animations in
:mod:`vts.app.animations`; all take their colours from :data:`PALETTE`.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd
from matplotlib import colormaps, patheffects
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from mpl_toolkits.mplot3d import proj3d

from ..instruments import HELD_OUT_INSTRUMENTS, RATED_INSTRUMENTS
from ..regularizers import SPACE_KINDS


# ============================================================================ style
def new_figure(width: float = 8.0, height: float = 5.0, **kwargs):
    """A matplotlib Figure (no pyplot state) with an Agg canvas; size in inches."""

    fig = Figure(figsize=(width, height), layout=kwargs.pop("layout", "constrained"), **kwargs)
    FigureCanvasAgg(fig)
    return fig


def panel_grid(n: int, ncols: int, panel_width: float, panel_height: float):
    """A figure of ``n`` panels in rows of at most ``ncols`` (sizes in inches per panel);
    returns ``(fig, axes)``: the ``n`` axes, flat (unused grid cells are hidden)."""
    ncols = min(ncols, n)
    nrows = int(np.ceil(n / ncols))
    fig = new_figure(panel_width * ncols, panel_height * nrows)
    axes = np.atleast_1d(fig.subplots(nrows, ncols, squeeze=False)).ravel()
    for ax in axes[n:]:
        ax.set_visible(False)
    return fig, axes[:n]


#: The one instrument palette of every figure and of the explorer: Kelly's
#: colours of maximum contrast (white and black left out), the rated
#: instruments first, then the held-out ones, so no two corpus instruments share one.
PALETTE = ("#F3C300", "#875692", "#F38400", "#A1CAF1", "#BE0032", "#C2B280", "#848482",
           "#008856", "#E68FAC", "#0067A5", "#F99379", "#604E97", "#F6A600", "#B3446C",
           "#DCD300", "#882D17", "#8DB600", "#654522", "#E25822", "#2B3D26")
_PALETTE_ORDER = tuple(RATED_INSTRUMENTS) + tuple(HELD_OUT_INSTRUMENTS)


def instrument_color(instrument: str) -> str:
    """The colour of an instrument, the same in every figure and in the explorer."""
    if instrument in _PALETTE_ORDER:
        return PALETTE[_PALETTE_ORDER.index(instrument)]
    return PALETTE[len(_PALETTE_ORDER) + sum(map(ord, str(instrument))) % (
        len(PALETTE) - len(_PALETTE_ORDER))]


def relative_db(magnitude, floor_db: float = 80.0) -> np.ndarray:
    """Magnitudes in dB, floored ``floor_db`` under their own maximum (for colour scales)."""
    mag = np.asarray(magnitude, dtype=np.float64)
    db = 20 * np.log10(np.maximum(mag, 1e-12))
    return np.maximum(db, db.max() - floor_db)


def frequency_ticks(ax, frequencies: np.ndarray, axis: str = "y", n: int = 5) -> None:
    """Label a bin-index axis with the bins' frequencies (Hz)."""
    freqs = np.asarray(frequencies)
    bins = np.unique(np.linspace(0, len(freqs) - 1, n).round().astype(int))
    labels = [f"{freqs[b]:.0f}" for b in bins]
    if axis == "y":
        ax.set_yticks(bins, labels)
        ax.set_ylabel("frequency (Hz)")
    else:
        ax.set_xticks(bins, labels)
        ax.set_xlabel("frequency (Hz)")


def scatter_labels(ax, coords: np.ndarray, labels: Sequence[str], *, size: float = 18,
                    three_d: bool = False, annotate: bool = True, alpha: float = 0.9,
                    marker: str = "o", edge: str | None = None) -> None:
    labels = [str(x) for x in labels]
    for name in sorted(set(labels)):
        idx = [i for i, x in enumerate(labels) if x == name]
        pts = coords[idx]
        kw = dict(s=size, color=instrument_color(name), alpha=alpha, marker=marker, label=name,
                  edgecolors=edge or "none")
        if three_d:
            ax.scatter(pts[:, 0], pts[:, 1], pts[:, 2], **kw)
        else:
            ax.scatter(pts[:, 0], pts[:, 1], **kw)
    if annotate:
        for p, name in zip(coords, labels):
            if three_d:
                ax.text(p[0], p[1], p[2], name, fontsize=7)
            else:
                ax.annotate(name, p[:2], fontsize=7, xytext=(3, 3), textcoords="offset points")


# ============================================================================ 01 perception
def plot_study_spaces(spaces: Sequence[pd.DataFrame], ncols: int = 3):
    """2-D MDS of each study: one panel per study, stimuli labelled by instrument.

    Parameters
    ----------
    spaces : sequence of DataFrame
        From :func:`vts.perception.study_mds`: columns ``dim1, dim2, instrument``,
        ``attrs`` with ``study`` and ``stress``.
    """
    if not spaces:
        raise ValueError("no study to plot")
    fig, axes = panel_grid(len(spaces), ncols, 3.6, 3.3)
    for ax, space in zip(axes, spaces):
        coords = space[["dim1", "dim2"]].to_numpy()
        labels = [i if isinstance(i, str) and i else f"({s})"
                  for i, s in zip(space["instrument"], space.index)]
        scatter_labels(ax, coords, labels, size=22)
        stress = space.attrs.get("stress", np.nan)
        ax.set_title(f"{space.attrs.get('study', '?')}  (stress {stress:.3f})", fontsize=9)
        ax.set_xticks([])
        ax.set_yticks([])
        ax.set_aspect("equal", adjustable="datalim")
    return fig


def plot_cooccurrence(counts: pd.DataFrame, title: str = "instrument co-occurrence"):
    """Heat map of :func:`vts.perception.cooccurrence` (number of studies holding both)."""
    values = counts.to_numpy()
    n = len(counts)
    size = max(4.0, 0.28 * n + 2)
    fig = new_figure(size + 1, size)
    ax = fig.subplots()
    im = ax.imshow(values, cmap="viridis", vmin=0)
    ax.set_xticks(range(n), counts.columns, rotation=90, fontsize=7)
    ax.set_yticks(range(n), counts.index, fontsize=7)
    if n <= 24:
        top = values.max() or 1
        for i in range(n):
            for j in range(n):
                ax.text(j, i, str(values[i, j]), ha="center", va="center", fontsize=6,
                        color="white" if values[i, j] < 0.6 * top else "black")
    fig.colorbar(im, ax=ax, shrink=0.7, label="studies")
    ax.set_title(title, fontsize=10)
    return fig


def plot_timbre_space(space: pd.DataFrame, title: str = "combined timbre space"):
    """Static 3-D view of an MDS timbre space (rows = instruments, columns dim1..dim3).

    Wide (12.5 x 9.5 in: over 1000 px at :data:`vts.app.figures.DPI` once cropped), each
    label beside its point with a white halo. In 3-D the labels are 2-D annotations at
    the points' projections (matplotlib's 3-D texts have no extent, so a tight crop would
    cut those near an edge); fine for a static figure, the view is fixed.
    """
    coords = space.filter(like="dim").to_numpy(dtype=float)
    names = [str(n) for n in space.index]
    fig = new_figure(12.5, 9.5)
    three_d = coords.shape[1] >= 3
    if three_d:
        ax = fig.add_subplot(projection="3d")
        scatter_labels(ax, coords[:, :3], names, size=60, three_d=True, annotate=False)
        lo, hi = coords[:, :3].min(axis=0), coords[:, :3].max(axis=0)
        pad = 0.08 * np.maximum(hi - lo, 1e-9)
        ax.set(xlim=(lo[0] - pad[0], hi[0] + pad[0]), ylim=(lo[1] - pad[1], hi[1] + pad[1]),
               zlim=(lo[2] - pad[2], hi[2] + pad[2]))
        ax.set_zlabel("dim 3", fontsize=12, labelpad=8)
        x2, y2, _ = proj3d.proj_transform(coords[:, 0], coords[:, 1], coords[:, 2],
                                          ax.get_proj())
        where = np.column_stack([x2, y2])
    else:
        ax = fig.add_subplot()
        scatter_labels(ax, coords, names, size=60, annotate=False)
        ax.margins(0.15)
        where = coords[:, :2]
    halo = [patheffects.withStroke(linewidth=3, foreground="white")]
    for p, name in zip(where, names):
        ax.annotate(name, tuple(p), xytext=(7, 0), textcoords="offset points", fontsize=12,
                    ha="left", va="center", path_effects=halo, annotation_clip=False)
    ax.set_xlabel("dim 1", fontsize=12, labelpad=8)
    ax.set_ylabel("dim 2", fontsize=12, labelpad=8)
    ax.tick_params(labelsize=10)
    stress = space.attrs.get("stress")
    ax.set_title(title + (f" (stress {stress:.3f})" if stress is not None else ""), fontsize=14)
    return fig


# ============================================================================ 02 transforms
def plot_transform_roundtrips(results: Sequence[Mapping], floor_db: float = 70.0):
    """Original vs Griffin-Lim-reconstructed magnitude of one note per transform.

    Parameters
    ----------
    results : sequence of mappings
        From :func:`vts.app.notebook.transform_roundtrip`: ``name``, ``frequencies``
        (Hz), ``hop_seconds``, ``magnitude`` and ``reconstruction_magnitude``
        ``(n_bins, n_frames)``, ``spectral_convergence``.
    """
    fig = new_figure(9.5, 2.2 * len(results) + 0.5)
    axes = fig.subplots(len(results), 2, squeeze=False)
    for row, res in zip(axes, results):
        for ax, key, label in ((row[0], "magnitude", "analysis"),
                               (row[1], "reconstruction_magnitude", "Griffin-Lim reconstruction")):
            mag = np.asarray(res[key])
            seconds = mag.shape[1] * res["hop_seconds"]
            im = ax.imshow(relative_db(mag, floor_db), origin="lower", aspect="auto", cmap="magma",
                           extent=(0, seconds, -0.5, mag.shape[0] - 0.5),
                           interpolation="nearest")
            fig.colorbar(im, ax=ax, label="level (dB)", pad=0.01, fraction=0.04)
            frequency_ticks(ax, res["frequencies"])
            ax.set_title(f"{res['name']}: {label}" + (
                f" (spectral convergence {res['spectral_convergence']:.3f})"
                if key != "magnitude" else f" ({mag.shape[0]} bins)"), fontsize=8)
        row[0].set_xlabel("time (s)")
        row[1].set_xlabel("time (s)")
    return fig


# ============================================================================ 03 training
def plot_learning_curves(curves: Mapping[str, pd.DataFrame]):
    """Training loss, test reconstruction error and test R(z, T) of every model.

    Parameters
    ----------
    curves : mapping name -> DataFrame
        ``curves.csv`` of each space (``epoch``, ``total``, ``test_mse``,
        ``test_R``, ``stage``). Regularised models are solid, vanilla dashed;
        a transform keeps its colour.
    """
    panels = (("total", "training loss (−ELBO + αR)"), ("test_mse", "test MSE (normalised)"),
              ("test_R", "test R(z, T) (nats)"))
    fig = new_figure(13, 4)
    axes = fig.subplots(1, 3)
    transforms = sorted({n.rsplit("-", 1)[0] for n in curves})
    cmap = colormaps["tab10"]
    for name, df in sorted(curves.items()):
        transform, kind = name.rsplit("-", 1) if "-" in name else (name, "")
        color = cmap(transforms.index(transform) % 10)
        style = "--" if kind == "vanilla" else "-"
        for ax, (col, label) in zip(axes, panels):
            if col in df and df[col].notna().any():
                ax.plot(df["epoch"], df[col], style, color=color, label=name, lw=1.2)
            ax.set_title(label, fontsize=9)
            ax.set_xlabel("epoch")
    for ax in axes:
        if len(curves):
            stage1 = [df.loc[df["stage"] == 1, "epoch"].max() for df in curves.values()
                      if "stage" in df and (df["stage"] == 1).any()]
            if stage1:
                ax.axvline(max(stage1), color="grey", lw=0.8, ls=":")
    axes[1].set_yscale("log")
    handles, labels = axes[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="outside right center", fontsize=7)
    return fig


# ============================================================================ 04 latent spaces
def plot_latent_spaces(grid: Sequence[Sequence[Mapping]], annotate: bool = False):
    """3-D PCA scatter of latent codes, one row per transform, one column per variant.

    Parameters
    ----------
    grid : rows of panels
        Each panel: ``title``, ``coords`` (n, 3) PCA coordinates, ``labels`` (n
        instrument names), optional ``centroids`` (DataFrame instrument x 3).
    """
    nrows = len(grid)
    ncols = max(len(r) for r in grid)
    fig = new_figure(4.2 * ncols, 3.6 * nrows)
    for i, row in enumerate(grid):
        for j, panel in enumerate(row):
            ax = fig.add_subplot(nrows, ncols, i * ncols + j + 1, projection="3d")
            coords = np.asarray(panel["coords"])
            scatter_labels(ax, coords, panel["labels"], size=6, three_d=True, annotate=annotate,
                            alpha=0.6)
            cents = panel.get("centroids")
            if cents is not None and len(cents):
                c = np.asarray(cents)
                ax.scatter(c[:, 0], c[:, 1], c[:, 2], s=60, marker="*",
                           c=[instrument_color(n) for n in cents.index], edgecolors="black")
                for p, name in zip(c, cents.index):
                    ax.text(p[0], p[1], p[2], name, fontsize=6)
            ax.set_title(panel["title"], fontsize=8)
            ax.tick_params(labelsize=6)
            for setter, name in zip((ax.set_xlabel, ax.set_ylabel, ax.set_zlabel),
                                    panel.get("axes", ("PC1", "PC2", "PC3"))):
                setter(name, fontsize=7, labelpad=-2)
    names = sorted({str(n) for row in grid for panel in row for n in panel["labels"]})
    handles = [Line2D([], [], ls="", marker="o", ms=7, color=instrument_color(n), label=n)
               for n in names]
    fig.legend(handles=handles, loc="outside right center", fontsize=8, title="instrument")
    return fig


def plot_reconstructions(items: Sequence[Mapping], ncols: int = 4):
    """Test frames and their reconstruction through a space (normalised log-magnitude).

    Each item: ``title``, ``frequencies`` (Hz), ``original`` and
    ``reconstruction`` (n_bins,).
    """
    fig, axes = panel_grid(len(items), ncols, 3.2, 2.4)
    for ax, item in zip(axes, items):
        freqs = np.asarray(item["frequencies"])
        ax.plot(freqs, item["original"], color="black", lw=0.9, label="test frame")
        ax.plot(freqs, item["reconstruction"], color="tab:red", lw=0.9, label="reconstruction")
        ax.set_xscale("log")
        ax.set_title(item["title"], fontsize=7)
        ax.tick_params(labelsize=6)
    axes[0].legend(fontsize=6)
    fig.supxlabel("frequency (Hz)", fontsize=8)
    fig.supylabel("normalised log-magnitude", fontsize=8)
    return fig


# ============================================================================ 05 table 1
def plot_table1(table: pd.DataFrame):
    """Ours vs the paper: test MSE and log-likelihood (vanilla) and R(z, T) of every model.

    ``table`` has one row per model with ``model``, ``transform``,
    ``regularized``, ``test_mse``, ``test_loglik_per_bin``, ``kl_timbre`` and
    the paper's ``paper_mse``, ``paper_kl`` (NaN where the paper gives none).
    """
    fig = new_figure(13, 4)
    axes = fig.subplots(1, 3)
    x = np.arange(len(table))
    names = table["model"].astype(str).tolist()
    w = 0.4
    for ax, ours, paper, label, log in (
            (axes[0], "test_mse", "paper_mse", "test MSE", False),
            (axes[1], "test_loglik_per_bin", None, "test log p(x) per bin (nats)", False),
            (axes[2], "kl_timbre", "paper_kl", "R(z, T) (nats, log scale)", True)):
        ax.bar(x - (w / 2 if paper else 0), table[ours].astype(float), w, label="ours")
        if paper:
            ax.bar(x + w / 2, table[paper].astype(float), w, label="paper", color="grey")
        ax.set_xticks(x, names, rotation=60, ha="right", fontsize=7)
        ax.set_title(label, fontsize=9)
        if log:
            ax.set_yscale("log")
        if paper:
            ax.legend(fontsize=7)
    return fig


# ============================================================================ 06 novel instruments
def plot_novel_instruments(views: Mapping[str, Mapping]):
    """Novel instruments in each space: all points, class centroids, both mixed (3-D PCA).

    Parameters
    ----------
    views : mapping space title -> mapping
        ``train_coords`` (n, 3) and ``train_labels``; ``train_centroids`` and
        ``novel_centroids`` (DataFrames instrument x 3); ``novel_coords`` (m, 3)
        and ``novel_labels``.
    """
    fig = new_figure(14, 4.0 * len(views))
    columns = ("all points", "class centroids", "mixed")
    for i, (title, v) in enumerate(views.items()):
        for j, what in enumerate(columns):
            ax = fig.add_subplot(len(views), 3, 3 * i + j + 1, projection="3d")
            if what in ("all points", "mixed"):
                scatter_labels(ax, np.asarray(v["train_coords"]), v["train_labels"],
                                size=9 if what == "all points" else 4, three_d=True,
                                annotate=False, alpha=0.5 if what == "all points" else 0.2)
                scatter_labels(ax, np.asarray(v["novel_coords"]), v["novel_labels"], size=22,
                                three_d=True, annotate=False, marker="^", edge="black")
            if what in ("class centroids", "mixed"):
                for key, marker, size in (("train_centroids", "o", 50),
                                          ("novel_centroids", "*", 160)):
                    c = v[key]
                    if len(c):
                        scatter_labels(ax, c.to_numpy(), list(c.index), size=size, three_d=True,
                                        marker=marker, edge="black",
                                        annotate=what == "class centroids")
            ax.set_title(f"{title}: {what}", fontsize=8)
            ax.tick_params(labelsize=5)
    names = sorted({str(x) for v in views.values()
                    for x in list(v["train_labels"]) + list(v["novel_labels"])})
    handles = [Line2D([], [], ls="", marker="o", color=instrument_color(n), label=n)
               for n in names]
    handles += [Line2D([], [], ls="", marker="^", color="grey", mec="black", label="novel note"),
                Line2D([], [], ls="", marker="*", ms=10, color="grey", mec="black",
                       label="novel centroid")]
    fig.legend(handles=handles, loc="outside right center", fontsize=7)
    return fig


# ============================================================================ 05 trade-off
def _annotate_apart(ax, notes, fontsize: int = 7, line_points: float = 9.0) -> None:
    """Write each ``(text, (x, y))`` of ``notes`` right of its point, moved down
    (with a leader line) where it would overlap a label already written."""
    ax.autoscale_view()
    placed = []   # (x, y) of the written labels, display points
    scale = ax.figure.dpi / 72.0
    for text, xy in sorted(notes, key=lambda n: -n[1][1]):
        px, py = ax.transData.transform(xy) / scale
        width = 0.6 * fontsize * len(text)
        dy = 3.0
        while any(abs(py + dy - qy) < line_points and px < qx + qw and qx < px + width
                  for qx, qy, qw in placed):
            dy -= line_points
        placed.append((px, py + dy, width))
        ax.annotate(text, xy, fontsize=fontsize, xytext=(5, dy), textcoords="offset points",
                    va="bottom", arrowprops=None if dy == 3.0 else
                    {"arrowstyle": "-", "color": "grey", "lw": 0.5})


def plot_tradeoff(table: pd.DataFrame, x: str = "silhouette_pca", y: str = "listeners_spearman"):
    """Listener agreement against clustering, one point per space.

    ``table`` has one row per space with ``kind``, ``x``, ``y`` and optionally
    ``alpha`` / ``dims`` / ``within`` / ``per_class`` (written beside the
    points; ``within`` only when ``"free"``, ``per_class`` only when above 0:
    R on a class-balanced draw) and ``mse_vs_vanilla``
    (the marker size grows with the reconstruction cost).
    """
    fig = new_figure(8.0, 5.5)
    ax = fig.subplots()
    colours = dict(zip(SPACE_KINDS, ("#222222", "#F38400", "#882D17", "#0067A5",
                                            "#008856", "#875692", "#BE0032")))
    notes = []
    for kind, rows in table.groupby("kind", sort=False):
        cost = rows["mse_vs_vanilla"].clip(lower=0).fillna(0) if "mse_vs_vanilla" in rows \
            else pd.Series(0.0, index=rows.index)
        ax.scatter(rows[x], rows[y], s=40 + 600 * cost, color=colours.get(kind, "#444444"),
                   label=kind, alpha=0.85, edgecolors="black", linewidths=0.5)
        for _, row in rows.iterrows():
            if kind == "vanilla":
                continue
            note = f"{kind}, α {row.get('alpha', float('nan')):g}, {row.get('dims', '')}"
            if row.get("within") == "free":
                note += ", one instrument free"
            if row.get("per_class", 0) > 0:
                note += ", balanced"
            notes.append((note.strip(", "), (row[x], row[y])))
    _annotate_apart(ax, notes)
    ax.axhline(float(table.loc[table["kind"] == "vanilla", y].mean()), color="grey", lw=0.8,
               ls="--", label="vanilla level")
    ax.set_xlabel("silhouette of the 12 instruments, 3-D PCA (clustering)")
    ax.set_ylabel("mean Spearman with the listeners of the nine studies")
    ax.set_title("Clustering the instruments against agreeing with listeners on new sounds\n"
                 "(marker size: test MSE above the vanilla space)")
    ax.legend(fontsize=8, markerscale=0.6, loc="best")
    ax.grid(alpha=0.3)
    return fig
