"""Perceptual regularisers of the latent space, behind one interface.

Class-centroid R (the paper)
----------------------------
:func:`perceptual_regularizer` is the paper's t-SNE-like R(z, T) between the
latent *centroids* ``z_i`` of the rated classes of a batch and their MDS
positions ``T_i``::

    D^z_ij = exp(-||z_i - z_j||^2 / 2 sigma^2) / sum_{k != i} exp(-||z_i - z_k||^2 / 2 sigma^2)
    D^T_ij = (1 + ||T_i - T_j||^2)^-1 / sum_{k != l} (1 + ||T_k - T_l||^2)^-1
    R      = sum_i sum_{j != i} D^z_ij log(D^z_ij / D^T_ij),     sigma = 1/sqrt 2

Its minimum is discussed below. Kinds ``"class"`` and ``"banded"``
use them; the trainer groups the notes itself.

Note-level kinds (the authors' released code)
---------------------------------------------
Every *pair of notes* of a batch is regularised, on the chosen latent
dimensions (:func:`select_dims`), against the normalised instrument x
instrument matrices ``mu`` / ``sigma`` of the rating Gaussians
(:func:`pair_targets`): ``"l2"`` (:func:`l2_penalty`), ``"gaussian"``
(:func:`gaussian_penalty`), ``"student"`` (:func:`student_penalty`) and
``"prior"`` (no extra term: a class-conditional prior in the KL,
:func:`prior_parameters`, :func:`class_prior_kl`). :func:`note_penalty`
dispatches on a :class:`RegularizerSpec`. Notes of no rated instrument
(label -1) enter no penalty (and keep the N(0, I) prior); with fewer than two
rated notes a penalty is ``z.sum() * 0.0`` (zero, graph kept).

Pairs of notes of one instrument
--------------------------------
No listener rated two notes of one instrument (the ratings hold the 66 pairs
of 12 instruments only), yet the released code gives such pairs the target 0,
which pulls every note of an instrument to one point: the encoder becomes a
classifier of the rated instruments. ``within="free"`` (:data:`WITHIN`) leaves
those pairs out of the ``l2`` and ``gaussian`` penalties, which then constrain
only the distances listeners rated; ``within="zero"`` is the released code.

Target scale
------------
Normalised target distances lie in [0, 1], but two independent draws of the
N(0, I_k) prior on the k regularised dimensions lie about ``sqrt(2k)`` apart
(``E||a - b||^2 = 2k``): fitting [0, 1] distances would squeeze the codes far
inside the prior, against the KL term. The l2 and gaussian targets are
therefore multiplied by :func:`target_scale_for` ``(k) = sqrt(2k)``, so that
the target's largest distance equals the prior's typical distance (k = 64:
11.3, near the x10 a probe needed at latent size 64; k = 3: 2.45). The student
kind compares normalised kernels and takes no scale.

The paper's class-centroid R in detail
--------------------------------------
:func:`perceptual_regularizer` implements

    D^z_ij = exp(-||z_i - z_j||^2 / 2 sigma^2) / sum_{k != i} exp(-||z_i - z_k||^2 / 2 sigma^2)
    D^T_ij = (1 + ||T_i - T_j||^2)^-1 / sum_{k != l} (1 + ||T_k - T_l||^2)^-1
    R      = sum_i sum_{j != i} D^z_ij log(D^z_ij / D^T_ij)

exactly as written in the paper, *between instrument classes*: the ``z_i`` are
the latent centroids of the rated classes present in a batch (mean of the
codes of that class's notes), the ``T_i`` the coordinates of the same classes
in the perceptual target space. Notes whose label is ``''`` (or not in the
target) do not enter R.

Because the latent kernel is normalised per row but the target kernel over all
pairs, ``D^z`` can never equal ``D^T`` and R is never 0 for more than one
class. Its exact minimum over the latent configuration is
:func:`regularizer_floor` ``= -sum_i log s_i`` with ``s_i = sum_j D^T_ij``,
reached exactly when every latent row equals the row-normalised target row
``D^T_ij / s_i`` -- i.e. (with sigma = 1/sqrt 2) when the squared latent
distances are ``log(1 + ||T_i - T_j||^2) + c`` for any constant ``c``. A
perfect fit therefore orders latent distances exactly as the perceptual
ones (Spearman 1). Since every row of ``D^z`` sums to 1,

    R = floor + sum_i KL(D^z_i || D^T_i / s_i)

exactly: the paper's R and the "row-normalised target" variant differ by a
constant (same gradient). ``R - floor`` (the *excess*, 0 when the spaces
agree) is what :mod:`vts.space` also reports; its scale is the one to compare
with the paper's Figure 3 values (e.g. 2.811 for the regularised NSGT space,
below our floor of ~30 for 12 classes, so the paper cannot have reported the
formula's raw value).
"""
from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch

