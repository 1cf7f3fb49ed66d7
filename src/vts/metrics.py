"""How good a trained space is: reconstruction, fit to the perceptual target, and Table 1.

:func:`evaluate_space` computes every metric of one space on its held-out notes
(written to the space's ``metrics.json``); :func:`write_table1` gathers the
spaces of a models folder into the paper's Table 1, with the paper's values
beside ours.
"""
from __future__ import annotations

import functools
import math
import os
import warnings
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from scipy.stats import pearsonr, spearmanr
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import silhouette_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from threadpoolctl import threadpool_limits

from . import config as cfg
from . import perception
from .agreement import distance_matrix, whole_matrix
from .data import note_labels, note_pitches, pitch_bands
from .instruments import family
from .io import atomic_path, read_json
from .profiles import IWAE_SAMPLES
from .regularizers import (
    NOTE_KINDS,
    SIGMA,
    SPACE_KINDS,
    class_centroids,
    perceptual_regularizer,
    regularizer_floor,
)
from .space import TimbreSpace, space_kind, write_csv
from .stimuli import embed_stimuli, load_study_audio

#: Held-out notes a class needs to enter ``spearman_test_wellsampled``.
MIN_TEST_NOTES = 5


# -- metrics ---------------------------------------------------------------------
def _upper_pairs(names: Sequence[str]) -> list[tuple[str, str]]:
    return [(a, b) for i, a in enumerate(names) for b in names[i + 1:]]


def centroid_correlations(codes: np.ndarray, labels: Sequence[str],
                          dissimilarity: pd.DataFrame) -> dict:
    """Spearman / Pearson correlation of latent centroid distances with perceptual ones.

    Parameters
    ----------
    codes : (n, d) latent codes; labels : n perceptual labels ('' = unrated).
    dissimilarity : square DataFrame of perceptual dissimilarities (0..1)
        indexed and columned by class name.

    Returns
    -------
    dict with ``spearman``, ``pearson`` and ``n_pairs`` (pairs of classes
    present in both), NaN correlations below 3 pairs.
    """
    labels = np.asarray(labels, dtype=str)
    names = [str(c) for c in dissimilarity.index if str(c) in set(labels)]
    if len(names) < 2:
        return {"spearman": float("nan"), "pearson": float("nan"), "n_pairs": 0}
    cents = class_centroids(torch.from_numpy(np.asarray(codes, np.float64)), labels, names).numpy()
    pos = {n: i for i, n in enumerate(names)}
    pairs = _upper_pairs(names)
    latent = np.array([np.linalg.norm(cents[pos[a]] - cents[pos[b]]) for a, b in pairs])
    percept = np.array([float(dissimilarity.loc[a, b]) for a, b in pairs])
    if len(pairs) < 3:
        return {"spearman": float("nan"), "pearson": float("nan"), "n_pairs": len(pairs)}
    return {"spearman": float(spearmanr(latent, percept).statistic),
            "pearson": float(pearsonr(latent, percept).statistic), "n_pairs": len(pairs)}


def banded_centroid_correlations(codes: np.ndarray, labels: Sequence[str], pitches,
                                 dissimilarity: pd.DataFrame, band_semitones: int = 12,
                                 min_notes: int = 3, min_classes: int = 4) -> pd.DataFrame:
    """:func:`centroid_correlations` within each pitch band.

    The class centroids of the paper's metric average every instrument over
    its whole range; this asks whether the layout also holds among notes of
    about the same pitch (what a listening test with equal-pitch stimuli hears).

    Parameters
    ----------
    codes : (n, d) latent codes; labels : n perceptual labels ('' = unrated).
    pitches : (n,) MIDI pitches (NaN: unknown, left out).
    dissimilarity : square DataFrame of perceptual dissimilarities.
    band_semitones : int
        Band width; band of a note = ``pitch // band_semitones``.
    min_notes, min_classes : int
        A class counts in a band with at least ``min_notes`` notes there; a band
        is scored with at least ``min_classes`` such classes.

    Returns
    -------
    pandas.DataFrame
        One row per scored band: ``band`` (lowest MIDI pitch), ``n_classes``,
        ``spearman``, ``pearson``, ``n_pairs``.
    """
    labels = np.asarray(labels, dtype=str)
    rated = np.isin(labels, [str(c) for c in dissimilarity.index])
    bands = np.where(rated, pitch_bands(pitches, band_semitones), -1)
    rows = []
    for band in np.unique(bands[bands >= 0]):
        in_band = bands == band
        names, counts = np.unique(labels[in_band], return_counts=True)
        keep = in_band & np.isin(labels, names[counts >= min_notes])
        if (counts >= min_notes).sum() < min_classes:
            continue
        corr = centroid_correlations(np.asarray(codes)[keep], labels[keep], dissimilarity)
        rows.append({"band": int(band) * band_semitones,
                     "n_classes": int((counts >= min_notes).sum()), **corr})
    return pd.DataFrame(rows, columns=["band", "n_classes", "spearman", "pearson", "n_pairs"])


