"""Agreement between a representation's distances and listeners' dissimilarities.

A listening study gives a matrix ``L`` of mean dissimilarity ratings between
its ``n`` stimuli; a representation gives one point per stimulus and hence a
distance matrix ``M`` (:func:`distance_matrix`). Agreement is measured as:

* **whole matrix** -- Spearman / Pearson correlation over the
  ``n (n - 1) / 2`` stimulus pairs (upper triangle), with a Mantel
  permutation test (:func:`mantel_test`) and a stimulus bootstrap
  (:func:`bootstrap_whole_matrix`);
* **per anchor** -- the protocol of Tian et al. (ISMIR 2025): both matrices
  are min-max normalised, then for each stimulus ``i`` (the anchor) the
  Spearman correlation between its ``n - 1`` model distances and its
  ``n - 1`` listener dissimilarities (:func:`per_anchor`). Scores of several
  studies are pooled over anchors (:func:`pooled_per_anchor`) and summarised
  with a bootstrap interval (:func:`bootstrap_ci`);
* **pairs of pairs** -- the share of pair comparisons ("is a-b more
  dissimilar than c-d?") that the model orders like the listeners
  (:func:`triplet_agreement`).

:func:`study_scores` pools all three over several studies, with bootstrap
intervals over stimuli.

Beyond points compared by a fixed metric, :func:`gaussian_distance_matrix`
compares the encoder's posteriors (Bhattacharyya, symmetric KL).
:func:`study_folds` gives the leave-one-study-out folds (studies that share
stimuli or listeners leave together) of anything learnt from ratings
(:mod:`vts.learned_metric`).

Conventions: square matrices are ``(n, n)``, symmetric, zero diagonal, finite,
``n >= 3``; points are ``(n, d)``, one row per stimulus. Every public function
validates its input and raises :class:`ValueError` naming the problem.
"""
from __future__ import annotations

import warnings
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
from scipy.stats import rankdata

#: Distances :func:`distance_matrix` computes.
METRICS = ("cosine", "euclidean")
#: Permutations of the Mantel test; bootstrap draws of the intervals (over stimuli).
N_PERMUTATIONS = 9999
N_BOOT = 1000
#: Leave-one-study-out groups: studies sharing stimuli or listeners leave together.
#: A study not listed here is its own group.
STUDY_GROUPS: dict[str, tuple[str, ...]] = {
    "Grey": ("Grey1977", "Grey1978"),
    "Iverson1993": ("Iverson1993_Onset", "Iverson1993_Remainder", "Iverson1993_Whole"),
    "Lakatos2000": ("Lakatos2000_Comb", "Lakatos2000_Harm", "Lakatos2000_Perc"),
}
_MIN_STIMULI = 3
_CHUNK = 2000          # permutations evaluated at once by mantel_test
_TOLERANCE = 1e-10     # a permuted statistic this close to the observed one counts as >=


# --------------------------------------------------------------------------- validation
def check_distance_matrix(matrix, what: str) -> np.ndarray:
    """``matrix`` as float64 after checking it is a valid (n, n) distance matrix."""
    m = np.asarray(matrix, dtype=np.float64)
    if m.ndim != 2 or m.shape[0] != m.shape[1]:
        raise ValueError(f"{what} must be a square (n, n) matrix, got shape {m.shape}")
    if not np.isfinite(m).all():
        raise ValueError(f"{what} contains NaN or infinite values")
    if len(m) < _MIN_STIMULI:
        raise ValueError(f"{what} needs at least {_MIN_STIMULI} stimuli, got {len(m)}")
    scale = max(1.0, float(np.abs(m).max()))
    if not np.allclose(m, m.T, rtol=0.0, atol=1e-9 * scale):
        raise ValueError(f"{what} is not symmetric")
    if np.abs(np.diag(m)).max() > 1e-9 * scale:
        raise ValueError(f"{what} has a non-zero diagonal")
    return m