#: Paper's bandwidth of the latent Gaussian kernel (2 sigma^2 = 1).
SIGMA = 1.0 / math.sqrt(2.0)
#: Every kind of regulariser; "class"/"banded" use centroids, the others notes.
KINDS = ("class", "banded", "l2", "gaussian", "student", "prior")
#: Kinds computed on every pair of notes (or, ``prior``, in the KL) rather than on centroids.
NOTE_KINDS = ("l2", "gaussian", "student", "prior")
#: Every kind of space in the order of Table 1 and of the plots: vanilla, then :data:`KINDS`.
SPACE_KINDS = ("vanilla", *KINDS)
#: Rules choosing the regularised latent dimensions (:func:`select_dims`).
DIM_RULES = ("all", "first", "lowest", "highest")
#: Targets of pairs of notes of one instrument: 0 (released code) or left out.
WITHIN = ("zero", "free")
#: Label of a note of no rated instrument.
UNRATED = -1
#: Squared latent distances below this are clamped (finite gradient at 0).
DIST_EPS = 1e-12
#: Smallest prior standard deviation s_a of :func:`prior_parameters`.
PRIOR_STD_FLOOR = 1e-2


# -- perceptual regulariser ---------------------------------------------------
def _pairwise_sq(a: torch.Tensor) -> torch.Tensor:
    # Broadcast difference (not cdist): its gradient is defined at distance 0.
    diff = a.unsqueeze(1) - a.unsqueeze(0)
    return (diff ** 2).sum(-1)


def latent_kernel(z: torch.Tensor, sigma: float = SIGMA, log: bool = False) -> torch.Tensor:
    """``D^z`` ``(m, m)``: row-normalised Gaussian kernel of points ``z (m, d)``, self excluded.

    The diagonal is 0 (``-inf`` with ``log=True``).
    """
    m = z.shape[0]
    logits = -_pairwise_sq(z) / (2.0 * sigma ** 2)
    eye = torch.eye(m, dtype=torch.bool, device=z.device)
    logd = torch.log_softmax(logits.masked_fill(eye, float("-inf")), dim=1)
    return logd if log else torch.exp(logd)


def target_kernel(t: torch.Tensor, log: bool = False) -> torch.Tensor:
    """``D^T`` ``(m, m)``: Student-t kernel of points ``t (m, k)``, normalised over all pairs k != l.

    The diagonal is 0 (``-inf`` with ``log=True``).
    """
    m = t.shape[0]
    eye = torch.eye(m, dtype=torch.bool, device=t.device)
    kern = (1.0 / (1.0 + _pairwise_sq(t))).masked_fill(eye, 0.0)
    d = kern / kern.sum()
    return torch.log(d).masked_fill(eye, float("-inf")) if log else d


def regularizer_from_points(z: torch.Tensor, t: torch.Tensor, sigma: float = SIGMA) -> torch.Tensor:
    """R between matched point sets: ``z (m, d)`` latent, ``t (m, k)`` target (scalar tensor)."""
    if z.shape[0] != t.shape[0]:
        raise ValueError(f"{z.shape[0]} latent points but {t.shape[0]} target points")
    if z.shape[0] < 2:
        return z.sum() * 0.0
    t = t.to(z)
    eye = torch.eye(z.shape[0], dtype=torch.bool, device=z.device)
    # The diagonal (-inf logs) is replaced by 0 *before* the product, so that
    # no 0 * inf enters the graph and the gradient stays finite.
    log_dz = latent_kernel(z, sigma, log=True).masked_fill(eye, 0.0)
    log_dt = target_kernel(t, log=True).masked_fill(eye, 0.0)
    terms = torch.exp(log_dz).masked_fill(eye, 0.0) * (log_dz - log_dt)
    return terms.sum()