def class_regularizer(codes: np.ndarray, labels: Sequence[str], target: pd.DataFrame,
                      sigma: float | None = None) -> tuple[float, float]:
    """R(z, T) on the class centroids of ``codes`` and its floor, as ``(R, floor)`` (nats)."""
    sigma = SIGMA if sigma is None else sigma
    labels = [str(l) for l in labels]
    names = [str(n) for n in target.index if str(n) in set(labels)]
    r = perceptual_regularizer(torch.from_numpy(np.asarray(codes, np.float64)), labels,
                               target, sigma)
    return float(r), regularizer_floor(target.loc[names].to_numpy(np.float64))


def linear_probe_accuracy(train_codes, train_labels, test_codes, test_labels,
                          seed: int = 0) -> float:
    """Instrument accuracy of a logistic regression fitted on train codes, scored on test codes."""

    train_labels = np.asarray(train_labels, dtype=str)
    if len(set(train_labels)) < 2 or len(test_labels) == 0:
        return float("nan")
    clf = make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000, random_state=seed))
    # One BLAS thread: small matrices, and spinning BLAS threads on shared cores
    # made this fit 10-30x slower.
    with threadpool_limits(1):
        clf.fit(np.asarray(train_codes, np.float64), train_labels)
        return float(clf.score(np.asarray(test_codes, np.float64),
                               np.asarray(test_labels, dtype=str)))


def silhouettes(space: TimbreSpace, codes: np.ndarray, labels, max_notes: int = 4000,
                seed: int = 0) -> dict:
    """Silhouette of the instruments among ``codes`` (Euclidean), in the full latent
    space and in the space's 3-D PCA view; 1 = tight, separate groups, 0 = one
    cloud. At most ``max_notes`` notes (a seeded subsample) enter."""
    labels = np.asarray(labels, dtype=str)
    keep = labels != ""
    codes, labels = np.asarray(codes, dtype=np.float64)[keep], labels[keep]
    if len(set(labels)) < 2:
        return {"silhouette": float("nan"), "silhouette_pca": float("nan")}
    if len(codes) > max_notes:
        pick = np.random.default_rng(seed).choice(len(codes), max_notes, replace=False)
        codes, labels = codes[pick], labels[pick]
    return {"silhouette": float(silhouette_score(codes, labels)),
            "silhouette_pca": float(silhouette_score(space.to_pca(codes), labels))}


def nearest_centroid_accuracy(train_codes, train_labels, test_codes, test_labels) -> float:
    """Share of test notes whose nearest training centroid (Euclidean) is their own instrument."""
    train_labels = np.asarray(train_labels, dtype=str)
    test_labels = np.asarray(test_labels, dtype=str)
    names = sorted(set(train_labels) - {""})
    keep = np.isin(test_labels, names)
    if not names or not keep.any():
        return float("nan")
    cents = np.stack([np.asarray(train_codes)[train_labels == n].mean(0) for n in names])
    d = np.linalg.norm(np.asarray(test_codes)[keep][:, None, :] - cents[None], axis=-1)
    return float(np.mean(np.asarray(names)[d.argmin(1)] == test_labels[keep]))


