"""Every animation of the notebooks, as lists of RGB frames (written by
:func:`vts.app.figures.save_animation`).

Frames are rendered by blitting: the background is drawn once and only the
moving artists are redrawn, so an animation of dozens of frames costs little
more than one figure.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np

from .plots import _db, _scatter_labels, new_figure


def path_animation_frames(background: np.ndarray, background_labels: Sequence[str],
                          path: np.ndarray, spectra: np.ndarray, frequencies: np.ndarray,
                          title: str = "", size: tuple[float, float] = (6.4, 2.7),
                          dpi: int = 72) -> list[np.ndarray]:
    """Frames of a point walking along a path (PCA dims 1-2) beside its decoded spectrum.

    Parameters
    ----------
    background : (n, >=2) PCA coordinates of corpus codes (drawn once);
    path : (m, >=2) PCA coordinates of the path; spectra : (m, n_bins) linear
    magnitudes decoded at each path point.

    Returns
    -------
    list of m RGB arrays.
    """
    path = np.asarray(path)
    spectra = np.asarray(spectra)
    fig = new_figure(*size, dpi=dpi, layout=None)
    ax_space, ax_spec = fig.subplots(1, 2)
    fig.subplots_adjust(left=0.03, right=0.97, bottom=0.17, top=0.88, wspace=0.25)
    _scatter_labels(ax_space, np.asarray(background)[:, :2], background_labels, size=3,
                    annotate=False, alpha=0.35)
    ax_space.plot(path[:, 0], path[:, 1], color="black", lw=1)
    dot, = ax_space.plot(path[:1, 0], path[:1, 1], "o", color="red", ms=7, animated=True)
    ax_space.set_xticks([])
    ax_space.set_yticks([])
    ax_space.set_title(title, fontsize=8)
    db = _db(spectra, 200)
    top = db.max()
    line, = ax_spec.plot(frequencies, db[0], color="tab:blue", lw=1, animated=True)
    step = ax_spec.text(0.97, 0.95, "", transform=ax_spec.transAxes, ha="right", va="top",
                        fontsize=7, animated=True)
    ax_spec.set_xscale("log")
    ax_spec.set_ylim(top - 70, top + 3)
    ax_spec.set_xlabel("Hz", fontsize=7)
    ax_spec.set_ylabel("dB", fontsize=7)
    ax_spec.tick_params(labelsize=6)
    def update(k):
        dot.set_data(path[k:k + 1, 0], path[k:k + 1, 1])
        line.set_ydata(db[k])
        step.set_text(f"step {k + 1}/{len(path)}")

    return _blit_frames(fig, (dot, line, step), update, len(path))


def _blit_frames(fig, animated: Sequence, update, n: int) -> list[np.ndarray]:
    """Render ``n`` frames redrawing only the ``animated`` artists over a cached background.

    ``update(k)`` changes the artists for frame ``k``. Artists must have been
    created with ``animated=True`` (so the background does not contain them).
    """
    canvas = fig.canvas
    canvas.draw()
    background = canvas.copy_from_bbox(fig.bbox)
    frames = []
    for k in range(n):
        canvas.restore_region(background)
        update(k)
        for artist in animated:
            if artist.axes is not None:
                artist.axes.draw_artist(artist)
            else:
                fig.draw_artist(artist)
        frames.append(np.asarray(canvas.buffer_rgba())[..., :3].copy())
    return frames


def descriptor_traversal_frames(values: np.ndarray, positions: Sequence[float], axis: str,
                                descriptor: str, title: str = "", extent: float = 1.0,
                                size: tuple[float, float] = (3.2, 2.8),
                                dpi: int = 64) -> list[np.ndarray]:
    """Frames of a plane sweeping the PCA space along ``axis`` (one frame per position).

    values : (n_positions, n, n) descriptor maps (rows = first free axis); one
    colour scale for all frames.
    """
    values = np.asarray(values)
    finite = values[np.isfinite(values)]
    lo, hi = np.percentile(finite, [1, 99]) if finite.size else (0.0, 1.0)
    fig = new_figure(*size, dpi=dpi, layout=None)
    ax = fig.add_axes((0.16, 0.14, 0.6, 0.7))
    cax = fig.add_axes((0.8, 0.14, 0.04, 0.7))
    im = ax.imshow(values[0], origin="lower", extent=(-extent, extent, -extent, extent),
                   cmap="viridis", vmin=lo, vmax=hi, interpolation="nearest", animated=True)
    fig.colorbar(im, cax=cax)
    cax.tick_params(labelsize=6)
    free = [a for a in "XYZ" if a != axis]
    ax.set_xlabel(free[1], fontsize=7)
    ax.set_ylabel(free[0], fontsize=7)
    ax.tick_params(labelsize=6)
    fig.text(0.5, 0.97, f"{title}\n{descriptor}".strip(), ha="center", va="top", fontsize=7)
    label = ax.text(0.03, 0.95, "", transform=ax.transAxes, fontsize=7, va="top",
                    color="white", animated=True)

    def update(k):
        im.set_data(values[k])
        label.set_text(f"{axis} = {positions[k]:+.2f}")

    return _blit_frames(fig, (im, label), update, len(values))
