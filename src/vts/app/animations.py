"""Every animation of the notebooks, as lists of RGB frames (written as H.264 MP4 by
:func:`vts.app.figures.save_animation`).

Frames are rendered by blitting: the background is drawn once and only the
moving artists are redrawn, so an animation of dozens of frames costs little
more than one figure. Every animation is rendered at the size it is watched
at: at least :data:`MIN_VIDEO_WIDTH` pixels wide (even sizes, as H.264 wants), text
of at least :data:`MIN_FONT` points.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
from matplotlib import patheffects

from .figures import MIN_VIDEO_WIDTH
from .plots import new_figure, relative_db, scatter_labels

#: Pixels per inch of every animation frame.
DPI = 100
#: Smallest text (points): tick labels; titles and labels are larger.
MIN_FONT = 11


def _even_inches(width: float, height: float, dpi: int) -> tuple[float, float]:
    """``(width, height)`` in inches rounded so that both pixel sizes are even, the width
    at least :data:`MIN_VIDEO_WIDTH` pixels."""
    w = max(round(width * dpi), MIN_VIDEO_WIDTH)
    h = round(height * dpi)
    return (w + w % 2) / dpi, (h + h % 2) / dpi


def path_animation_frames(background: np.ndarray, background_labels: Sequence[str],
                          path: np.ndarray, spectra: np.ndarray, frequencies: np.ndarray,
                          title: str = "", size: tuple[float, float] = (11.0, 4.6),
                          dpi: int = DPI, ends: tuple[str, str] | None = None
                          ) -> list[np.ndarray]:
    """Frames of a point walking along a path (PCA dims 1-2) beside its decoded spectrum.

    Parameters
    ----------
    background : (n, >=2) PCA coordinates of corpus codes (drawn once), coloured by
        ``background_labels``;
    path : (m, >=2) PCA coordinates of the path; spectra : (m, n_bins) linear
        magnitudes decoded at each path point; frequencies : (n_bins,) Hz.
    size, dpi : frame size (inches, at least :data:`MIN_VIDEO_WIDTH` pixels wide) and resolution.
    ends : labels of the path's two ends (e.g. the notes), written beside them and
        beside their spectra (drawn as grey references).

    Returns
    -------
    list of m RGB arrays ``(height, width, 3)``, both sizes even.
    """
    path = np.asarray(path)
    spectra = np.asarray(spectra)
    fig = new_figure(*_even_inches(*size, dpi), dpi=dpi, layout=None)
    ax_space, ax_spec = fig.subplots(1, 2, gridspec_kw={"width_ratios": (1.0, 1.25)})
    fig.subplots_adjust(left=0.03, right=0.98, bottom=0.15, top=0.84, wspace=0.16)
    background = np.asarray(background)[:, :2]
    names = np.asarray([str(x) for x in background_labels])
    scatter_labels(ax_space, background, names, size=5, annotate=False, alpha=0.35)
    halo = [patheffects.withStroke(linewidth=2.5, foreground="white")]
    for name in sorted(set(names)):                  # each instrument named at its median
        centre = np.median(background[names == name], axis=0)
        ax_space.text(*centre, name, fontsize=MIN_FONT, ha="center", va="center",
                      color="0.2", path_effects=halo, alpha=0.85)
    ax_space.plot(path[:, 0], path[:, 1], color="black", lw=1.4)
    ax_space.plot(path[[0, -1], 0], path[[0, -1], 1], "s", color="black", ms=6)
    dot, = ax_space.plot(path[:1, 0], path[:1, 1], "o", color="red", ms=11, mec="white",
                         animated=True)
    ax_space.set_xticks([])
    ax_space.set_yticks([])
    ax_space.set_xlabel("PC1", fontsize=MIN_FONT + 1)
    ax_space.set_ylabel("PC2", fontsize=MIN_FONT + 1)
    ax_space.set_title("the path through the space", fontsize=MIN_FONT + 2)
    db = relative_db(spectra, 200)
    top = db.max()
    if ends is not None:
        for k, label in ((0, ends[0]), (-1, ends[1])):
            ax_space.annotate(label, path[k, :2], xytext=(6, 6), textcoords="offset points",
                              fontsize=MIN_FONT, bbox={"fc": "white", "ec": "none",
                                                       "alpha": 0.8, "pad": 1})
        ax_spec.plot(frequencies, db[0], color="0.55", lw=0.8, ls="--", label=ends[0])
        ax_spec.plot(frequencies, db[-1], color="0.3", lw=0.8, ls=":", label=ends[1])
        ax_spec.legend(fontsize=MIN_FONT, loc="lower left", framealpha=0.8)
    line, = ax_spec.plot(frequencies, db[0], color="tab:red", lw=1.4, animated=True)
    step = ax_spec.text(0.98, 0.95, "", transform=ax_spec.transAxes, ha="right", va="top",
                        fontsize=MIN_FONT + 1, animated=True)
    ax_spec.set_xscale("log")
    ax_spec.set_ylim(top - 70, top + 3)
    ax_spec.set_xlabel("frequency (Hz)", fontsize=MIN_FONT + 1)
    ax_spec.set_ylabel("level (dB)", fontsize=MIN_FONT + 1)
    ax_spec.tick_params(labelsize=MIN_FONT)
    ax_spec.grid(alpha=0.3)
    ax_spec.set_title("the spectrum decoded there", fontsize=MIN_FONT + 2)
    fig.suptitle(title, fontsize=MIN_FONT + 3)

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


def descriptor_traversal_frames(panels: Sequence[Mapping], positions: Sequence[float],
                                descriptor: str, unit: str = "", title: str = "",
                                stacked: bool = False, extent: float = 1.0,
                                panel_inches: float = 3.6, dpi: int = DPI) -> list[np.ndarray]:
    """Frames of planes sweeping the PCA space (one frame per position), several maps at once.

    Parameters
    ----------
    panels : sequence of mappings
        ``title`` (e.g. the model), ``axis`` (``"X"``, ``"Y"`` or ``"Z"``: the axis the
        plane sweeps) and ``values`` ``(n_positions, n, n)``: the descriptor maps
        (rows follow the first free axis, as :func:`vts.topology.descriptor_topology`).
        All panels share one colour scale (1st-99th percentile of every value) and
        one colour bar, so the same colour means the same value everywhere.
    positions : the plane position of each frame (scaled PCA units).
    descriptor, unit : colour bar label.
    stacked : panels one above the other (e.g. vanilla on top, regularised below)
        instead of side by side.
    panel_inches, dpi : size of each map and resolution (the frame is at least
        :data:`MIN_VIDEO_WIDTH` pixels wide).

    Returns
    -------
    list of ``n_positions`` RGB arrays ``(height, width, 3)``, both sizes even.
    """
    values = [np.asarray(p["values"], dtype=float) for p in panels]
    if not values or any(v.shape != values[0].shape or v.ndim != 3 for v in values):
        raise ValueError("descriptor_traversal_frames: panels need maps of one shape "
                         "(n_positions, n, n)")
    if len(positions) != len(values[0]):
        raise ValueError(f"descriptor_traversal_frames: {len(positions)} positions for "
                         f"{len(values[0])} maps")
    allv = np.concatenate([v.ravel() for v in values])
    finite = allv[np.isfinite(allv)]
    lo, hi = np.percentile(finite, [1, 99]) if finite.size else (0.0, 1.0)
    if not hi > lo:
        lo, hi = lo - 0.5, hi + 0.5
    rows, cols = (len(panels), 1) if stacked else (1, len(panels))
    # layout in inches: exact squares for the maps, room for ticks, labels and titles
    left, right, top, bottom, gap_w, gap_h = 0.9, 1.5, 0.95, 0.7, 0.85, 0.95
    need_w = left + cols * panel_inches + (cols - 1) * gap_w + right
    need_h = bottom + rows * panel_inches + (rows - 1) * gap_h + top
    width, height = _even_inches(need_w, need_h, dpi)
    left += (width - need_w) / 2                  # widened to MIN_VIDEO_WIDTH: centre the maps
    fig = new_figure(width, height, dpi=dpi, layout=None)
    images, labels = [], []
    for k, (panel, v) in enumerate(zip(panels, values)):
        r, c = divmod(k, cols)
        x = left + c * (panel_inches + gap_w)
        y = bottom + (rows - 1 - r) * (panel_inches + gap_h)
        ax = fig.add_axes((x / width, y / height, panel_inches / width, panel_inches / height))
        im = ax.imshow(v[0], origin="lower", extent=(-extent, extent, -extent, extent),
                       cmap="viridis", vmin=lo, vmax=hi, interpolation="nearest",
                       animated=True)
        free = [a for a in "XYZ" if a != panel["axis"]]
        ticks = (-extent, 0.0, extent)
        ax.set_xticks(ticks, [f"{t:g}" for t in ticks])
        ax.set_yticks(ticks, [f"{t:g}" for t in ticks])
        ax.set_xlabel(free[1], fontsize=MIN_FONT + 1, labelpad=0)
        ax.set_ylabel(free[0], fontsize=MIN_FONT + 1, labelpad=0)
        ax.tick_params(labelsize=MIN_FONT)
        ax.set_title(f"{panel['title']}: plane along {panel['axis']}", fontsize=MIN_FONT + 1)
        label = ax.text(0.03, 0.96, "", transform=ax.transAxes, fontsize=MIN_FONT + 1, va="top",
                        color="white", fontweight="bold", animated=True)
        images.append(im)
        labels.append(label)
    x_bar = left + cols * panel_inches + (cols - 1) * gap_w + 0.3
    cax = fig.add_axes((x_bar / width, bottom / height, 0.2 / width,
                        (rows * panel_inches + (rows - 1) * gap_h) / height))
    fig.colorbar(images[0], cax=cax, label=f"{descriptor} ({unit})" if unit else descriptor)
    cax.tick_params(labelsize=MIN_FONT)
    cax.yaxis.label.set_size(MIN_FONT + 1)
    fig.suptitle(title or descriptor, fontsize=MIN_FONT + 3, y=1 - 0.2 / height)

    def update(k):
        for im, label, v, panel in zip(images, labels, values, panels):
            im.set_data(v[k])
            label.set_text(f"{panel['axis']} = {positions[k]:+.2f}")

    return _blit_frames(fig, (*images, *labels), update, len(positions))