def family_distances(space: TimbreSpace, codes: np.ndarray, labels: Sequence[str]) -> pd.DataFrame:
    """How far each novel instrument's centroid lands from the instrument families of a space.

    Distances are Euclidean in the full latent space between the novel
    instrument's mean code and the training centroids, also given relative to
    the median distance between training centroids (``*_rel``), so that spaces
    of different scales compare.

    Returns
    -------
    DataFrame, one row per novel instrument
        ``instrument, family, seen_in_training, nearest_instrument,
        nearest_family, nearest_distance(_rel), own_family_instrument,
        own_family_distance(_rel), own_family_rank`` (1 = the nearest training
        instrument is of its own family), ``family_match``.
    """
    cents = space.centroids
    c = cents.to_numpy(np.float64)
    pair = np.linalg.norm(c[:, None] - c[None], axis=-1)
    scale = float(np.median(pair[np.triu_indices(len(c), 1)])) if len(c) > 1 else 1.0
    trained = set(space.instruments)
    rows = []
    labels = np.asarray([str(x) for x in labels])
    for name in sorted(set(labels)):
        centre = np.asarray(codes)[labels == name].mean(axis=0)
        others = [i for i in cents.index if i != name]
        d = pd.Series(np.linalg.norm(cents.loc[others].to_numpy(np.float64) - centre, axis=1),
                      index=others).sort_values()
        fam = family(name)
        same = [i for i in d.index if family(i) == fam]
        rank = (list(map(family, d.index)).index(fam) + 1) if same else np.nan
        rows.append({"instrument": name, "family": fam, "seen_in_training": name in trained,
                     "nearest_instrument": d.index[0], "nearest_family": family(d.index[0]),
                     "nearest_distance": float(d.iloc[0]),
                     "nearest_distance_rel": float(d.iloc[0]) / scale,
                     "own_family_instrument": same[0] if same else "",
                     "own_family_distance": float(d[same[0]]) if same else np.nan,
                     "own_family_distance_rel": float(d[same[0]]) / scale if same else np.nan,
                     "own_family_rank": rank,
                     "family_match": family(d.index[0]) == fam})
    return pd.DataFrame(rows)


def novel_placement(space: TimbreSpace, novel) -> dict:
    """Where the held-out instruments (``novel``: a FeatureSet of notes never trained
    on) land: mean rank of their own family among the training centroids
    (1 = the nearest is of their family, :func:`family_distances`), and each one's
    nearest training instrument (``nearest_<instrument>``)."""
    if novel is None or not len(novel.catalog):
        return {}
    labels = novel.catalog["instrument"].astype(str).to_numpy()
    table = family_distances(space, space.encode_frames(novel.frames), labels)
    out = {"novel_family_rank": float(table["own_family_rank"].mean())}
    out.update({f"nearest_{row.instrument}": row.nearest_instrument for row in table.itertuples()})
    return out


@functools.cache
def _study(study: str):
    return load_study_audio(study)


def listener_agreement(space: TimbreSpace, studies: Sequence[str]) -> dict:
    """Mean over ``studies`` (names or folders) of the whole-matrix Spearman between
    latent distances of the study stimuli (sustained-frame codes) and the listeners'
    dissimilarities (``listeners_spearman``; ``n_studies``); NaN without studies."""
    values = []
    for name in studies:
        study = _study(str(name))
        points, _ = embed_stimuli(space, study.signals, names=study.stimuli)
        values.append(whole_matrix(distance_matrix(points, "euclidean"),
                                   study.dissimilarity)["spearman"])
    return {"listeners_spearman": float(np.nanmean(values)) if values else float("nan"),
            "n_studies": len(values)}


