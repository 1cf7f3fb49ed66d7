"""Latent-space operations of a timbre space: paths, their sounds, descriptor topology and
descriptor-driven synthesis (the paper's Algorithm 1).

Every function works with any ``space`` object that offers the
:class:`vts.space.TimbreSpace` interface it needs:

- ``decode_magnitude(z)``: codes ``(n, d)`` -> linear magnitudes ``(n, n_bins)``;
- ``transform``: with ``frequencies`` (``(n_bins,)``, Hz), ``hop_seconds``,
  ``sample_rate`` and ``n_frames(length)`` (a :class:`vts.dsp.Transform`);
- ``to_pca`` / ``from_pca`` and ``codes("train")`` for the PCA planes;
- ``encode_magnitude`` for :func:`note_trajectory`.

Shapes: a latent point is ``(d,)``, a path ``(n_points, d)``; spectra are rows
``(n_points, n_bins)`` of linear magnitudes (frames as rows, as
:mod:`vts.dsp.descriptors` expects); PCA coordinates are ``(..., 3)``.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from . import config
from .dsp import note_frames
from .dsp.descriptors import DESCRIPTORS, compute, compute_all
from .dsp.render import N_ITER, render, to_db
from .io import as_signal


# -- paths --------------------------------------------------------------------------
def _endpoints(z_a, z_b) -> tuple[np.ndarray, np.ndarray]:
    a = np.asarray(z_a, dtype=np.float64)
    b = np.asarray(z_b, dtype=np.float64)
    if a.ndim != 1 or a.shape != b.shape or a.shape[0] == 0:
        raise ValueError(f"path endpoints must be two latent vectors of the same shape (d,), "
                         f"got {a.shape} and {b.shape}")
    if not (np.all(np.isfinite(a)) and np.all(np.isfinite(b))):
        raise ValueError("path endpoints contain nan or inf")
    return a, b


def _positions(n_points: int) -> np.ndarray:
    if int(n_points) != n_points or n_points < 2:
        raise ValueError(f"n_points must be an integer >= 2, got {n_points}")
    return np.linspace(0.0, 1.0, int(n_points))


def linear_path(z_a, z_b, n_points: int = 8) -> np.ndarray:
    """Evenly spaced points on the segment from ``z_a`` to ``z_b``.

    Parameters
    ----------
    z_a, z_b : array, (d,)
        Latent end points.
    n_points : int
        Number of points (>= 2), end points included.

    Returns
    -------
    np.ndarray, float64, (n_points, d)
        ``(1 - t) z_a + t z_b`` for ``t = linspace(0, 1, n_points)``; the first and
        last rows are exactly ``z_a`` and ``z_b``.
    """
    a, b = _endpoints(z_a, z_b)
    t = _positions(n_points)[:, None]
    path = (1.0 - t) * a + t * b
    path[0], path[-1] = a, b
    return path


def _perpendicular(u: np.ndarray) -> np.ndarray | None:
    """A deterministic unit vector orthogonal to the unit vector ``u`` (None in 1-D)."""
    if u.shape[0] < 2:
        return None
    e = np.zeros_like(u)
    e[np.argmin(np.abs(u))] = 1.0          # the axis least aligned with u
    p = e - (e @ u) * u
    return p / np.linalg.norm(p)


def spherical_path(z_a, z_b, n_points: int = 8, angle_tol: float = 1e-6) -> np.ndarray:
    """Spherical interpolation (slerp) around the origin of the prior N(0, I).

    The *direction* of the point moves at constant angular speed along the great
    circle from ``z_a / |z_a|`` to ``z_b / |z_b|`` (Shoemake's slerp of the unit
    vectors), and its *norm* goes linearly from ``|z_a|`` to ``|z_b|``:

    ``z(t) = ((1 - t)|z_a| + t|z_b|) * (sin((1 - t)W) u_a + sin(tW) u_b) / sin W``,
    with ``W`` the angle between ``z_a`` and ``z_b``.

    For end points of equal norm this is exactly the classical slerp of the
    vectors (every point keeps that norm); with unequal norms the norm stays
    between the two end norms, where the classical formula would dip.

    Degenerate cases:

    - a zero end point (no direction) or parallel end points (angle < ``angle_tol``):
      the linear path, which is then also radial;
    - antiparallel end points (angle within ``angle_tol`` of pi): the great circle
      is not unique; the path turns through the deterministic direction orthogonal
      to ``z_a`` along the latent axis least aligned with ``z_a``
      (in 1-D, where no such direction exists: the linear path).

    Parameters
    ----------
    z_a, z_b : array, (d,)
        Latent end points.
    n_points : int
        Number of points (>= 2), end points included.
    angle_tol : float
        Angle (radians) under which end points count as parallel / antiparallel.

    Returns
    -------
    np.ndarray, float64, (n_points, d)
        First and last rows exactly ``z_a`` and ``z_b``.
    """
    a, b = _endpoints(z_a, z_b)
    t = _positions(n_points)
    norm_a, norm_b = np.linalg.norm(a), np.linalg.norm(b)
    if norm_a == 0.0 or norm_b == 0.0:
        return linear_path(a, b, n_points)
    u_a, u_b = a / norm_a, b / norm_b
    omega = float(np.arccos(np.clip(u_a @ u_b, -1.0, 1.0)))
    if omega < angle_tol:
        return linear_path(a, b, n_points)
    if np.pi - omega < angle_tol:
        p = _perpendicular(u_a)
        if p is None:
            return linear_path(a, b, n_points)
        directions = np.cos(np.pi * t)[:, None] * u_a + np.sin(np.pi * t)[:, None] * p
    else:
        directions = (np.sin((1.0 - t) * omega)[:, None] * u_a
                      + np.sin(t * omega)[:, None] * u_b) / np.sin(omega)
    path = ((1.0 - t) * norm_a + t * norm_b)[:, None] * directions
    path[0], path[-1] = a, b
    return path


#: The two interpolations by name.
PATHS = {"linear": linear_path, "spherical": spherical_path}


def resample_trajectory(frames, n_frames: int) -> np.ndarray:
    """Stretch a trajectory ``(m, d)`` to ``n_frames`` rows by linear interpolation in time.

    Row ``k`` of the result is the trajectory at relative time ``k / (n_frames - 1)``
    of its whole duration (first and last rows are kept; one row is held constant).
    """
    x = np.asarray(frames, dtype=np.float64)
    if x.ndim != 2 or x.shape[0] == 0:
        raise ValueError(f"a trajectory must be (n_frames, d) with n_frames >= 1, got {x.shape}")
    if int(n_frames) != n_frames or n_frames < 1:
        raise ValueError(f"n_frames must be an integer >= 1, got {n_frames}")
    n_frames = int(n_frames)
    if x.shape[0] == 1:
        return np.repeat(x, n_frames, axis=0)
    source = np.linspace(0.0, 1.0, x.shape[0])
    target = np.linspace(0.0, 1.0, n_frames) if n_frames > 1 else np.zeros(1)
    index = np.clip(np.searchsorted(source, target, side="right") - 1, 0, x.shape[0] - 2)
    w = ((target - source[index]) / (source[index + 1] - source[index]))[:, None]
    return (1.0 - w) * x[index] + w * x[index + 1]


def expressive_path(z_a_frames, z_b_frames, n_frames: int, scale: float = 0.7,
                    kind: str = "spherical", z_a=None, z_b=None) -> np.ndarray:
    """A path between two notes that carries their own frame-by-frame motion.

    Construction (``t_k = k / (n_frames - 1)``, ``k = 0 .. n_frames - 1``):

    1. base path: ``kind`` (``"spherical"`` or ``"linear"``) path of ``n_frames``
       points from ``z_a`` to ``z_b`` — by default the means of the two
       trajectories, or the notes' sustained-frame codes if given;
    2. deviations: each note's per-frame trajectory minus its own mean,
       ``dev_a = A - mean(A)``, stretched to ``n_frames`` rows by
       :func:`resample_trajectory` (the note's whole duration maps onto the whole
       path);
    3. result: ``base_k + scale * ((1 - t_k) dev_a[k] + t_k dev_b[k])``.

    So the path starts with note A's attack (weight 1 on A) and ends with note B's
    decay (weight 1 on B), cross-fading the two motions in between; with
    ``scale = 1`` and mean end points, its first row is A's first frame code and
    its last row B's last frame code. Constant trajectories give the base path.

    Parameters
    ----------
    z_a_frames, z_b_frames : array, (m_a, d) and (m_b, d)
        Per-frame latent codes of the two notes (:func:`note_trajectory`).
    n_frames : int
        Points of the path (>= 2), e.g. ``seconds / transform.hop_seconds``.
    scale : float
        Weight of the notes' own motion (the paper suggests 0.7); 0 gives the base path.
    kind : {"spherical", "linear"}
        Base path.
    z_a, z_b : array, (d,), optional
        End points of the base path (default: the trajectory means).

    Returns
    -------
    np.ndarray, float64, (n_frames, d)
    """
    if kind not in PATHS:
        raise ValueError(f"kind must be one of {', '.join(PATHS)}, got {kind!r}")
    a = np.asarray(z_a_frames, dtype=np.float64)
    b = np.asarray(z_b_frames, dtype=np.float64)
    for name, x in (("z_a_frames", a), ("z_b_frames", b)):
        if x.ndim != 2 or x.shape[0] == 0:
            raise ValueError(f"{name} must be a trajectory (n_frames, d), got shape {x.shape}")
    if a.shape[1] != b.shape[1]:
        raise ValueError(f"trajectories have different latent sizes: {a.shape[1]} and {b.shape[1]}")
    mean_a, mean_b = a.mean(axis=0), b.mean(axis=0)
    start = mean_a if z_a is None else np.asarray(z_a, dtype=np.float64)
    stop = mean_b if z_b is None else np.asarray(z_b, dtype=np.float64)
    if start.shape != mean_a.shape or stop.shape != mean_b.shape:
        raise ValueError(f"z_a / z_b must have shape ({a.shape[1]},), got {start.shape} and {stop.shape}")
    base = PATHS[kind](start, stop, n_frames)
    t = np.linspace(0.0, 1.0, int(n_frames))[:, None]
    dev_a = resample_trajectory(a - mean_a, n_frames)
    dev_b = resample_trajectory(b - mean_b, n_frames)
    return base + float(scale) * ((1.0 - t) * dev_a + t * dev_b)


def note_trajectory(space, audio, sample_rate: int | None = None,
                    top_db: float | None = 60.0) -> np.ndarray:
    """Per-frame latent codes ``(n_frames, d)`` of a whole note (for :func:`expressive_path`).

    Every frame of the note's transform (:func:`vts.dsp.note_frames`) is
    encoded (posterior means). With ``top_db``, leading and trailing frames whose
    energy is more than ``top_db`` dB under the loudest frame are dropped, so that
    silence around the note does not stretch the trajectory.

    Parameters
    ----------
    space : TimbreSpace-like
    audio : path or array
        A sound file (resampled to the transform's rate) or a mono signal.
    sample_rate : int, optional
        Rate (Hz) of array input (default: ``config.SAMPLE_RATE``).
    top_db : float or None
        Trimming threshold in dB (None: keep every frame).
    """
    tr = space.transform
    mag = np.asarray(note_frames(as_signal(audio, sample_rate), tr), dtype=np.float64)
    if top_db is not None:
        energy = 10.0 * np.log10(np.maximum((mag ** 2).sum(axis=0), 1e-20))
        keep = np.flatnonzero(energy >= energy.max() - float(top_db))
        mag = mag[:, keep[0]:keep[-1] + 1]
    return np.atleast_2d(space.encode_magnitude(mag))


# -- spectra and sounds of paths --------------------------------------------------------
def _as_path(path) -> np.ndarray:
    p = np.asarray(path, dtype=np.float64)
    if p.ndim == 1:
        p = p[None, :]
    if p.ndim != 2 or p.shape[0] == 0:
        raise ValueError(f"a latent path must be (n_points, d), got shape {p.shape}")
    return p


def path_spectra(space, path) -> np.ndarray:
    """Decoded linear magnitudes of every point of a path: ``(n_points, d)`` -> ``(n_points, n_bins)``."""
    p = _as_path(path)
    mags = np.asarray(space.decode_magnitude(p.astype(np.float32)), dtype=np.float64)
    return mags.reshape(p.shape[0], -1)


def path_descriptors(space, path) -> dict[str, np.ndarray]:
    """Every descriptor (:data:`vts.dsp.descriptors.DESCRIPTORS`) of each decoded point of a path."""
    return compute_all(path_spectra(space, path), space.transform.frequencies)


def path_frames(path, n_frames: int, mode: str = "glide") -> np.ndarray:
    """Latent code of each of ``n_frames`` sound frames that move along ``path``.

    ``mode="glide"``: piecewise-linear interpolation between consecutive path
    points, spread evenly over the frames (first frame on the first point, last on
    the last). ``mode="steps"``: each point held for an equal share of the frames.

    Returns
    -------
    np.ndarray, float64, (n_frames, d)
    """
    p = _as_path(path)
    if mode == "glide":
        return resample_trajectory(p, n_frames)
    if mode == "steps":
        if int(n_frames) != n_frames or n_frames < 1:
            raise ValueError(f"n_frames must be an integer >= 1, got {n_frames}")
        index = np.floor(np.linspace(0, p.shape[0], int(n_frames), endpoint=False)).astype(int)
        return p[np.minimum(index, p.shape[0] - 1)]
    raise ValueError(f"mode must be 'glide' or 'steps', got {mode!r}")


def path_audio(space, path, seconds: float | None = None, *, seconds_per_point: float | None = None,
               mode: str = "glide", method: str = "griffin-lim", n_iter: int = N_ITER,
               seed: int = config.DEFAULT_SEED, renderer=None) -> np.ndarray:
    """One sound whose frames move along a latent path.

    Every frame of the sound (one per transform hop) gets its own code from
    :func:`path_frames` (``mode``), so the timbre changes continuously; the
    codes are decoded and rendered by :func:`vts.dsp.render`.

    Parameters
    ----------
    space : TimbreSpace
    path : array, (n_points, d)
    seconds : float, optional
        Total duration (s). Give exactly one of ``seconds`` and ``seconds_per_point``.
    seconds_per_point : float, optional
        Duration per path point (s): total = ``n_points * seconds_per_point``.
    mode : {"glide", "steps"}
    method, n_iter, seed, renderer
        Passed to :func:`vts.dsp.render`.

    Returns
    -------
    np.ndarray, float32, (round(total * sample_rate),)
    """
    p = _as_path(path)
    if (seconds is None) == (seconds_per_point is None):
        raise ValueError("give exactly one of seconds and seconds_per_point")
    total = float(seconds) if seconds is not None else float(seconds_per_point) * p.shape[0]
    if not total > 0:
        raise ValueError(f"duration must be > 0 s, got {total}")
    tr = space.transform
    n_frames = int(tr.n_frames(max(1, round(total * tr.sample_rate))))
    frames = path_frames(p, n_frames, mode)
    return render(space.decode_magnitude(frames.astype(np.float32)), tr, total, method=method,
                  n_iter=n_iter, seed=seed, renderer=renderer)


def spectral_distance(spec_a, spec_b, top_db: float = 80.0, per_frame: bool = False):
    """Mean log-spectral distance (dB) between two magnitude sequences.

    Per frame: ``sqrt(mean_k (20 log10 a_k - 20 log10 b_k)^2)`` (RMS over bins of the
    level difference); the result is the mean over frames. Levels are floored at
    ``top_db`` dB under the loudest bin of both sequences, so near-silent bins do
    not dominate. Scaling one sequence by 2 gives 6.02 dB.

    Parameters
    ----------
    spec_a, spec_b : array, (n, n_bins) or (n_bins,)
        Linear magnitudes of the same shape (e.g. :func:`path_spectra` of a linear
        and a spherical path).
    top_db : float
        Dynamic range (dB) kept below the overall maximum.
    per_frame : bool
        Return the ``(n,)`` per-frame distances instead of their mean.
    """
    a = np.atleast_2d(np.asarray(spec_a, dtype=np.float64))
    b = np.atleast_2d(np.asarray(spec_b, dtype=np.float64))
    if a.shape != b.shape or a.ndim != 2:
        raise ValueError(f"spectra must have the same shape (n, n_bins), got {np.shape(spec_a)} "
                         f"and {np.shape(spec_b)}")
    if np.any(a < 0) or np.any(b < 0) or not (np.all(np.isfinite(a)) and np.all(np.isfinite(b))):
        raise ValueError("spectra must be finite, non-negative linear magnitudes")
    db_a = to_db(a, -400.0)
    db_b = to_db(b, -400.0)
    floor = max(db_a.max(), db_b.max()) - float(top_db)
    diff = np.maximum(db_a, floor) - np.maximum(db_b, floor)
    distances = np.sqrt(np.mean(diff ** 2, axis=1))
    return distances if per_frame else float(distances.mean())


# -- descriptor topology on PCA planes ----------------------------------------------
def pca_scale(space) -> np.ndarray:
    """Per-axis scale ``(3,)`` that maps the unit cube [-1, 1]^3 onto the data's PCA extent.

    Scaled coordinate 1 on an axis is the largest absolute PCA coordinate of the
    training codes on that axis, so the planes at +-0.75 cut through the data and
    the [-1, 1] grid spans its bounding box. PCA coordinates = scaled coordinates x
    this scale.
    """
    coords = np.atleast_2d(np.asarray(space.to_pca(space.codes("train")), dtype=np.float64))
    if coords.shape[1] != 3:
        raise ValueError(f"the space's PCA has {coords.shape[1]} components, the planes need 3")
    scale = np.max(np.abs(coords), axis=0)
    if not np.all(np.isfinite(scale)) or np.any(scale < 0):
        raise ValueError(f"invalid PCA scale {scale}")
    return np.where(scale > 0, scale, 1.0)


def plane_grid(axis: int, positions=config.PLANE_POSITIONS, n: int = config.GRID_SIZE,
               extent: float = 1.0) -> np.ndarray:
    """Scaled PCA coordinates of the paper's sampling planes.

    Parameters
    ----------
    axis : {0, 1, 2}
        PCA axis held fixed on each plane (0 = X, 1 = Y, 2 = Z).
    positions : sequence of float
        Value of ``axis`` on each plane (scaled units, see :func:`pca_scale`).
    n : int
        Grid points per side.
    extent : float
        The grid covers ``[-extent, extent]`` on the two other axes.

    Returns
    -------
    np.ndarray, float64, (len(positions), n, n, 3)
        ``out[p, i, j, axis] = positions[p]``; with ``(u, v)`` the two other axes
        in increasing order, ``out[p, i, j, u] = g[i]`` and ``out[p, i, j, v] = g[j]``
        where ``g = linspace(-extent, extent, n)`` (rows follow ``u``, columns ``v``).
    """
    if axis not in (0, 1, 2):
        raise ValueError(f"axis must be 0, 1 or 2, got {axis!r}")
    if int(n) != n or n < 2:
        raise ValueError(f"n must be an integer >= 2, got {n}")
    if not extent > 0:
        raise ValueError(f"extent must be > 0, got {extent}")
    pos = np.asarray(positions, dtype=np.float64).reshape(-1)
    if pos.size == 0:
        raise ValueError("positions is empty")
    u, v = [k for k in range(3) if k != axis]
    g = np.linspace(-float(extent), float(extent), int(n))
    rows, cols = np.meshgrid(g, g, indexing="ij")
    out = np.empty((pos.size, int(n), int(n), 3))
    out[..., axis] = pos[:, None, None]
    out[..., u] = rows
    out[..., v] = cols
    return out


def descriptor_topology(space, axis: int, positions=config.PLANE_POSITIONS, n: int = config.GRID_SIZE,
                        extent: float = 1.0, batch_size: int = 4096, scale=None,
                        progress: bool = False) -> dict[str, np.ndarray]:
    """Descriptors of the spectra decoded on the PCA planes of :func:`plane_grid`.

    The scaled grid is multiplied by ``scale`` (default :func:`pca_scale`), mapped
    back to latent codes by ``space.from_pca``, decoded in batches of
    ``batch_size`` and described by :func:`vts.dsp.descriptors.compute_all`.

    Returns
    -------
    dict[str, np.ndarray]
        ``{descriptor: (len(positions), n, n)}`` for every name in
        :data:`vts.dsp.descriptors.DESCRIPTORS`, indexed as :func:`plane_grid`.
    """
    if int(batch_size) != batch_size or batch_size < 1:
        raise ValueError(f"batch_size must be an integer >= 1, got {batch_size}")
    grid = plane_grid(axis, positions, n, extent)
    factor = pca_scale(space) if scale is None else np.broadcast_to(
        np.asarray(scale, dtype=np.float64), (3,))
    coords = grid.reshape(-1, 3) * factor
    frequencies = space.transform.frequencies
    out = {name: np.empty(coords.shape[0]) for name in DESCRIPTORS}
    starts = range(0, coords.shape[0], int(batch_size))
    if progress:

        starts = tqdm(starts, desc=f"planes along PCA axis {axis}", unit="batch")
    for start in starts:
        stop = start + int(batch_size)
        z = np.atleast_2d(space.from_pca(coords[start:stop]))
        values = compute_all(path_spectra(space, z), frequencies)
        for name in DESCRIPTORS:
            out[name][start:stop] = values[name]
    return {name: values.reshape(grid.shape[:3]) for name, values in out.items()}


# -- Algorithm 1: descriptor-based synthesis ----------------------------------------------
def descending_curve(start: float, stop: float, n: int) -> np.ndarray:
    """Linearly descending target ``(n,)`` from ``start`` to ``stop`` (``start >= stop``)."""
    if int(n) != n or n < 2:
        raise ValueError(f"n must be an integer >= 2, got {n}")
    if start < stop:
        raise ValueError(f"a descending curve needs start >= stop, got {start} < {stop}")
    return np.linspace(float(start), float(stop), int(n))


def log_curve(start: float, stop: float, n: int, curvature: float = 9.0) -> np.ndarray:
    """Log-shaped target ``(n,)`` from ``start`` to ``stop``: fast change first, then flattening.

    ``start + (stop - start) * log(1 + c x) / log(1 + c)`` for ``x = linspace(0, 1, n)``
    and ``c = curvature`` (> 0; the default 9 gives ``log10(1 + 9x)``). Ascending when
    ``stop > start`` (the paper's bandwidth target).
    """
    if int(n) != n or n < 2:
        raise ValueError(f"n must be an integer >= 2, got {n}")
    if not curvature > 0:
        raise ValueError(f"curvature must be > 0, got {curvature}")
    x = np.linspace(0.0, 1.0, int(n))
    shape = np.log1p(curvature * x) / np.log1p(curvature)
    out = float(start) + (float(stop) - float(start)) * shape
    out[0], out[-1] = start, stop
    return out


@dataclass
class DescriptorPath:
    """Result of :func:`descriptor_synthesis`.

    Attributes
    ----------
    descriptor : str
    latents : np.ndarray, (n_steps + 1, d)
        The path; row 0 is the origin.
    values : np.ndarray, (n_steps + 1,)
        Achieved descriptor value of each decoded point (descriptor units).
    targets : np.ndarray, (n_steps + 1,)
        Absolute target of each point (for relative curves, shifted so that
        ``targets[0]`` is the origin's value).
    spectra : np.ndarray, (n_steps + 1, n_bins)
        Decoded linear magnitudes of the path.
    relative : bool
        Whether the target curve was given relative to the origin.
    """

    descriptor: str
    latents: np.ndarray
    values: np.ndarray
    targets: np.ndarray
    spectra: np.ndarray
    relative: bool = True

    @property
    def errors(self) -> np.ndarray:
        """Achieved minus target, per point ``(n_steps + 1,)`` (descriptor units)."""
        return self.values - self.targets

    @property
    def step_errors(self) -> np.ndarray:
        """Errors of the searched points ``(n_steps,)`` (the origin is fixed, not searched)."""
        return self.errors[1:]

    @property
    def rmse(self) -> float:
        """Root-mean-square error over the searched points (descriptor units)."""
        return float(np.sqrt(np.mean(self.step_errors ** 2)))

    @property
    def max_error(self) -> float:
        """Largest absolute error over the searched points (descriptor units)."""
        return float(np.max(np.abs(self.step_errors)))

    @property
    def n_steps(self) -> int:
        return int(self.latents.shape[0] - 1)

    def table(self):
        """A :class:`pandas.DataFrame` with one row per point: step, target, value, error."""

        return pd.DataFrame({"step": np.arange(self.n_steps + 1), "target": self.targets,
                             "value": self.values, "error": self.errors})


def _directions(rng, n: int, d: int, basis) -> np.ndarray:
    """``n`` random unit directions in R^d: isotropic, or Gaussian combinations of ``basis`` rows."""
    if basis is None:
        g = rng.standard_normal((n, d))
    else:
        g = rng.standard_normal((n, basis.shape[0])) @ basis
    norms = np.linalg.norm(g, axis=1, keepdims=True)
    return g / np.where(norms > 0, norms, 1.0)


def _candidate_basis(space, basis, d: int) -> np.ndarray | None:
    if basis is None:
        return None
    if isinstance(basis, str):
        if basis != "data":
            raise ValueError(f"basis must be None, 'data' or an array (k, d), got {basis!r}")
        codes = np.asarray(space.codes("train"), dtype=np.float64)
        centred = codes - codes.mean(axis=0)
        # Rows s_i v_i of the SVD: Gaussian combinations follow the data covariance.
        _, s, vt = np.linalg.svd(centred, full_matrices=False)
        return (s[:, None] * vt) / np.sqrt(max(codes.shape[0] - 1, 1))
    b = np.atleast_2d(np.asarray(basis, dtype=np.float64))
    if b.ndim != 2 or b.shape[1] != d:
        raise ValueError(f"basis must be (k, {d}), got shape {b.shape}")
    return b


def descriptor_synthesis(space, z_origin, target_curve, descriptor: str = "centroid",
                         n_steps: int | None = None, n_candidates: int = 64, radius: float = 0.5,
                         seed: int = config.DEFAULT_SEED, relative: bool = True, basis=None,
                         progress: bool = False) -> DescriptorPath:
    """Follow a descriptor curve from an origin code by greedy latent steps (Algorithm 1).

    Targets: ``target_curve`` has one value per path point, point 0 being the
    origin. With ``relative=True`` (default) only its *changes* matter: the
    absolute target of point k is ``d(z_origin) + target_curve[k] - target_curve[0]``,
    so a curve of deltas from 0 and a curve of absolute values with the wanted
    shape give the same path. With ``relative=False`` the values are absolute
    targets (the origin cannot be moved, so its own error is kept in ``errors``).
    With ``n_steps`` the curve is linearly resampled to ``n_steps + 1`` points.

    Step k = 1 .. n_steps: draw ``n_candidates`` neighbours of the current code
    ``z``, ``z + r u`` with ``u`` a random unit direction (isotropic, or from
    ``basis``) and ``r`` uniform in ``[0, radius]``; add ``z`` itself (staying is
    allowed); decode them all in one batch, compute the descriptor and move to the
    candidate whose value is closest to the target of point k — i.e. whose
    descriptor change from the current value best matches the change still
    needed (the current *achieved* value is the reference, so errors do not
    accumulate). Nothing is clipped: when the target cannot be reached, the path
    goes as far as it can and the remaining error is reported in
    :attr:`DescriptorPath.errors` / ``rmse`` / ``max_error``.

    Parameters
    ----------
    space : TimbreSpace-like
        Needs ``decode_magnitude`` and ``transform.frequencies`` (and ``codes`` for
        ``basis="data"``).
    z_origin : array, (d,)
        Starting code (e.g. ``space.encode_audio(clarinet_note)``).
    target_curve : array, (m,), m >= 2
        Descriptor curve (units of the descriptor), see above; e.g.
        :func:`descending_curve` or :func:`log_curve`.
    descriptor : str
        One of :data:`vts.dsp.descriptors.DESCRIPTORS`.
    n_steps : int, optional
        Number of steps (default ``m - 1``).
    n_candidates : int
        Random neighbours per step (>= 1).
    radius : float
        Largest step length (latent units, > 0).
    seed : int
    relative : bool
    basis : None, "data" or array (k, d)
        Candidate directions: isotropic (None); following the covariance of the
        training codes ("data"); or random combinations of the given rows.
    progress : bool
        Show a progress bar.

    Returns
    -------
    DescriptorPath
    """
    if descriptor not in DESCRIPTORS:
        raise ValueError(f"unknown descriptor {descriptor!r}; choose one of {', '.join(DESCRIPTORS)}")
    z0 = np.asarray(z_origin, dtype=np.float64)
    if z0.ndim != 1 or not np.all(np.isfinite(z0)):
        raise ValueError(f"z_origin must be one finite latent code (d,), got shape {z0.shape}")
    curve = np.asarray(target_curve, dtype=np.float64)
    if curve.ndim != 1 or curve.shape[0] < 2 or not np.all(np.isfinite(curve)):
        raise ValueError(f"target_curve must be a finite 1-D curve of >= 2 values, got shape {curve.shape}")
    if n_steps is not None:
        if int(n_steps) != n_steps or n_steps < 1:
            raise ValueError(f"n_steps must be an integer >= 1, got {n_steps}")
        curve = np.interp(np.linspace(0.0, 1.0, int(n_steps) + 1),
                          np.linspace(0.0, 1.0, curve.shape[0]), curve)
    if int(n_candidates) != n_candidates or n_candidates < 1:
        raise ValueError(f"n_candidates must be an integer >= 1, got {n_candidates}")
    if not radius > 0:
        raise ValueError(f"radius must be > 0 (latent units), got {radius}")
    d = z0.shape[0]
    directions_basis = _candidate_basis(space, basis, d)
    frequencies = space.transform.frequencies
    rng = np.random.default_rng(seed)

    spectrum0 = path_spectra(space, z0)[0]
    value0 = float(compute(descriptor, spectrum0, frequencies))
    if not np.isfinite(value0):
        raise ValueError(f"the origin's {descriptor} is undefined (silent decoded spectrum)")
    targets = value0 + (curve - curve[0]) if relative else curve.copy()

    latents, values, spectra = [z0], [value0], [spectrum0]
    steps = range(1, curve.shape[0])
    if progress:

        steps = tqdm(steps, desc=f"{descriptor} synthesis", unit="step")
    z, value, spectrum = z0, value0, spectrum0
    for k in steps:
        u = _directions(rng, int(n_candidates), d, directions_basis)
        r = rng.uniform(0.0, float(radius), size=(int(n_candidates), 1))
        candidates = np.vstack([z[None, :], z + r * u])
        mags = path_spectra(space, candidates)
        found = np.asarray(compute(descriptor, mags, frequencies), dtype=np.float64)
        mismatch = np.abs(found - targets[k])
        mismatch[~np.isfinite(mismatch)] = np.inf
        best = int(np.argmin(mismatch))
        if np.isfinite(mismatch[best]):
            z, value, spectrum = candidates[best], float(found[best]), mags[best]
        latents.append(z)
        values.append(value)
        spectra.append(spectrum)
    return DescriptorPath(descriptor=descriptor, latents=np.stack(latents),
                          values=np.asarray(values), targets=targets,
                          spectra=np.stack(spectra), relative=bool(relative))