def regularizer_floor(t: torch.Tensor | np.ndarray) -> float:
    """Smallest value R can take for target points ``t (m, k)``: ``-sum_i log sum_j D^T_ij``."""
    t = torch.tensor(np.array(t, dtype=np.float64))
    if t.shape[0] < 2:
        return 0.0
    return float(-torch.log(target_kernel(t).sum(1)).sum())


def _target_table(target) -> tuple[list[str], np.ndarray]:
    """(names, coordinates (m, k)) of a DataFrame indexed by class name or a name->coords mapping."""
    if hasattr(target, "index") and hasattr(target, "to_numpy"):
        return [str(i) for i in target.index], np.asarray(target.to_numpy(), dtype=np.float64)
    names = list(target)
    return [str(n) for n in names], np.stack([np.asarray(target[n], dtype=np.float64) for n in names])


def class_centroids(z: torch.Tensor, labels: Sequence[str], classes: Sequence[str]) -> torch.Tensor:
    """Mean code of each class in ``classes`` (each must occur in ``labels``): ``(len(classes), d)``."""
    labels = np.asarray(labels, dtype=object)
    member = np.stack([labels == c for c in classes]).astype(np.float32)   # (m, n)
    counts = member.sum(1, keepdims=True)
    if (counts == 0).any():
        missing = [c for c, n in zip(classes, counts[:, 0]) if n == 0]
        raise ValueError(f"no sample of class(es) {missing}")
    weights = torch.as_tensor(member / counts, dtype=z.dtype, device=z.device)
    return weights @ z


def perceptual_regularizer(z: torch.Tensor, labels: Sequence[str], target,
                           sigma: float = SIGMA) -> torch.Tensor:
    """The paper's t-SNE-like regulariser R(z, T) between instrument classes.

    Parameters
    ----------
    z : torch.Tensor, shape (n, latent_dim)
        Codes of a batch of notes (the trainer passes posterior means).
    labels : sequence of str, length n
        Perceptual class of each note; ``''`` or a name absent from ``target``
        means "no rating": the note is ignored.
    target : pandas.DataFrame or mapping
        Perceptual target space T, indexed by class name (rows = classes,
        columns = coordinates), e.g. :func:`vts.perception.timbre_space`.
    sigma : float
        Bandwidth of the latent Gaussian kernel (paper: 1/sqrt 2).

    Returns
    -------
    torch.Tensor
        Scalar R (nats), differentiable w.r.t. ``z``. The classes entering R
        are those of the target present in the batch, in the target's order:
        ``z_i`` = centroid of class i's codes in the batch, ``T_i`` its target
        coordinates. With fewer than two such classes R is 0 (no gradient).
        See the module docstring for the kernels and R's minimum.
    """
    names, coords = _target_table(target)
    if len(labels) != z.shape[0]:
        raise ValueError(f"{len(labels)} labels for {z.shape[0]} codes")
    present = {str(label) for label in labels}
    keep = [i for i, n in enumerate(names) if n and n in present]
    if len(keep) < 2:
        return z.sum() * 0.0
    classes = [names[i] for i in keep]
    centroids = class_centroids(z, labels, classes)
    t = torch.as_tensor(coords[keep], dtype=z.dtype, device=z.device)
    return regularizer_from_points(centroids, t, sigma)