@torch.no_grad()
def evaluate_space(space: TimbreSpace, features, target: pd.DataFrame | None = None,
                   dissimilarity: pd.DataFrame | None = None,
                   iwae_samples: int = IWAE_SAMPLES, seed: int = 0, novel=None,
                   studies: Sequence[str] = ()) -> dict:
    """Test-split metrics of a space (Table 1 and Figure 3 of the paper, plus agreement).

    Parameters
    ----------
    space : TimbreSpace
    features : FeatureSet
        The features the space was trained on (rows are matched by ``note_id``
        against the saved split).
    target : DataFrame, optional
        Perceptual target space T; default: the one saved with the space.
    dissimilarity : DataFrame, optional
        12 x 12 perceptual dissimilarities; default
        :func:`vts.perception.combined_dissimilarity`.
    iwae_samples : int
        K of the importance-sampled log-likelihood bound.

    Returns
    -------
    dict
        ``test_loglik``: IWAE estimate (K = ``iwae_samples``) of log p(x) per
        test frame, nats, in the normalised domain (a lower bound on the true
        log-likelihood; ``test_loglik_per_bin`` divides it by n_bins so that
        transforms compare); ``test_elbo``: single-sample ELBO with beta = 1;
        ``test_mse``: mean over test frames and bins of (x - x_mean)^2 where
        x_mean is the decoding of the posterior mean; ``kl_timbre``: R(z, T) on
        the test-set centroids of the rated classes (``kl_timbre_floor`` its
        minimum possible value, ``kl_timbre_excess`` = R - floor, 0 when the
        spaces agree; ``kl_timbre_train`` / ``kl_timbre_excess_train`` on the
        train centroids);
        ``spearman`` / ``pearson`` (and ``n_pairs``): correlation between the
        Euclidean distances of the instrument centroids of the space (mean code
        of the *training* notes, :attr:`TimbreSpace.centroids`) and the
        perceptual dissimilarities; ``spearman_test`` / ``pearson_test``: the
        same with centroids of the held-out notes only (noisy: the corpus has
        one or two test notes of trumpet and violin);
        ``spearman_test_wellsampled``: the test version restricted to classes
        with at least :data:`MIN_TEST_NOTES` held-out notes;
        ``spearman_octave`` (``n_octaves``): mean over octaves of the
        training-centroid Spearman computed within each octave
        (:func:`banded_centroid_correlations`); ``probe_accuracy``:
        logistic-regression instrument accuracy, trained on train codes, scored
        on test codes; ``silhouette`` / ``silhouette_pca``: silhouette of the
        rated instruments among the training codes, full latent / 3-D PCA
        (:func:`silhouettes`); ``centroid_accuracy``: nearest-centroid accuracy
        of the test notes (:func:`nearest_centroid_accuracy`); with ``novel``,
        the held-out instruments' placement (:func:`novel_placement`);
        ``listeners_spearman``: agreement with the listeners of ``studies``
        (:func:`listener_agreement`).
    """
    if target is None:
        target = space.target
    if dissimilarity is None:
        dissimilarity = perception.combined_dissimilarity()
    if getattr(features, "key", None) and space.config.get("data_key") not in (None, features.key):
        warnings.warn(f"{space.directory}: trained on data {space.config.get('data_key')}, "
                      f"evaluated on {features.key}", stacklevel=2)
    catalog = features.catalog.reset_index(drop=True)
    ids = catalog["note_id"].astype(str).to_numpy()
    split_of = dict(zip(space.split["note_id"].astype(str), space.split["split"].astype(str)))
    split = np.array([split_of.get(i, "") for i in ids])
    test, train = split == "test", split == "train"
    if not test.any():
        raise ValueError(f"{space.directory}: no note of the features is in the test split")
    frames = np.asarray(features.frames, dtype=np.float32)
    labels = note_labels(catalog)
    instruments = catalog["instrument"].astype(str).to_numpy()

    model = space.model
    x = torch.from_numpy(frames[test]).to(space.device)
    gen = torch.Generator().manual_seed(seed)
    loglik = model.iwae_log_likelihood(x, k=iwae_samples, generator=gen)
    mu, logvar = model.encode(x)
    eps = torch.randn(mu.shape, generator=gen).to(mu)
    out = model.forward(x, eps)
    elbo = model.log_likelihood(x, out.x_mean) - model.kl_divergence(mu, logvar)
    mse = float(((model.decode(mu) - x) ** 2).mean())
    z_test = mu.cpu().numpy().astype(np.float64)
    z_train = space.encode_frames(frames[train]).astype(np.float64)

    r_test, floor = class_regularizer(z_test, labels[test], target)
    r_train, _ = class_regularizer(z_train, labels[train], target)
    corr_test = centroid_correlations(z_test, labels[test], dissimilarity)
    corr_train = centroid_correlations(z_train, labels[train], dissimilarity)
    test_labels = labels[test]
    names, counts = np.unique(test_labels, return_counts=True)
    well = set(names[counts >= MIN_TEST_NOTES]) - {""}
    keep = np.isin(test_labels, list(well))
    corr_well = centroid_correlations(z_test[keep], test_labels[keep], dissimilarity)
    bands = banded_centroid_correlations(z_train, labels[train], note_pitches(catalog)[train],
                                         dissimilarity)
    n_bins = frames.shape[1]
    return {
        "model": space.name, "transform": space.transform_name, "regularized": space.regularized,
        "n_train": int(train.sum()), "n_test": int(test.sum()), "n_bins": int(n_bins),
        "iwae_samples": int(iwae_samples),
        "test_loglik": float(loglik.mean()), "test_loglik_per_bin": float(loglik.mean()) / n_bins,
        "test_elbo": float(elbo.mean()), "test_mse": mse,
        "kl_timbre": r_test, "kl_timbre_floor": floor, "kl_timbre_excess": r_test - floor,
        "kl_timbre_train": r_train, "kl_timbre_excess_train": r_train - floor,
        "spearman": corr_train["spearman"], "pearson": corr_train["pearson"],
        "n_pairs": corr_train["n_pairs"],
        "spearman_test": corr_test["spearman"], "pearson_test": corr_test["pearson"],
        "n_pairs_test": corr_test["n_pairs"],
        "spearman_test_wellsampled": corr_well["spearman"],
        "n_pairs_test_wellsampled": corr_well["n_pairs"],
        "spearman_octave": float(bands["spearman"].mean()) if len(bands) else float("nan"),
        "n_octaves": len(bands),
        "probe_accuracy": linear_probe_accuracy(z_train, instruments[train], z_test,
                                                instruments[test], seed),
        **silhouettes(space, z_train, labels[train], seed=seed),
        "centroid_accuracy": nearest_centroid_accuracy(z_train, labels[train], z_test,
                                                       labels[test]),
        **novel_placement(space, novel),
        **listener_agreement(space, studies),
    }


