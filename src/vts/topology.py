"""Descriptors over a timbre space: their topology on PCA planes and the paper's
Algorithm 1 (a path that follows a descriptor target).

Works with any ``space`` offering what :mod:`vts.paths` needs plus ``to_pca`` /
``from_pca`` and ``codes("train")``. PCA coordinates are ``(..., 3)``; scaled
coordinates map the unit cube onto the data's PCA extent (:func:`pca_scale`).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from . import config
from .dsp.descriptors import DESCRIPTORS, compute, compute_all
from .paths import path_spectra


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