# -- note-level targets -------------------------------------------------------
def pair_targets(pair_summary: pd.DataFrame, classes: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
    """Normalised instrument x instrument matrices ``mu``, ``sigma`` (C, C) of the rating Gaussians.

    ``pair_summary`` is the table of :func:`vts.perception.pair_summary`
    (``instrument_a``, ``instrument_b``, ``mean``, ``std``, ``count``; a pair in
    either order; same-instrument rows and instruments not in ``classes`` are
    ignored). With ``M`` the symmetric raw matrix of means (stds), zero
    diagonal included, each result is ``(M - min M) / max(M - min M)`` (no
    division if 0) with its diagonal reset to 0: float64, symmetric, in
    [0, 1]. For ratings >= 0, ``min M = 0`` and this is the released code's
    ``(M - min M) / max M``. A NaN std (a pair rated once) counts as 0.
    Raises ValueError naming a pair with no rating, or given twice.
    """
    names = [str(c) for c in classes]
    position = {name: k for k, name in enumerate(names)}
    means, stds = np.full((len(names),) * 2, np.nan), np.zeros((len(names),) * 2)
    np.fill_diagonal(means, 0.0)
    rows = pair_summary[["instrument_a", "instrument_b", "mean", "std"]].itertuples(index=False)
    for a, b, mean, std in rows:
        i, j = position.get(str(a)), position.get(str(b))
        if i is None or j is None or i == j:
            continue
        if not np.isnan(means[i, j]):
            raise ValueError(f"the pair {names[i]} / {names[j]} appears twice")
        means[i, j] = means[j, i] = float(mean)
        stds[i, j] = stds[j, i] = 0.0 if pd.isna(std) else float(std)
    if np.isnan(means).any():
        i, j = np.argwhere(np.isnan(means))[0]
        raise ValueError(f"no rating for the pair {names[i]} / {names[j]}")
    out = []
    for m in (means - means.min(), stds - stds.min()):
        m = m / m.max() if m.max() > 0 else m
        np.fill_diagonal(m, 0.0)
        out.append(m)
    return out[0], out[1]


def _rated(labels, device) -> tuple[torch.Tensor, torch.Tensor]:
    """(labels as a long tensor on ``device``, mask of rated notes label >= 0); rejects < -1."""
    labels = torch.as_tensor(labels, device=device).long()
    if labels.dim() != 1 or bool((labels < UNRATED).any()):
        raise ValueError(f"labels must be 1-D and >= {UNRATED} ({UNRATED} = unrated)")
    return labels, labels >= 0


def _matrix(x, like: torch.Tensor) -> torch.Tensor:
    """``x`` (array or tensor) as a tensor of ``like``'s dtype and device, without gradient."""
    return torch.as_tensor(np.asarray(x) if not torch.is_tensor(x) else x).detach().to(like)


def _same_instrument(y: torch.Tensor) -> torch.Tensor:
    """``(n, n)`` mask of the pairs of notes of one instrument (diagonal included)."""
    return y.unsqueeze(1) == y.unsqueeze(0)


def _penalised_pairs(y: torch.Tensor, within: str) -> torch.Tensor | None:
    """The pairs an l2 penalty sums over: all (None) or, ``within="free"``, those
    of two instruments."""
    return ~_same_instrument(y) if within == "free" else None


def note_target(mu: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Target distances ``(n, n)`` of notes: ``mu[y_i, y_j] / max_kl mu[y_k, y_l]``.

    Notes of one instrument have target 0; a batch whose matrix is all 0 (one
    instrument) is returned as zeros. ``labels`` must all be rated (>= 0).
    """
    labels, rated = _rated(labels, mu.device)
    if not bool(rated.all()):
        raise ValueError("note_target needs rated labels only: drop the notes labelled -1 first")
    t = mu[labels][:, labels].masked_fill(_same_instrument(labels), 0.0)
    top = t.max() if t.numel() else t.new_zeros(())
    return t / top if bool(top > 0) else torch.zeros_like(t)


def latent_distances(z: torch.Tensor) -> torch.Tensor:
    """Euclidean distances ``(n, n)`` of codes ``z (n, d)``, with a finite gradient everywhere.

    ``d_ij = sqrt(max(||z_i - z_j||^2, DIST_EPS))`` off the diagonal and exactly
    0 on it: the diagonal is masked (its gradient is 0) and the clamp keeps the
    gradient of the square root finite for coincident distinct notes (zero
    gradient below ``sqrt(DIST_EPS) = 1e-6``). Above that it is the exact distance.
    """
    eye = torch.eye(z.shape[0], dtype=torch.bool, device=z.device)
    return torch.sqrt(_pairwise_sq(z).clamp(min=DIST_EPS)).masked_fill(eye, 0.0)


def _safe_sqrt(s: torch.Tensor) -> torch.Tensor:
    """``sqrt(s)`` for ``s >= 0`` whose gradient at ``s = 0`` is 0 instead of NaN."""
    positive = s > 0
    return torch.where(positive, torch.sqrt(torch.where(positive, s, torch.ones_like(s))),
                       torch.zeros_like(s))


def l2_penalty(z: torch.Tensor, target: torch.Tensor,
               pairs: torch.Tensor | None = None) -> torch.Tensor:
    """``R = sqrt(sum_ij (d^z_ij - d^T_ij)^2)``, Frobenius distance of latent and target distances.

    ``z (n, d)``: codes of rated notes on the regularised dims; ``target (n, n)``:
    ``d^T`` (e.g. ``note_target(mu, y) * scale``); ``pairs (n, n)``: boolean
    mask of the pairs (i, j) in the sum (None: all). R is 0, with a zero
    gradient (not NaN), when the distances match exactly.
    """
    if target.shape != (z.shape[0], z.shape[0]):
        raise ValueError(f"target of shape {tuple(target.shape)} for {z.shape[0]} codes")
    if pairs is not None and pairs.shape != target.shape:
        raise ValueError(f"pairs mask of shape {tuple(pairs.shape)} for {z.shape[0]} codes")
    if z.shape[0] < 2:
        return z.sum() * 0.0
    squares = (latent_distances(z) - target.to(z)) ** 2
    if pairs is not None:
        squares = squares.masked_fill(~pairs.to(squares.device), 0.0)
    return _safe_sqrt(squares.sum())


def gaussian_penalty(z: torch.Tensor, mu, sigma, labels: torch.Tensor,
                     generator: torch.Generator | None = None, scale: float = 1.0,
                     within: str = "zero") -> torch.Tensor:
    """l2 against a target redrawn each call from the rating Gaussians.

    ``T_ij ~ N(mu[y_i, y_j], sigma[y_i, y_j])`` is drawn for ``i < j`` and
    mirrored (0 on the diagonal and between notes of one instrument), clipped
    at 0 (a distance is not negative), divided by its maximum and multiplied by
    ``scale``; ``R = l2_penalty(z, T)``, over the pairs of two instruments only
    if ``within == "free"``. Noise from ``generator`` (global RNG if None);
    notes labelled -1 are dropped first. ``sigma = 0`` gives l2 on
    ``note_target(mu, y) * scale``.
    """
    y, keep = _rated(labels, z.device)
    if int(keep.sum()) < 2:
        return z.sum() * 0.0
    z, y = z[keep], y[keep]
    mu, sigma = _matrix(mu, z), _matrix(sigma, z)
    n = z.shape[0]
    device = generator.device if generator is not None else z.device
    noise = torch.randn((n, n), generator=generator, dtype=z.dtype, device=device).to(z.device)
    draw = (mu[y][:, y] + sigma[y][:, y] * noise).clamp(min=0.0)
    upper = torch.triu(torch.ones(n, n, dtype=torch.bool, device=z.device), diagonal=1)
    draw = draw.masked_fill(~upper, 0.0)
    draw = (draw + draw.T).masked_fill(_same_instrument(y), 0.0)
    top = draw.max()
    target = draw / top * scale if bool(top > 0) else torch.zeros_like(draw)
    return l2_penalty(z, target, _penalised_pairs(y, within))


def student_penalty(z: torch.Tensor, mu, labels: torch.Tensor) -> torch.Tensor:
    """Released code's t-SNE-like note-level R.

    For rated notes ``i != j`` (the diagonal is excluded everywhere)::

        P_ij = exp(-d^z_ij) / sum_{k != j} exp(-d^z_kj)        (per column)
        Q_ij = (1 + t_ij)^-1 / sum_{k != l} (1 + t_kl)^-1       (whole matrix)
        R    = sum_{i != j} P_ij log(P_ij / Q_ij)

    with ``d^z`` the Euclidean latent distances and ``t_ij = mu[y_i, y_j]``
    (0 for one instrument, not rescaled). Each column of P sums to 1 but Q sums
    to 1 overall, so R is not 0 at a perfect fit (as in the paper's R).
    """
    y, keep = _rated(labels, z.device)
    if int(keep.sum()) < 2:
        return z.sum() * 0.0
    z, y = z[keep], y[keep]
    mu = _matrix(mu, z)
    eye = torch.eye(z.shape[0], dtype=torch.bool, device=z.device)
    log_p = torch.log_softmax((-latent_distances(z)).masked_fill(eye, float("-inf")), dim=0)
    log_p = log_p.masked_fill(eye, 0.0)
    t = mu[y][:, y].masked_fill(_same_instrument(y), 0.0)
    q = (1.0 / (1.0 + t)).masked_fill(eye, 0.0)
    log_q = torch.log(q / q.sum()).masked_fill(eye, 0.0)
    return (torch.exp(log_p).masked_fill(eye, 0.0) * (log_p - log_q)).sum()


# -- class-conditional prior --------------------------------------------------
def prior_parameters(positions: np.ndarray, sigma: np.ndarray, dims,
                     latent_dim: int) -> tuple[np.ndarray, np.ndarray]:
    """Means and log-variances of the class-conditional priors N(m_a, s_a^2 I).

    ``m_a`` is instrument a's MDS position ``positions[a] (k,)`` on the
    regularised dimensions ``dims`` (``len(dims) == k``) and 0 elsewhere;
    ``s_a = max(mean_b sigma[a, b], PRIOR_STD_FLOOR)`` (row mean of the
    normalised stds, diagonal included as in the released code) on ``dims``
    and 1 elsewhere. Returns float64 arrays ``(C, latent_dim)``: means and
    ``log s^2``.
    """
    positions = np.atleast_2d(np.asarray(positions, dtype=np.float64))
    sigma = np.asarray(sigma, dtype=np.float64)
    dims = np.asarray(dims, dtype=np.int64).reshape(-1)
    c, k = positions.shape
    if sigma.shape != (c, c):
        raise ValueError(f"sigma of shape {sigma.shape} for {c} instruments")
    if len(set(dims.tolist())) != k or len(dims) != k or not set(dims.tolist()) <= set(range(latent_dim)):
        raise ValueError(f"dims {dims.tolist()}: need {k} distinct dims in 0..{latent_dim - 1}")
    means = np.zeros((c, latent_dim))
    means[:, dims] = positions
    std = np.maximum(sigma.mean(axis=1), PRIOR_STD_FLOOR)
    logvars = np.zeros((c, latent_dim))
    logvars[:, dims] = 2.0 * np.log(std)[:, None]
    return means, logvars


def class_prior_kl(mu: torch.Tensor, logvar: torch.Tensor, labels: torch.Tensor,
                   prior_means, prior_logvars) -> torch.Tensor:
    """Per-note ``KL(N(mu, e^logvar) || N(m_y, e^lv_y))`` summed over dims: ``(n,)``.

    Per dimension ``0.5 * (lv_y - logvar + (e^logvar + (mu - m_y)^2) / e^lv_y - 1)``;
    notes labelled -1 use the standard prior N(0, I) (``m = 0``, ``lv = 0``).
    """
    y, rated = _rated(labels, mu.device)
    y = y.clamp(min=0)
    means, logvars = _matrix(prior_means, mu), _matrix(prior_logvars, mu)
    if bool((y >= means.shape[0]).any()):
        raise ValueError(f"label {int(y.max())} for {means.shape[0]} prior classes")
    m = means[y].masked_fill(~rated.unsqueeze(1), 0.0)
    lv = logvars[y].masked_fill(~rated.unsqueeze(1), 0.0)
    kl = 0.5 * (lv - logvar + (torch.exp(logvar) + (mu - m) ** 2) * torch.exp(-lv) - 1.0)
    return kl.sum(-1)


# -- regularised dimensions and scale ----------------------------------------
def select_dims(codes: np.ndarray, rule: str, k: int) -> np.ndarray:
    """Indices (sorted ascending) of the regularised latent dimensions.

    ``rule``: ``"all"`` (all d, ``k`` ignored), ``"first"`` (0..k-1),
    ``"lowest"`` / ``"highest"`` (the k dims of lowest / highest standard
    deviation over the notes of the posterior means ``codes (n, d)``; ties
    broken by the lower index).
    """
    if rule not in DIM_RULES:
        raise ValueError(f"unknown dims rule {rule!r}; choose one of {DIM_RULES}")
    codes = np.asarray(codes)
    if codes.ndim != 2:
        raise ValueError(f"codes must be (notes, dims), got shape {codes.shape}")
    d = codes.shape[1]
    if rule == "all":
        return np.arange(d)
    if not 1 <= int(k) <= d:
        raise ValueError(f"k={k} regularised dims for rule {rule!r}: need 1 <= k <= {d}")
    if rule == "first":
        return np.arange(int(k))
    spread = codes.std(axis=0)
    order = np.argsort(spread if rule == "lowest" else -spread, kind="stable")
    return np.sort(order[: int(k)])


def target_scale_for(n_dims: int) -> float:
    """``sqrt(2 k)``: typical distance of two N(0, I_k) draws, the scale of [0, 1] targets."""
    if n_dims < 1:
        raise ValueError(f"n_dims must be >= 1, got {n_dims}")
    return math.sqrt(2.0 * n_dims)


# -- one interface ------------------------------------------------------------
@dataclass(frozen=True)
class RegularizerSpec:
    """Which regulariser (``kind`` in :data:`KINDS`), on which dims, with which target scale.

    ``dims`` / ``n_dims``: rule and k of :func:`select_dims` (k >= 1 unless
    ``"all"``). ``scale``: multiplier of the l2/gaussian targets; None means
    :func:`target_scale_for` of the number of regularised dims. ``within``
    (:data:`WITHIN`): pairs of notes of one instrument get the target 0
    (``"zero"``, released code) or stay out of the penalty (``"free"``,
    ``l2`` and ``gaussian`` only).
    """

    kind: str
    dims: str = "all"
    n_dims: int = 0
    scale: float | None = None
    within: str = "zero"

    def __post_init__(self):
        if self.kind not in KINDS:
            raise ValueError(f"unknown regularizer kind {self.kind!r}; choose one of {KINDS}")
        if self.dims not in DIM_RULES:
            raise ValueError(f"unknown dims rule {self.dims!r}; choose one of {DIM_RULES}")
        if self.n_dims < 0 or (self.dims != "all" and self.n_dims < 1):
            raise ValueError(f"n_dims={self.n_dims} for dims={self.dims!r}: need >= 1 unless 'all'")
        if self.scale is not None and not self.scale > 0:
            raise ValueError(f"scale must be > 0 or None, got {self.scale}")
        if self.within not in WITHIN:
            raise ValueError(f"unknown within {self.within!r}; choose one of {WITHIN}")
        if self.within == "free" and self.kind not in ("l2", "gaussian"):
            raise ValueError(f"within='free' applies to the l2 and gaussian kinds, "
                             f"not {self.kind!r}")


def note_penalty(spec: RegularizerSpec, z: torch.Tensor, labels: torch.Tensor, mu, sigma,
                 dims=None, generator: torch.Generator | None = None) -> torch.Tensor:
    """The note-level penalty of ``spec`` for codes ``z (n, d)`` and labels ``(n,)``.

    ``"l2"``, ``"gaussian"`` and ``"student"`` are computed on ``z[:, dims]``
    (all dims if None) over the rated notes (label >= 0), with the target
    scale ``spec.scale`` or ``target_scale_for(len(dims))`` and, for l2 and
    gaussian with ``spec.within == "free"``, the pairs of two instruments only;
    ``"prior"`` adds nothing (0 with graph: its effect lives in
    :func:`class_prior_kl`).

    Raises
    ------
    ValueError
        For ``"class"`` / ``"banded"``: use :func:`perceptual_regularizer`.
    """
    if spec.kind in ("class", "banded"):
        raise ValueError(f"kind {spec.kind!r} is computed between class centroids: "
                         "use perceptual_regularizer")
    if spec.kind == "prior":
        return z.sum() * 0.0
    dims = torch.arange(z.shape[1]) if dims is None else torch.as_tensor(np.asarray(dims)).long()
    zs = z[:, dims.to(z.device)]
    scale = spec.scale if spec.scale is not None else target_scale_for(len(dims))
    y, keep = _rated(labels, z.device)
    if int(keep.sum()) < 2:
        return z.sum() * 0.0
    if spec.kind == "l2":
        y = y[keep]
        return l2_penalty(zs[keep], note_target(_matrix(mu, z), y) * scale,
                          _penalised_pairs(y, spec.within))
    if spec.kind == "gaussian":
        return gaussian_penalty(zs, mu, sigma, labels, generator, scale, spec.within)
    return student_penalty(zs, mu, labels)