# -- Table 1 ------------------------------------------------------------------------
#: Values printed in Esling et al. (2018), DAFx, as restated in PAPER.md:
#: Table 1 (test set, unregularised): log p(x) and mean ||x - x~||^2; Figure 3:
#: KL fit of latent to timbre distances (regularised, vanilla). The paper's
#: Figure 3 "NSGT" does not say which NSGT scale; it is shown beside ours.
PAPER_RESULTS = pd.DataFrame(
    [
        # transform, paper label, log p(x), MSE, Figure-3 KL regularised, vanilla
        ("nsgt-erb", "NSGT-ERB", -2.9212, 0.1511, 2.811, 517.42),
        ("nsgt-cqt", "NSGT-CQT", -2.8723, 0.1610, 2.811, 517.42),
        ("nsgt-mel", "NSGT-MEL", -2.9184, 0.1602, 2.811, 517.42),
        ("stft", "STFT", -1.9237, 0.2412, 423.45, 834.15),
        ("dct", "DCT (diverged)", 4.3415, 2.2629, 312.89, 981.24),
    ],
    columns=["transform", "paper_label", "paper_loglik", "paper_mse", "paper_kl_regularized",
             "paper_kl_vanilla"],
).set_index("transform")
#: The paper's unlabelled "NSGT unregularised" Table 1 row (log p(x), MSE).
PAPER_NSGT_ROW = (-2.3443, 0.1593)

TABLE1_COLUMNS = ["model", "transform", "kind", "regularized", "profile", "test_loglik",
                  "test_mse", "kl_timbre", "silhouette", "silhouette_pca", "centroid_accuracy",
                  "novel_family_rank", "nearest_bass-clarinet", "nearest_contrabassoon",
                  "listeners_spearman",
                  "spearman", "pearson", "probe_accuracy", "kl_timbre_excess", "kl_timbre_floor",
                  "kl_timbre_train", "kl_timbre_excess_train", "spearman_test", "pearson_test",
                  "spearman_test_wellsampled", "spearman_octave",
                  "test_loglik_per_bin", "test_elbo",
                  "n_pairs", "n_train", "n_test", "n_bins"]


