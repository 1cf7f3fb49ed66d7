"""Paths through a timbre space and their sounds: linear, spherical and expressive
interpolation, the notes' own trajectories, the spectra and audio along a path.

Every function works with any ``space`` object that offers the
:class:`vts.space.TimbreSpace` interface it needs:

- ``decode_magnitude(z)``: codes ``(n, d)`` -> linear magnitudes ``(n, n_bins)``;
- ``transform``: with ``frequencies`` (``(n_bins,)``, Hz), ``hop_seconds``,
  ``sample_rate`` and ``n_frames(length)`` (a :class:`vts.dsp.Transform`);
- ``encode_magnitude`` for :func:`note_trajectory`.

Shapes: a latent point is ``(d,)``, a path ``(n_points, d)``; spectra are rows
``(n_points, n_bins)`` of linear magnitudes (frames as rows, as
:mod:`vts.dsp.descriptors` expects); PCA coordinates are ``(..., 3)``.
"""
from __future__ import annotations

import numpy as np

from . import config
from .dsp import note_frames
from .dsp.descriptors import compute_all
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
    return np.atleast_2d(space.encode_magnitude(mag.T))


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