def _pair(model_d, listener_d) -> tuple[np.ndarray, np.ndarray]:
    m = check_distance_matrix(model_d, "model_d")
    l_ = check_distance_matrix(listener_d, "listener_d")
    if m.shape != l_.shape:
        raise ValueError(f"size mismatch: model_d is {m.shape}, listener_d is {l_.shape}")
    return m, l_


def _positive_int(value, what: str) -> int:
    if isinstance(value, bool) or int(value) != value or value < 1:
        raise ValueError(f"{what} must be a positive integer, got {value!r}")
    return int(value)


def _pearson_rows(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Pearson correlation along the last axis; NaN where either side is constant."""
    a = a - a.mean(axis=-1, keepdims=True)
    b = b - b.mean(axis=-1, keepdims=True)
    na, nb = np.linalg.norm(a, axis=-1), np.linalg.norm(b, axis=-1)
    ok = (na > 1e-12 * max(1.0, float(np.abs(a).max(initial=0.0)))) & \
         (nb > 1e-12 * max(1.0, float(np.abs(b).max(initial=0.0))))
    r = np.full(na.shape, np.nan)
    np.divide(np.sum(a * b, axis=-1), na * nb, out=r, where=ok)
    return np.where(ok, np.clip(r, -1.0, 1.0), np.nan)


def _rank(x: np.ndarray) -> np.ndarray:
    """Ranks of a 1-D array, ties given their average rank (as ``rankdata``, faster)."""
    order = np.argsort(x, kind="mergesort")
    xs = x[order]
    bounds = np.flatnonzero(np.concatenate(([True], xs[1:] != xs[:-1], [True])))
    ranks = np.empty(len(x))
    ranks[order] = np.repeat((bounds[:-1] + bounds[1:] + 1) / 2, np.diff(bounds))
    return ranks


# --------------------------------------------------------------------------- matrices
def distance_matrix(points, metric: str = "cosine") -> np.ndarray:
    r"""Pairwise distances between the rows of ``points``.

    Parameters
    ----------
    points : array-like, shape (n, d)
        One row per stimulus, ``n >= 3``, finite.
    metric : {"cosine", "euclidean"}
        ``cosine``: :math:`1 - \frac{x_i \cdot x_j}{\|x_i\| \|x_j\|}` in
        ``[0, 2]``, blind to a point's norm (a zero row raises ValueError: its
        direction is undefined); ``euclidean``: :math:`\|x_i - x_j\|_2`.

    Returns
    -------
    np.ndarray, shape (n, n)
        Symmetric, exactly zero diagonal.
    """
    p = np.asarray(points, dtype=np.float64)
    if p.ndim != 2:
        raise ValueError(f"points must have shape (n, d), got {p.shape}")
    if not np.isfinite(p).all():
        raise ValueError("points contain NaN or infinite values")
    if len(p) < _MIN_STIMULI:
        raise ValueError(f"points needs at least {_MIN_STIMULI} stimuli, got {len(p)}")
    if metric == "cosine":
        norms = np.linalg.norm(p, axis=1)
        zero = np.flatnonzero(norms == 0)
        if zero.size:
            raise ValueError(f"cosine distance is undefined for zero vectors (rows {zero.tolist()})")
        u = p / norms[:, None]
        d = np.clip(1.0 - u @ u.T, 0.0, 2.0)
    elif metric == "euclidean":
        d = np.sqrt(np.sum((p[:, None, :] - p[None, :, :]) ** 2, axis=-1))
    else:
        raise ValueError(f"metric must be one of {METRICS}, got {metric!r}")
    d = (d + d.T) / 2
    np.fill_diagonal(d, 0.0)
    return d


def minmax_normalise(matrix) -> np.ndarray:
    r"""Map the off-diagonal entries affinely onto ``[0, 1]``.

    :math:`\tilde D_{ij} = (D_{ij} - \min) / (\max - \min)` over ``i != j``;
    the diagonal stays 0. Makes matrices of different units comparable
    without changing any ranking. A constant matrix raises ValueError: it
    carries no ranking.
    """
    m = check_distance_matrix(matrix, "matrix")
    off = m[~np.eye(len(m), dtype=bool)]
    lo, hi = float(off.min()), float(off.max())
    if hi - lo <= 1e-12 * max(1.0, abs(hi)):
        raise ValueError("matrix is constant off the diagonal and carries no ranking")
    out = (m - lo) / (hi - lo)
    np.fill_diagonal(out, 0.0)
    return out


# --------------------------------------------------------------------------- whole matrix
def whole_matrix(model_d, listener_d) -> dict[str, float]:
    r"""Spearman and Pearson correlation over the ``n (n - 1) / 2`` upper-triangle pairs.

    :math:`\rho = \mathrm{corr}(\mathrm{rank}(m), \mathrm{rank}(l))` and
    :math:`r = \mathrm{corr}(m, l)` with ``m``, ``l`` the condensed matrices.

    Returns ``{"spearman": float, "pearson": float}``, NaN where either
    matrix is constant off the diagonal.
    """
    m, l_ = _pair(model_d, listener_d)
    iu = np.triu_indices(len(m), 1)
    a, b = m[iu], l_[iu]
    return {"spearman": float(_pearson_rows(_rank(a), _rank(b))),
            "pearson": float(_pearson_rows(a, b))}


@dataclass(frozen=True)
class MantelResult:
    """Outcome of :func:`mantel_test`.

    ``statistic``: correlation of the condensed matrices (NaN if one is
    constant); ``p_value``: ``(1 + count) / (1 + n_permutations)`` (NaN with
    the statistic); ``n_permutations``: permutations drawn.
    """

    statistic: float
    p_value: float
    n_permutations: int


def mantel_test(x, y, n_permutations: int = N_PERMUTATIONS, method: str = "spearman",
                seed: int = 0) -> MantelResult:
    r"""One-sided Mantel permutation test of the agreement of two distance matrices.

    The statistic is the correlation of the upper triangles. Pairs sharing a
    stimulus are not independent, so the null distribution is built by
    relabelling the stimuli: rows and columns of ``y`` are permuted jointly,
    :math:`y^\pi_{ij} = y_{\pi(i)\pi(j)}`. With ``count`` the permutations whose
    statistic is :math:`\ge` the observed one (larger = more agreement),

    .. math:: p = \frac{1 + \mathrm{count}}{1 + n_\mathrm{permutations}},

    so ``p >= 1 / (1 + n_permutations)``. Permutations are drawn uniformly
    with replacement (the identity may occur), which keeps the test exact.
    They are evaluated in chunks as one matrix product; ranks of a permuted
    matrix are the permuted ranks, so Spearman costs the same as Pearson.

    ``method`` is ``"spearman"`` or ``"pearson"``; the same ``seed`` and
    ``n`` give the same permutations.
    """
    x, y = _pair(x, y)
    if method not in ("spearman", "pearson"):
        raise ValueError(f"method must be 'spearman' or 'pearson', got {method!r}")
    n_permutations, n = _positive_int(n_permutations, "n_permutations"), len(x)
    iu = np.triu_indices(n, 1)
    a, b = x[iu], y[iu]
    if method == "spearman":
        a, b = rankdata(a), rankdata(b)
    observed = float(_pearson_rows(a, b))
    if np.isnan(observed):
        return MantelResult(float("nan"), float("nan"), n_permutations)
    y_values = np.zeros((n, n))
    y_values[iu] = b
    y_values = y_values + y_values.T
    rng = np.random.default_rng(seed)
    count, done = 0, 0
    while done < n_permutations:
        k = min(_CHUNK, n_permutations - done)
        perms = rng.permuted(np.tile(np.arange(n), (k, 1)), axis=1)
        permuted = y_values[perms[:, iu[0]], perms[:, iu[1]]]          # (k, n_pairs)
        stats = _pearson_rows(permuted, np.broadcast_to(a, permuted.shape))
        count += int(np.sum(stats >= observed - _TOLERANCE))
        done += k
    return MantelResult(observed, (1 + count) / (1 + n_permutations), n_permutations)


# --------------------------------------------------------------------------- per anchor
def per_anchor(model_d, listener_d) -> np.ndarray:
    r"""Per-stimulus Spearman agreement (Tian et al., ISMIR 2025).

    Both matrices are min-max normalised (:func:`minmax_normalise`); then for
    each anchor ``i``

    .. math:: s_i = \rho\big((M_{ij})_{j \ne i}, (L_{ij})_{j \ne i}\big),

    the Spearman correlation of row ``i`` without its diagonal entry. Unlike
    the whole-matrix statistic, it asks whether the model ranks the other
    stimuli like the listeners *from each stimulus' point of view*.

    Returns an array of shape ``(n,)``, NaN for an anchor whose row is
    constant in either matrix (a wholly constant matrix raises ValueError).
    """
    m, l_ = _pair(model_d, listener_d)
    m, l_ = minmax_normalise(m), minmax_normalise(l_)
    n = len(m)
    off = ~np.eye(n, dtype=bool)
    rm = rankdata(m[off].reshape(n, n - 1), axis=1)
    rl = rankdata(l_[off].reshape(n, n - 1), axis=1)
    return _pearson_rows(rm, rl)


def triplet_agreement(model_d, listener_d, margin: float = 0.1) -> float:
    r"""Share of pair comparisons the model orders like the listeners.

    For every two distinct unordered stimulus pairs ``p``, ``q`` whose
    min-max normalised listener dissimilarities differ clearly,
    :math:`|L_p - L_q| > \mathrm{margin}`, the model agrees if
    :math:`\mathrm{sign}(M_p - M_q) = \mathrm{sign}(L_p - L_q)`; a model tie
    (up to rounding) counts 0.5. The margin drops comparisons the listeners
    themselves barely distinguish.

    Returns a float in ``[0, 1]``, NaN if no comparison passes the margin.
    """
    m, l_ = _pair(model_d, listener_d)
    if not np.isfinite(margin) or margin < 0:
        raise ValueError(f"margin must be a finite number >= 0, got {margin!r}")
    l_ = minmax_normalise(l_)
    iu = np.triu_indices(len(m), 1)
    return float(_triplet_rows(m[iu][None], l_[iu][None], margin)[0])


@lru_cache(maxsize=64)
def _pair_pairs(n_pairs: int) -> tuple[np.ndarray, np.ndarray]:
    return np.triu_indices(n_pairs, 1)


def _triplet_rows(a: np.ndarray, b: np.ndarray, margin: float) -> np.ndarray:
    """:func:`triplet_agreement` of each row of condensed matrices ``(k, n_pairs)``, ``b``
    min-max normalised here, row by row; NaN where no comparison passes the margin."""
    spread = np.ptp(b, axis=1, keepdims=True)
    b = (b - b.min(axis=1, keepdims=True)) / np.where(spread > 0, spread, 1.0)
    p, q = _pair_pairs(a.shape[1])
    db = b[:, q] - b[:, p]
    keep = np.abs(db) > margin
    dm = a[:, q] - a[:, p]
    tie = np.abs(dm) <= 1e-12 * np.maximum(1.0, np.abs(a).max(axis=1, keepdims=True))
    score = np.where(tie, 0.5, (np.sign(dm) == np.sign(db)).astype(float))
    count = keep.sum(axis=1)
    return np.where(count > 0, (score * keep).sum(axis=1) / np.maximum(count, 1), np.nan)


def pooled_per_anchor(scores: Mapping[str, np.ndarray]) -> float:
    """Mean of every anchor of every study, NaN anchors skipped.

    Studies therefore weigh by their number of (finite) anchors, not equally:
    the pooled score is a mean over stimuli, not a mean of study means.
    """
    if not scores:
        raise ValueError("scores is empty: no study to pool")
    parts = []
    for name, values in scores.items():
        v = np.asarray(values, dtype=np.float64)
        if v.ndim != 1:
            raise ValueError(f"scores[{name!r}] must be 1-D (one value per anchor), got {v.shape}")
        parts.append(v[~np.isnan(v)])
    pooled = np.concatenate(parts)
    if pooled.size == 0:
        raise ValueError("no finite anchor score in any study")
    return float(pooled.mean())


# --------------------------------------------------------------------------- bootstrap
def _check_level(level: float) -> None:
    if not 0 < level < 1:
        raise ValueError(f"level must lie in (0, 1), got {level!r}")


def _percentiles(stats: np.ndarray, level: float) -> tuple[float, float]:
    lo, hi = np.quantile(stats, [(1 - level) / 2, (1 + level) / 2])
    return float(lo), float(hi)


def _unique_draw(rng, n: int) -> np.ndarray:
    return np.unique(rng.integers(0, n, size=n))


@lru_cache(maxsize=32)
def _stimulus_draws(seed: int, sizes: tuple[int, ...], n_boot: int) -> tuple[tuple, ...]:
    """The bootstrap draws of :func:`study_scores`: per study (of ``sizes`` stimuli,
    in order), ``n_boot`` arrays of distinct stimulus indices, from one stream
    seeded by ``seed``. Every representation scored on the same studies meets
    the same draws, so they are made once (read-only)."""
    rng = np.random.default_rng(seed)
    draws = tuple(tuple(_unique_draw(rng, n) for _ in range(n_boot)) for n in sizes)
    for d in (d for study in draws for d in study):
        d.setflags(write=False)
    return draws


def _bootstrap_draws(m: np.ndarray, l_: np.ndarray, draws: Sequence[np.ndarray], spearman: bool,
                     triplet: bool, margin: float) -> tuple[np.ndarray, np.ndarray]:
    """Whole-matrix Spearman and triplet agreement of the sub-matrices of ``draws``
    (arrays of distinct stimulus indices), batched by draw size; NaN where undefined."""
    out_s, out_t = np.full(len(draws), np.nan), np.full(len(draws), np.nan)
    sizes = np.array([len(d) for d in draws])
    for k in np.unique(sizes):
        if k < _MIN_STIMULI:
            continue
        sel = np.flatnonzero(sizes == k)
        index = np.stack([draws[b] for b in sel])
        i, j = np.triu_indices(k, 1)
        a, b = m[index[:, i], index[:, j]], l_[index[:, i], index[:, j]]
        if spearman:
            out_s[sel] = _pearson_rows(rankdata(a, axis=1), rankdata(b, axis=1))
        if triplet:
            out_t[sel] = _triplet_rows(a, b, margin)
    return out_s, out_t


def bootstrap_ci(values, n_boot: int = 2000, level: float = 0.95,
                 seed: int = 0) -> tuple[float, float]:
    """Percentile bootstrap interval of the mean of per-anchor values.

    NaNs are dropped; the remaining ``k`` values are resampled ``k`` at a time
    with replacement ``n_boot`` times, and the ``(1 - level) / 2`` and
    ``(1 + level) / 2`` quantiles of the resampled means are returned.
    Anchors are treated as independent, so the interval is optimistic when
    anchors share a study.
    """
    n_boot = _positive_int(n_boot, "n_boot")
    _check_level(level)
    v = np.asarray(values, dtype=np.float64)
    if v.ndim != 1:
        raise ValueError(f"values must be 1-D, got shape {v.shape}")
    v = v[~np.isnan(v)]
    if v.size == 0:
        raise ValueError("values has no finite entry")
    if not np.isfinite(v).all():
        raise ValueError("values contains infinite entries")
    rng = np.random.default_rng(seed)
    means = v[rng.integers(0, v.size, size=(n_boot, v.size))].mean(axis=1)
    return _percentiles(means, level)


def bootstrap_whole_matrix(model_d, listener_d, n_boot: int = N_BOOT, level: float = 0.95,
                           seed: int = 0) -> tuple[float, float]:
    """Percentile bootstrap interval of the whole-matrix Spearman, resampling stimuli.

    Each of the ``n_boot`` draws takes ``n`` stimuli with replacement and keeps
    the distinct ones (a duplicated stimulus would add zero-distance self
    pairs); the statistic is the Spearman of their upper-triangle pairs.
    Draws with fewer than 3 distinct stimuli, or a constant sub-matrix, are
    skipped.
    """
    n_boot = _positive_int(n_boot, "n_boot")
    _check_level(level)
    m, l_ = _pair(model_d, listener_d)
    stats = _bootstrap_draws(m, l_, _stimulus_draws(int(seed), (len(m),), n_boot)[0],
                             True, False, 0.1)[0]
    stats = stats[np.isfinite(stats)]
    if not stats.size:
        raise ValueError("no bootstrap draw gave a defined Spearman correlation")
    return _percentiles(stats, level)


# --------------------------------------------------------------------------- folds
def study_folds(study_names: Iterable[str]) -> list[tuple[str, list[str]]]:
    """Leave-one-study-out folds in which related studies leave together.

    Studies are grouped by :data:`STUDY_GROUPS` (any other name is its own
    group). Returns ``(group name, held-out study names present)`` per group,
    sorted by group name, the names sorted within a fold; duplicates ignored.
    """
    names = list(study_names)
    if any(not isinstance(s, str) or not s for s in names):
        raise ValueError("study names must be non-empty strings")
    group_of = {s: g for g, members in STUDY_GROUPS.items() for s in members}
    folds: dict[str, set[str]] = {}
    for s in names:
        folds.setdefault(group_of.get(s, s), set()).add(s)
    return [(g, sorted(folds[g])) for g in sorted(folds)]


# --------------------------------------------------------------------------- convenience
def score_study(points, listener_d, metrics: Sequence[str] = METRICS, n_permutations: int = 999,
                seed: int = 0) -> dict[str, dict]:
    """Every agreement statistic of one study's embedded stimuli, per metric.

    Returns
    -------
    dict
        ``{metric: {"per_anchor_mean", "per_anchor", "spearman", "pearson",
        "mantel_p", "triplet"}}``: per-anchor mean (NaN anchors skipped) and
        array, whole-matrix Spearman / Pearson, one-sided Mantel p of the
        Spearman statistic, :func:`triplet_agreement` at its default margin.
    """
    listener, p = check_distance_matrix(listener_d, "listener_d"), np.asarray(points)
    if p.ndim == 2 and len(p) != len(listener):
        raise ValueError(f"size mismatch: {len(p)} points but listener_d is {listener.shape}")
    out = {}
    for metric in metrics:
        d = distance_matrix(p, metric)
        anchors = per_anchor(d, listener)
        finite = anchors[~np.isnan(anchors)]
        whole = whole_matrix(d, listener)
        out[metric] = {
            "per_anchor_mean": float(finite.mean()) if finite.size else float("nan"),
            "per_anchor": anchors,
            "spearman": whole["spearman"],
            "pearson": whole["pearson"],
            "mantel_p": mantel_test(d, listener, n_permutations, "spearman", seed).p_value,
            "triplet": triplet_agreement(d, listener),
        }
    return out


# --------------------------------------------------------------------------- distances between posteriors
#: Distances between diagonal Gaussians :func:`gaussian_distance_matrix` computes.
GAUSSIAN_DISTANCES = ("bhattacharyya", "symmetric-kl")


def gaussian_distance_matrix(means, variances, kind: str = "bhattacharyya") -> np.ndarray:
    r"""Pairwise distances between diagonal Gaussians :math:`\mathcal N(m_i, \mathrm{diag}\, v_i)`.

    ``bhattacharyya``:
    :math:`\frac18 \sum_k \frac{(m_{ik} - m_{jk})^2}{\bar v_k} + \frac12 \sum_k
    \ln \frac{\bar v_k}{\sqrt{v_{ik} v_{jk}}}` with :math:`\bar v = (v_i + v_j) / 2`;
    ``symmetric-kl``: :math:`\frac12 (\mathrm{KL}(i \| j) + \mathrm{KL}(j \| i)) =
    \frac14 \sum_k \big(\frac{v_{ik}}{v_{jk}} + \frac{v_{jk}}{v_{ik}} - 2 + (m_{ik} - m_{jk})^2
    (\frac1{v_{ik}} + \frac1{v_{jk}})\big)`.

    A dimension whose posterior is the prior for every stimulus (same mean,
    same variance) adds nothing; precise dimensions (small variance) weigh
    most. ``means`` and ``variances`` are ``(n, d)``, variances > 0.
    Returns ``(n, n)``, symmetric, zero diagonal.
    """
    m = np.asarray(means, dtype=np.float64)
    v = np.asarray(variances, dtype=np.float64)
    if m.ndim != 2 or m.shape != v.shape:
        raise ValueError(f"means and variances must both be (n, d), got {m.shape} and {v.shape}")
    if len(m) < _MIN_STIMULI:
        raise ValueError(f"need at least {_MIN_STIMULI} stimuli, got {len(m)}")
    if not (np.isfinite(m).all() and np.isfinite(v).all()) or (v <= 0).any():
        raise ValueError("means must be finite and variances finite and > 0")
    dm2 = (m[:, None, :] - m[None, :, :]) ** 2
    vi, vj = v[:, None, :], v[None, :, :]
    if kind == "bhattacharyya":
        vbar = (vi + vj) / 2
        d = np.sum(dm2 / vbar, axis=-1) / 8 + 0.5 * np.sum(
            np.log(vbar) - 0.5 * (np.log(vi) + np.log(vj)), axis=-1)
    elif kind == "symmetric-kl":
        d = 0.25 * np.sum(vi / vj + vj / vi - 2 + dm2 * (1 / vi + 1 / vj), axis=-1)
    else:
        raise ValueError(f"kind must be one of {GAUSSIAN_DISTANCES}, got {kind!r}")
    d = np.maximum((d + d.T) / 2, 0.0)
    np.fill_diagonal(d, 0.0)
    return d


# --------------------------------------------------------------------------- pooled over studies
def study_scores(model_ds: Mapping[str, np.ndarray], listener_ds: Mapping[str, np.ndarray],
                 n_boot: int = N_BOOT, level: float = 0.95, seed: int = 0,
                 protocol: str = "both", margin: float = 0.1) -> dict:
    """Agreement of one representation with the listeners of several studies, with intervals.

    Parameters
    ----------
    model_ds, listener_ds : mapping
        Study name -> the representation's distance matrix / the listeners'
        matrix (same keys).
    n_boot, level, seed
        Bootstrap over stimuli: per draw, each study's stimuli are resampled
        with replacement (distinct ones kept, at least 3) and the pooled
        statistics recomputed on the sub-matrices. For the per-anchor score
        the anchors are resampled (:func:`bootstrap_ci` on the pooled anchors).
    protocol : {"both", "per-anchor", "whole-matrix"}
        ``per-anchor`` computes the per-anchor score and the triplet
        agreement; ``whole-matrix`` the Spearman / Pearson means; the others
        are NaN. A study whose model matrix is constant (it ranks nothing) gets
        NaN statistics and is left out of the means.

    Returns
    -------
    dict
        ``per_anchor`` (pooled over every anchor: studies weigh by their
        stimuli), ``per_anchor_lo/hi``; ``spearman`` / ``pearson`` (mean of the
        studies' whole-matrix correlations), ``spearman_lo/hi``; ``triplet``
        (mean over studies), ``triplet_lo/hi``; ``n_studies``, ``n_stimuli``;
        and ``studies``: name -> dict of that study's ``per_anchor`` (mean),
        ``spearman``, ``pearson``, ``triplet``.
    """
    if protocol not in ("both", "per-anchor", "whole-matrix"):
        raise ValueError(f"protocol must be both, per-anchor or whole-matrix, got {protocol!r}")
    if set(model_ds) != set(listener_ds) or not model_ds:
        raise ValueError("model_ds and listener_ds must name the same, non-empty set of studies")
    nan = float("nan")
    names = list(model_ds)
    pairs = {s: _pair(model_ds[s], listener_ds[s]) for s in names}
    anchor_part = protocol in ("both", "per-anchor")
    whole_part = protocol in ("both", "whole-matrix")
    studies, anchors = {}, {}
    for s, (m, l_) in pairs.items():
        row = {"per_anchor": nan, "spearman": nan, "pearson": nan, "triplet": nan}
        if np.ptp(m[np.triu_indices(len(m), 1)]) == 0:      # a constant model ranks nothing
            anchors[s] = np.full(len(m), np.nan)
            studies[s] = row
            continue
        if anchor_part:
            anchors[s] = per_anchor(m, l_)
            finite = anchors[s][~np.isnan(anchors[s])]
            row["per_anchor"] = float(finite.mean()) if finite.size else nan
            row["triplet"] = triplet_agreement(m, l_, margin)
        if whole_part:
            row.update(whole_matrix(m, l_))
        studies[s] = row
    out = {"n_studies": len(names), "n_stimuli": int(sum(len(m) for m, _ in pairs.values())),
           "studies": studies}
    for key in ("per_anchor", "spearman", "pearson", "triplet"):
        out[key] = out[f"{key}_lo"] = out[f"{key}_hi"] = nan
    out.pop("pearson_lo"), out.pop("pearson_hi")
    if anchor_part:
        pooled = np.concatenate([anchors[s] for s in names])
        if np.isfinite(pooled).any():
            out["per_anchor"] = pooled_per_anchor(anchors)
            out["per_anchor_lo"], out["per_anchor_hi"] = bootstrap_ci(pooled, n_boot, level, seed)
        out["triplet"] = float(np.nanmean([studies[s]["triplet"] for s in names]))
    if whole_part:
        out["spearman"] = float(np.nanmean([studies[s]["spearman"] for s in names]))
        out["pearson"] = float(np.nanmean([studies[s]["pearson"] for s in names]))
    n_boot = _positive_int(n_boot, "n_boot")
    _check_level(level)
    study_draws = _stimulus_draws(int(seed), tuple(len(pairs[s][0]) for s in names), n_boot)
    spear = np.full((len(names), n_boot), np.nan)
    trip = np.full((len(names), n_boot), np.nan)
    for k, s in enumerate(names):
        m, l_ = pairs[s]
        draws = study_draws[k]
        if np.isnan(studies[s]["per_anchor"]) and np.isnan(studies[s]["spearman"]):
            continue
        spear[k], trip[k] = _bootstrap_draws(m, l_, draws, whole_part, anchor_part, margin)
    with warnings.catch_warnings():                # an all-NaN draw (mean of nothing)
        warnings.simplefilter("ignore", RuntimeWarning)
        draws = {"spearman": np.nanmean(spear, axis=0), "triplet": np.nanmean(trip, axis=0)}
    draws = {k: v[np.isfinite(v)] for k, v in draws.items()}
    for key in ("spearman", "triplet"):
        if draws[key].size:
            out[f"{key}_lo"], out[f"{key}_hi"] = _percentiles(np.asarray(draws[key]), level)
    return out