def collect_metrics(models_root: str | os.PathLike) -> pd.DataFrame:
    """One row per complete trained space under ``models_root`` (its ``metrics.json``);
    listener spaces (a vanilla model with a distance recipe) are left out.

    Beside the metrics: ``model``, ``transform``, ``regularized``, ``kind``,
    ``profile``, ``alpha`` and, for the note-level kinds, the regulariser's
    choices ``dims`` (e.g. ``"all"``, ``"first 8"``), ``within`` and
    ``per_class`` (notes per instrument of R's class-balanced draw, 0: the
    minibatch), :class:`vts.profiles.TrainConfig`."""
    root = Path(models_root)
    rows = []
    for d in sorted(p for p in root.iterdir() if p.is_dir()) if root.is_dir() else []:
        if not (d / "metrics.json").is_file() or not (d / "config.json").is_file():
            continue
        metrics = read_json(d / "metrics.json")
        config = read_json(d / "config.json")
        kind = space_kind(config)
        if kind == "listener":    # the vanilla model with a distance recipe: scored in
            continue              # notebook 11, not a Table 1 row
        regularized = bool(config.get("regularized", metrics.get("regularized")))
        training = config.get("training", {})
        dims = training.get("reg_dims", "all")
        note_level = regularized and kind in NOTE_KINDS
        metrics.update(model=d.name, transform=config.get("transform", metrics.get("transform")),
                       regularized=regularized, kind=kind,
                       profile=training.get("profile", metrics.get("profile")),
                       alpha=float(training.get("alpha", 0.0)) if regularized else 0.0,
                       dims="" if not note_level else
                       dims if dims == "all" else f"{dims} {training.get('reg_n_dims')}",
                       within=training.get("reg_within", "zero") if note_level else "",
                       per_class=int(training.get("reg_notes_per_class", 0))
                       if note_level and kind != "prior" else 0)
        rows.append(metrics)
    table = pd.DataFrame(rows)
    profiles = sorted({str(p) for p in table.get("profile", pd.Series(dtype=str)).dropna()})
    if len(profiles) > 1:
        raise ValueError(f"{root}: spaces of several profiles ({', '.join(profiles)}) cannot "
                         "share one Table 1; train one profile per models folder")
    for col in TABLE1_COLUMNS:
        if col not in table:
            table[col] = np.nan
    return table[TABLE1_COLUMNS + [c for c in table.columns if c not in TABLE1_COLUMNS]]


def mse_vs_vanilla(table: pd.DataFrame, by: str | None = None) -> pd.Series:
    """Test MSE of every row relative to its vanilla space, ``test_mse / vanilla - 1``.

    ``table`` has ``kind`` and ``test_mse`` (e.g. :func:`collect_metrics`); the
    vanilla space is the ``kind == "vanilla"`` row of the same ``by`` group
    (e.g. ``"seed"``; None: the one vanilla row of the table). Raises
    ValueError if a group has no or several vanilla rows.
    """
    groups = table[by] if by is not None else pd.Series(0, index=table.index)
    vanilla = table["kind"] == "vanilla"
    counts = groups[vanilla].value_counts()
    missing = sorted(set(groups) - set(counts.index), key=str)
    doubled = sorted(counts.index[counts > 1], key=str)
    if missing or doubled:
        raise ValueError(f"need one vanilla space per {by or 'table'}; none for {missing}, "
                         f"several for {doubled}")
    reference = pd.Series(table.loc[vanilla, "test_mse"].to_numpy(), index=groups[vanilla])
    return table["test_mse"] / groups.map(reference).to_numpy() - 1.0


def _fmt(v, digits=4) -> str:
    if v is None or (isinstance(v, float) and not math.isfinite(v)):
        return "–"
    if isinstance(v, (bool, np.bool_)):
        return "yes" if v else "no"
    if isinstance(v, (int, np.integer)):
        return str(int(v))
    v = float(v)
    return f"{v:.{digits}g}" if abs(v) >= 1000 else f"{v:.2f}" if abs(v) >= 100 \
        else f"{v:.{digits}f}"


def _pct(v) -> str:
    return "–" if v is None or not np.isfinite(float(v)) else f"{100 * float(v):.0f} %"


def _txt(v) -> str:
    return "–" if v is None or (isinstance(v, float) and math.isnan(v)) else str(v)


