"""Plots of decoded spectra: a path's spectra, paths side by side, descriptor planes and
descriptor-driven synthesis (notebooks 07, 08 and 09).

Like :mod:`vts.app.plots`, these build :class:`matplotlib.figure.Figure` objects
and write nothing; spectrograms share one dB scale and colour bar per figure.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from .plots import frequency_ticks, new_figure, panel_grid


# ============================================================================ 07 paths
def _spectrogram(ax, spectra: np.ndarray, frequencies: np.ndarray, top: float, floor_db: float):
    """Decoded spectra ``(n_steps, n_bins)`` as an image (steps across, bins up, dB re the
    common maximum ``top``, floored ``floor_db`` under it); returns the image."""
    db = 20 * np.log10(np.maximum(np.asarray(spectra, dtype=np.float64), 1e-12))
    im = ax.imshow(np.maximum(db, top - floor_db).T, origin="lower", aspect="auto", cmap="magma",
                   vmin=top - floor_db, vmax=top, interpolation="nearest")
    frequency_ticks(ax, frequencies)
    return im


def _top_db(*spectra) -> float:
    return float(max(20 * np.log10(max(float(np.max(s)), 1e-12)) for s in spectra))


def plot_path_spectra(spectra: np.ndarray, frequencies: np.ndarray, labels: Sequence[str],
                      title: str = "", floor_db: float = 60.0):
    """Decoded spectra along a path: one panel per point (the paper's 8-point figure) above
    the same spectra as a spectrogram with its colour bar (dB re the loudest bin).

    spectra : (n_points, n_bins) linear magnitudes; labels : n_points strings.
    """
    spectra = np.asarray(spectra)
    n = len(spectra)
    freqs = np.asarray(frequencies)
    fig = new_figure(max(11.0, 1.6 * n + 2.0), 5.6)
    grid = fig.add_gridspec(2, n, height_ratios=(1.0, 1.0))
    top = _top_db(spectra)
    first = None
    for k, (spec, label) in enumerate(zip(spectra, labels)):
        ax = fig.add_subplot(grid[0, k], sharey=first)
        first = first or ax
        level = 20 * np.log10(np.maximum(spec, 1e-12))
        ax.fill_between(freqs, top - floor_db, np.maximum(level, top - floor_db),
                        color="tab:blue", lw=0)
        ax.set_xscale("log")
        ax.set_title(label, fontsize=9)
        ax.tick_params(labelsize=7)
        ax.set_ylim(top - floor_db, top + 3)
        if k:
            ax.tick_params(labelleft=False)
        ax.set_xlabel("Hz", fontsize=8)
    first.set_ylabel("level (dB)", fontsize=9)
    ax = fig.add_subplot(grid[1, :])
    im = _spectrogram(ax, spectra, freqs, top, floor_db)
    ax.set_xticks(range(n), list(labels), fontsize=8)
    ax.set_xlabel("point of the path")
    fig.colorbar(im, ax=ax, label="level (dB)", pad=0.01, fraction=0.03)
    fig.suptitle(title, fontsize=11)
    return fig


def plot_path_comparison(spectra: Mapping[str, np.ndarray], frequencies: np.ndarray,
                         distances: pd.DataFrame | None = None, title: str = "",
                         floor_db: float = 70.0, distance_label: str = "log-spectral distance (dB)"):
    """Spectrograms of several decoded paths (e.g. linear, spherical) and their distance.

    spectra : name -> (n_steps, n_bins) linear magnitudes, drawn on one colour scale
    (dB re the loudest bin of all, colour bar beside each);
    distances : DataFrame with ``step`` and one or more distance columns (dB), drawn in
    a last panel (none when None). Panels in rows of three.
    """
    n = len(spectra)
    panels = n + (distances is not None)
    fig, axes = panel_grid(panels, 3, 4.6, 3.8)
    if panels < 3:
        fig.set_size_inches(max(11.0, 4.6 * panels), 3.8)
    top = _top_db(*spectra.values())
    for ax, (name, spec) in zip(axes, spectra.items()):
        im = _spectrogram(ax, np.asarray(spec), frequencies, top, floor_db)
        fig.colorbar(im, ax=ax, label="level (dB)", pad=0.01, fraction=0.05)
        ax.set_xlabel("path step")
        ax.set_title(name, fontsize=10)
    if distances is not None:
        ax = axes[-1]
        for col in distances.columns:
            if col != "step":
                ax.plot(distances["step"], distances[col], label=col, lw=1.4)
        ax.set_xlabel("path step")
        ax.set_ylabel(distance_label)
        ax.set_ylim(bottom=0)
        ax.legend(fontsize=8)
        ax.grid(alpha=0.3)
        ax.set_title("distance between the paths' spectra", fontsize=10)
    fig.suptitle(title, fontsize=11)
    return fig


# ============================================================================ 08 descriptors
def plot_descriptor_planes(rows: Sequence[Mapping], planes: Sequence[float], descriptor: str,
                           unit: str = "", extent: float = 1.0):
    """Descriptor maps on the planes of the PCA space: one row per (model, axis), one column
    per plane; one colour scale for the whole figure.

    Parameters
    ----------
    rows : sequence of mappings
        ``title`` (e.g. the model), ``axis`` (``"X"``, ``"Y"`` or ``"Z"``: the axis
        held fixed) and ``values`` ``(n_planes, n, n)`` as returned by
        :func:`vts.topology.descriptor_topology` (rows of a map follow the first
        free axis, columns the second).
    planes : positions of the planes (scaled PCA units).
    """
    planes = list(planes)
    width, height = 1.5 * len(planes) + 1.6, 1.5 * len(rows) + 0.7
    fig = new_figure(width, height, layout=None)
    axes = fig.subplots(len(rows), len(planes), squeeze=False)
    fig.subplots_adjust(left=1.0 / width, right=1 - 0.9 / width, bottom=0.15 / height,
                        top=1 - 0.55 / height, wspace=0.08, hspace=0.25)
    allv = np.concatenate([np.asarray(r["values"], dtype=float).ravel() for r in rows])
    finite = allv[np.isfinite(allv)]
    lo, hi = np.percentile(finite, [1, 99]) if finite.size else (0.0, 1.0)
    im = None
    for row_axes, row in zip(axes, rows):
        free = [a for a in "XYZ" if a != row["axis"]]
        for ax, plane, grid in zip(row_axes, planes, np.asarray(row["values"])):
            im = ax.imshow(grid, origin="lower", extent=(-extent, extent, -extent, extent),
                           cmap="viridis", vmin=lo, vmax=hi, interpolation="nearest")
            ax.set_title(f"{row['axis']} = {plane:+.2f}", fontsize=7, pad=2)
            ax.set_xticks([])
            ax.set_yticks([])
        row_axes[0].set_ylabel(f"{row['title']}\n{free[0]} ↑, {free[1]} →", fontsize=7)
    cax = fig.add_axes((1 - 0.75 / width, 0.2, 0.15 / width, 0.6))
    fig.colorbar(im, cax=cax, label=f"{descriptor} ({unit})" if unit else descriptor)
    fig.suptitle(f"{descriptor} of the decoded spectra on planes of the PCA space "
                 f"(free axes in [−{extent:g}, {extent:g}])", fontsize=9)
    return fig


# ============================================================================ 09 synthesis
def plot_descriptor_synthesis(results: Mapping[str, object], frequencies: np.ndarray,
                              units: Mapping[str, str] | None = None, title: str = ""):
    """Target vs achieved descriptor curves (with their error) and the decoded spectra.

    Parameters
    ----------
    results : mapping name -> result of :func:`vts.topology.descriptor_synthesis`
        Objects with ``descriptor``, ``targets`` and ``values`` (n_points,),
        ``spectra`` (n_points, n_bins) linear magnitudes and ``rmse``.
    frequencies : (n_bins,) Hz.
    units : descriptor -> unit (e.g. :data:`vts.dsp.descriptors.UNITS`).
    """
    units = units or {}
    fig = new_figure(11, 3.2 * len(results))
    axes = fig.subplots(len(results), 2, squeeze=False)
    for (ax_c, ax_s), (name, run) in zip(axes, results.items()):
        target = np.asarray(run.targets, dtype=float)
        achieved = np.asarray(run.values, dtype=float)
        unit = units.get(run.descriptor, "")
        steps = np.arange(len(target))
        err = np.abs(achieved - target)
        ax_c.plot(steps, target, "k--", label="target")
        ax_c.plot(steps, achieved, "o-", color="tab:red", ms=3, label="achieved")
        ax_c.fill_between(steps, target - err, target + err, color="tab:red", alpha=0.15,
                          label="± |error|")
        ax_c.set_title(f"{title} {name}: RMSE {run.rmse:.4g} {unit}".strip(), fontsize=8)
        ax_c.set_xlabel("step")
        ax_c.set_ylabel(f"{run.descriptor} ({unit})" if unit else run.descriptor, fontsize=8)
        ax_c.legend(fontsize=7)
        spectra = np.asarray(run.spectra)
        im = _spectrogram(ax_s, spectra, frequencies, _top_db(spectra), 70.0)
        fig.colorbar(im, ax=ax_s, label="level (dB)", pad=0.01, fraction=0.05)
        ax_s.set_xlabel("step")
        ax_s.set_title(f"decoded spectra along the {name} path", fontsize=8)
    return fig
