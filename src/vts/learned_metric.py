"""A diagonal metric learned from listeners' ratings, scored leave-one-study-out.

:func:`fit_diagonal_metric` learns non-negative weights of a diagonal metric
from rated stimuli (ridge regression of the listeners' squared
dissimilarities on squared coordinate differences, or a logistic rank loss on
the per-anchor orderings); :func:`select_ridge` chooses the ridge strength by
an inner leave-one-study-out on the training studies only. Anything learnt
from ratings is scored with :func:`loso`, the leave-one-study-out folds of
:func:`vts.agreement.study_folds` (studies that share stimuli or listeners
leave together). Conventions and validation as in :mod:`vts.agreement`.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
from scipy.optimize import minimize, nnls

from . import agreement as ag

#: Losses :func:`fit_diagonal_metric` minimises.
METRIC_LOSSES = ("ridge", "rank")
#: Ridge strengths tried by :func:`select_ridge` (relative to standardised features).
RIDGE_GRID = (1e-3, 1e-2, 1e-1, 1.0, 10.0)
#: Listener differences below this (min-max units) are not ranked by the ``rank`` loss.
RANK_MARGIN = 0.05


def weighted_points(points, weights) -> np.ndarray:
    r"""Points scaled by the square root of a diagonal metric: :math:`x \odot \sqrt w`.

    The Euclidean distance of the scaled points is
    :math:`\sqrt{\sum_k w_k (x_{ik} - x_{jk})^2}`; their cosine distance is the
    cosine of the re-weighted codes.
    """
    p = np.asarray(points, dtype=np.float64)
    w = np.asarray(weights, dtype=np.float64)
    if p.ndim != 2 or w.shape != (p.shape[1],):
        raise ValueError(f"weights must have shape ({p.shape[-1]},), got {w.shape}")
    if not np.isfinite(w).all() or (w < 0).any():
        raise ValueError("weights must be finite and >= 0")
    return p * np.sqrt(w)


def _check_training(studies) -> list[tuple[np.ndarray, np.ndarray]]:
    pairs = list(studies.values()) if isinstance(studies, Mapping) else list(studies)
    if not pairs:
        raise ValueError("no training study: a metric needs rated stimuli to learn from")
    out, dims = [], set()
    for k, pair in enumerate(pairs):
        x, l_ = pair
        x = np.asarray(x, dtype=np.float64)
        l_ = ag.check_distance_matrix(l_, f"listener matrix {k}")
        if x.ndim != 2 or len(x) != len(l_):
            raise ValueError(f"study {k}: points {x.shape} do not match its {l_.shape} matrix")
        if not np.isfinite(x).all():
            raise ValueError(f"study {k}: points contain NaN or infinite values")
        dims.add(x.shape[1])
        out.append((x, ag.minmax_normalise(l_)))
    if len(dims) != 1:
        raise ValueError(f"studies have points of different dimensions: {sorted(dims)}")
    return out


def _ridge_design(pairs):
    """Squared coordinate differences and squared listener values, centred per study."""
    rows, targets = [], []
    for x, l_ in pairs:
        i, j = np.triu_indices(len(x), 1)
        a = (x[i] - x[j]) ** 2
        b = l_[i, j] ** 2
        rows.append(a - a.mean(axis=0))            # a free intercept per study
        targets.append(b - b.mean())
    return np.vstack(rows), np.concatenate(targets)


def _rank_design(pairs, margin):
    """Per anchor i and pair (j, k) with L_ij > L_ik + margin: Δ²_ij - Δ²_ik (should be > 0)."""
    rows = []
    for x, l_ in pairs:
        n = len(x)
        sq = (x[:, None, :] - x[None, :, :]) ** 2                    # (n, n, d)
        for i in range(n):
            others = np.delete(np.arange(n), i)
            j, k = np.meshgrid(others, others, indexing="ij")
            keep = l_[i, j] > l_[i, k] + margin
            if keep.any():
                rows.append(sq[i, j[keep]] - sq[i, k[keep]])
    return np.vstack(rows) if rows else np.zeros((0, pairs[0][0].shape[1]))


def fit_diagonal_metric(studies, ridge: float = 0.1, loss: str = "ridge",
                        margin: float = RANK_MARGIN) -> np.ndarray:
    r"""Non-negative weights of a diagonal metric learned from rated stimuli.

    Parameters
    ----------
    studies : mapping or sequence of (points, listener_d)
        Per training study its points ``(n, d)`` (one row per stimulus) and the
        listeners' matrix ``(n, n)`` (min-max normalised here, so every study
        counts in the same units).
    ridge : float
        Strength :math:`\lambda \ge 0` of the penalty on the weights of the
        standardised features (each column of the design scaled to unit RMS,
        so :math:`\lambda` does not depend on the units of the points).
    loss : {"ridge", "rank"}
        ``ridge``: least squares of the listeners' squared dissimilarities on
        the squared coordinate differences,
        :math:`\min_{w \ge 0} \sum_{\text{pairs}} (\tilde L_{ij}^2 - c_s -
        \sum_k w_k \Delta_{ijk}^2)^2 + \lambda P \|w\|^2` with a free
        intercept :math:`c_s` per study and ``P`` pairs (solved exactly by
        non-negative least squares on the augmented system).
        ``rank``: for each anchor ``i`` and pair ``(j, k)`` the listeners order
        clearly (:math:`\tilde L_{ij} > \tilde L_{ik} +` ``margin``), the
        logistic loss of :math:`\sum_k w_k (\Delta_{ijk}^2 - \Delta_{ikk}^2)`,
        plus :math:`\lambda \|w\|^2` (L-BFGS-B with bounds :math:`w \ge 0`): the
        per-anchor ordering itself.

    Returns
    -------
    np.ndarray, shape (d,)
        Weights :math:`w_k \ge 0` (use with :func:`weighted_points`). If every
        weight comes out 0 (nothing in the points explains the listeners), the
        uniform metric ``w = 1`` is returned.
    """
    pairs = _check_training(studies)
    if not np.isfinite(ridge) or ridge < 0:
        raise ValueError(f"ridge must be a finite number >= 0, got {ridge!r}")
    if loss == "ridge":
        a, b = _ridge_design(pairs)
    elif loss == "rank":
        a = _rank_design(pairs, margin)
    else:
        raise ValueError(f"loss must be one of {METRIC_LOSSES}, got {loss!r}")
    d = pairs[0][0].shape[1]
    if len(a) == 0:
        return np.ones(d)
    scale = np.sqrt(np.mean(a ** 2, axis=0))
    scale = np.where(scale > 1e-12 * max(1.0, float(scale.max(initial=0.0))), scale, 1.0)
    a = a / scale
    if loss == "ridge":
        aug = np.vstack([a, np.sqrt(ridge * len(a)) * np.eye(d)])
        w, _ = nnls(aug, np.concatenate([b, np.zeros(d)]), maxiter=50 * d)
    else:
        def objective(w):
            s = a @ w
            loss_value = np.mean(np.logaddexp(0.0, -s)) + ridge * (w @ w)
            grad = -(a.T @ (0.5 * (1 - np.tanh(s / 2)))) / len(a) + 2 * ridge * w
            return loss_value, grad

        w = minimize(objective, np.full(d, 1.0 / d), jac=True, method="L-BFGS-B",
                     bounds=[(0.0, None)] * d).x
    w = np.maximum(w, 0.0) / scale
    return w if w.sum() > 0 else np.ones(d)


def metric_distances(points, weights, metric: str = "euclidean") -> np.ndarray:
    """:func:`vts.agreement.distance_matrix` of :func:`weighted_points`."""
    return ag.distance_matrix(weighted_points(points, weights), metric)


def select_ridge(studies: Mapping[str, tuple], grid: Sequence[float] = RIDGE_GRID,
                 loss: str = "ridge", metric: str = "euclidean") -> float:
    """The ridge strength of ``grid`` whose metric ranks held-out studies best.

    Inner leave-one-study-out over ``studies`` (name -> (points, listener_d),
    folds of :func:`vts.agreement.study_folds`): for each strength, fit on the other folds,
    score the pooled per-anchor Spearman of the held-out ones under
    ``metric``; the best mean wins (ties: the strongest ridge). With fewer
    than two folds there is nothing to hold out and the middle of the grid is
    returned. Only ``studies`` are read: called on the training folds of an
    outer split, it never sees the outer held-out study.
    """
    grid = sorted(float(g) for g in grid)
    if not grid:
        raise ValueError("grid is empty")
    folds = ag.study_folds(studies)
    if len(folds) < 2:
        return grid[len(grid) // 2]
    best, best_score = grid[-1], -np.inf
    for ridge in reversed(grid):
        scores = {}
        for _, held in folds:
            train = {s: v for s, v in studies.items() if s not in held}
            w = fit_diagonal_metric(train, ridge, loss)
            for s in held:
                x, l_ = studies[s]
                scores[s] = ag.per_anchor(metric_distances(x, w, metric), l_)
        try:
            score = ag.pooled_per_anchor(scores)
        except ValueError:
            continue
        if score > best_score + 1e-12:
            best, best_score = ridge, score
    return best


def loso(studies: Mapping[str, tuple], fit) -> dict[str, np.ndarray]:
    """Leave-one-study-out predictions of anything that learns from ratings.

    Parameters
    ----------
    studies : mapping
        Study name -> ``(points, listener_d)``.
    fit : callable
        ``fit(train) -> predict``: ``train`` is the mapping restricted to the
        training folds (the held-out fold's studies -- related studies leave
        together, :func:`vts.agreement.study_folds` -- are never in it); ``predict(points)``
        returns the distance matrix of a held-out study's points.

    Returns
    -------
    dict
        Study name -> predicted ``(n, n)`` distance matrix, every study
        predicted by a model that did not see its ratings.
    """
    names = list(studies)
    folds = ag.study_folds(names)
    if len(folds) < 2:
        raise ValueError("leave-one-study-out needs at least two folds of studies, got "
                         f"{[g for g, _ in folds]}")
    out = {}
    for _, held in folds:
        train = {s: studies[s] for s in names if s not in held}
        predict = fit(train)
        for s in held:
            out[s] = ag.check_distance_matrix(predict(studies[s][0]), f"prediction for {s}")
    return {s: out[s] for s in names}


def fit_metric_recipe(points: Mapping[str, np.ndarray], listeners: Mapping[str, np.ndarray],
                      loss: str = "ridge", metric: str = "euclidean",
                      grid: Sequence[float] = RIDGE_GRID) -> tuple[np.ndarray, float]:
    """Weights and ridge strength of a diagonal metric fitted on ``points``' studies:
    the strength by inner leave-one-study-out (:func:`select_ridge`),
    then the weights on all of them."""
    studies = {s: (points[s], listeners[s]) for s in points}
    ridge = select_ridge(studies, grid, loss, metric)
    return fit_diagonal_metric(studies, ridge, loss), ridge


def loso_metric_distances(points: Mapping[str, np.ndarray], listeners: Mapping[str, np.ndarray],
                          loss: str = "ridge", metric: str = "euclidean",
                          grid: Sequence[float] = RIDGE_GRID
                          ) -> tuple[dict[str, np.ndarray], dict[str, float]]:
    """Leave-one-study-out distances of a learned diagonal metric, and the ridge
    strength each fold chose (from its training folds only)."""
    chosen = {}

    def fit(train):
        w, ridge = fit_metric_recipe({s: train[s][0] for s in train},
                                     {s: train[s][1] for s in train}, loss, metric, grid)
        held = sorted(set(points) - set(train))
        chosen.update({s: ridge for s in held})
        return lambda x: metric_distances(x, w, metric)

    d = loso({s: (points[s], listeners[s]) for s in points}, fit)
    return d, chosen