def write_table1(models_root: str | os.PathLike | None = None,
                 out_dir: str | os.PathLike | None = None) -> pd.DataFrame:
    """Write ``table1.csv`` and ``table1.md`` (ours beside the paper's values).

    Parameters
    ----------
    models_root : path, default ``config.models_dir()``
        Folder of space directories (``<transform>-<kind>``, :func:`vts.plan.model_name`).
    out_dir : path, default ``config.figures_dir()``

    Returns
    -------
    pandas.DataFrame
        The rows written to ``table1.csv``.
    """

    models_root = Path(models_root) if models_root is not None else cfg.models_dir()
    out_dir = Path(out_dir) if out_dir is not None else cfg.figures_dir()
    table = collect_metrics(models_root)
    if len(table):
        order = {t: i for i, t in enumerate(cfg.TRANSFORMS)}
        kinds = {k: i for i, k in enumerate(SPACE_KINDS)}
        table = table.assign(_o=table["transform"].map(order).fillna(len(order)),
                             _k=table["kind"].map(kinds).fillna(len(kinds)), _m=table["model"])
        table = table.sort_values(["_o", "_k", "_m"]).drop(columns=["_o", "_k", "_m"]) \
            .reset_index(drop=True)
    write_csv(out_dir / "table1.csv", table)

    lines = [
        "# Table 1 and Figure 3: ours (test split) beside Esling et al. (2018)",
        "",
        ("Compare shapes, not absolute numbers: the corpus differs. log p(x): ours = IWAE "
         "estimate (nats per frame, normalised domain); the paper's values are printed as "
         "published (their normalisation and sign convention are not stated). MSE: mean squared "
         "error per bin in the normalised domain. R: the regulariser R(z, T) on the test-set "
         "class centroids; 'R - floor' removes its constant minimum (0 = latent and perceptual "
         "kernels agree), the scale of the paper's Figure 3 values (its 'NSGT' value is shown "
         "beside every NSGT scale). rho: Spearman correlation of instrument-centroid distances "
         "with the listeners' dissimilarities (66 pairs), centroids of the training notes "
         "(space), of the held-out notes (test), and of the held-out notes of the classes "
         f"with at least {MIN_TEST_NOTES} of them (test, well-sampled); 'rho octave': the "
         "space's version computed among the notes of each octave, averaged over octaves. "
         "Kinds: 'class' is the paper's R on class centroids, 'banded' adds it within octaves, "
         "'l2', 'gaussian', 'student' and 'prior' are the released code's regularisers on "
         "every pair of notes (vts.regularizers). Silhouette of the rated instruments among "
         "the training codes (full latent / 3-D PCA; 1 = separate groups, 0 = one cloud); "
         "NC acc.: nearest-centroid accuracy of the test notes; novel rank: mean rank of a "
         "held-out instrument's own family among the training centroids (1 = nearest); "
         "bass cl. / cbsn: nearest training instrument of the held-out bass clarinet and "
         "contrabassoon; listeners: mean Spearman between latent distances of the nine "
         "studies' stimuli and the listeners' dissimilarities."),
        "",
        ("| model | log p(x) ours | log p(x) paper | MSE ours | MSE paper | R - floor "
         "| Fig. 3 paper | rho space | rho test | rho octave | silhouette | silhouette PCA "
         "| NC acc. | novel rank | bass cl. | cbsn | listeners |"),
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for _, row in table.iterrows():
        paper = PAPER_RESULTS.loc[row["transform"]] if row["transform"] in PAPER_RESULTS.index \
            else None
        reg = bool(row["regularized"])
        p_ll = p_mse = p_kl = None
        if paper is not None:
            p_kl = paper["paper_kl_regularized"] if reg else paper["paper_kl_vanilla"]
            if not reg:
                p_ll, p_mse = paper["paper_loglik"], paper["paper_mse"]
        lines.append(
            f"| {row['model']} | {_fmt(row['test_loglik'])} | {_fmt(p_ll)} | "
            f"{_fmt(row['test_mse'])} | {_fmt(p_mse)} | {_fmt(row['kl_timbre_excess'])} | "
            f"{_fmt(p_kl)} | {_fmt(row['spearman'], 3)} | {_fmt(row['spearman_test'], 3)} | "
            f"{_fmt(row['spearman_octave'], 3)} | {_fmt(row['silhouette'], 2)} | "
            f"{_fmt(row['silhouette_pca'], 2)} | {_pct(row['centroid_accuracy'])} | "
            f"{_fmt(row['novel_family_rank'], 2)} | {_txt(row['nearest_bass-clarinet'])} | "
            f"{_txt(row['nearest_contrabassoon'])} | {_fmt(row['listeners_spearman'], 3)} |")
    lines += ["", (f"Paper's unlabelled 'NSGT unregularised' row: log p(x) {PAPER_NSGT_ROW[0]}, "
                   f"MSE {PAPER_NSGT_ROW[1]}."), ""]
    with atomic_path(out_dir / "table1.md") as tmp:
        tmp.write_text("\n".join(lines))
    return table
