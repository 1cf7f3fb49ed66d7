"""A timbre space against listeners' dissimilarity ratings of *new* sounds.

The paper only checks that class centroids line up with the target the model
was trained towards. Here a space is measured the way audio representations
are measured against published timbre studies (Tian et al., ISMIR 2025):
every stimulus of a study is embedded (:mod:`vts.stimuli`), distances between
the embeddings are compared with the listeners' mean dissimilarities under
both protocols of :mod:`vts.agreement` (whole matrix, per anchor, pairs of
pairs), and the same is done, in the same call and on the same decoded audio,
for baselines. The tables of the results, as text and CSV, are here too.

Representations (:data:`REPRESENTATIONS`)
-----------------------------------------
``latent``
    The space's codes with the chosen pooling, or a listener space's own
    recipe (:func:`vts.listener_space.load_recipe`).
``mfcc``
    Time-averaged MFCC (:func:`vts.stimuli.mfcc_mean`).
``centroid``
    Mean spectral centroid (Hz); one number, so both metrics are its absolute
    difference.
``spectral`` / ``spectral-mean``
    The normalised log-magnitude frame the encoder receives: the sustained
    frame, and the average over the active frames (the space's own input,
    time-averaged: a baseline any listener space must beat).
"""
from __future__ import annotations

import hashlib
import os
import sys
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from . import agreement as ag
from . import config
from . import listener_space as ls
from . import stimuli as st
from .agreement import METRICS, N_BOOT, N_PERMUTATIONS
from .io import atomic_path
from .listener_space import format_interval, mfcc_metric, wins_over_mfcc
from .stimuli import ACTIVE_DB, BASELINES, StudyAudio, load_space, space_identity

#: Every representation :func:`study_alignment` can report.
REPRESENTATIONS = ("latent",) + BASELINES
#: ``protocol`` values of :func:`evaluate` / ``vts evaluate --protocol``.
PROTOCOLS = ("both", "whole-matrix", "per-anchor")
#: Columns of :func:`study_alignment`.
ALIGNMENT_COLUMNS = ["study", "representation", "metric", "spearman", "pearson", "mantel_p",
                     "spearman_lo", "spearman_hi", "per_anchor", "per_anchor_lo",
                     "per_anchor_hi", "triplet", "n_stimuli", "n_pairs", "pooling"]
#: Columns of :func:`evaluate_models` (one row per model x study x representation x metric).
TABLE_COLUMNS = ["model", "study", "representation", "label", "kind", "transform", "regularized",
                 "in_target", "fitted", "metric", "spearman", "pearson", "mantel_p",
                 "spearman_lo", "spearman_hi", "per_anchor", "per_anchor_lo", "per_anchor_hi",
                 "triplet", "n_stimuli", "n_pairs", "pooling"]
#: Columns of :attr:`Evaluation.pooled` (one row per model x representation x metric).
POOLED_COLUMNS = ["model", "representation", "label", "kind", "fitted", "metric", "per_anchor",
                  "per_anchor_lo", "per_anchor_hi", "spearman", "spearman_lo", "spearman_hi",
                  "pearson", "triplet", "triplet_lo", "triplet_hi", "wins_vs_mfcc",
                  "n_studies", "n_stimuli", "pooling"]
#: Columns of :func:`head_to_head`.
HEAD_TO_HEAD_COLUMNS = ["model", "rival", "n_studies", "wins", "mean_difference", "won"]
_LABELS = {"mfcc": "MFCC mean", "centroid": "spectral centroid"}


# --------------------------------------------------------------------------- representations
def representation_distances(space, study: StudyAudio, *, pooling: str | None = None,
                             metrics: Sequence[str] = METRICS,
                             baselines: Iterable[str] = BASELINES,
                             cached: dict | None = None, codes=None,
                             active_db: float = ACTIVE_DB) -> dict[tuple[str, str], np.ndarray]:
    """Distance matrices of a study's stimuli: ``(representation, metric) -> (n, n)``.

    ``latent`` uses ``pooling`` when given, else the space's own recipe
    (:func:`vts.listener_space.load_recipe`); a posterior recipe gives the one metric it has.
    ``cached``: :func:`vts.stimuli.baseline_points` of the study (computed if None);
    ``codes``: :func:`vts.stimuli.encode_study` of it.
    """
    baselines = tuple(baselines)
    unknown = [b for b in baselines if b not in BASELINES]
    if unknown:
        raise ValueError(f"unknown baseline(s) {unknown}; choose from {BASELINES}")
    metrics = _metrics(metrics)
    if codes is None:
        codes = st.encode_study(space, study, active_db)
    recipe = ls.load_recipe(space) if pooling is None else ls.Recipe(pooling=pooling)
    recipe.check()
    out = {}
    if recipe.posterior:
        out[("latent", recipe.metric)] = ls.recipe_distances(codes, recipe)
    else:
        points = ls.recipe_points(codes, recipe)
        for metric in metrics:
            out[("latent", metric)] = st.point_distances(points, metric)
    fixed = [b for b in baselines if b in ("mfcc", "centroid")]
    if fixed and cached is None:
        cached = st.baseline_points(study.signals, config.SAMPLE_RATE, active_db)
    for name in baselines:
        if name in fixed:
            points = cached[name]
        else:
            points = st.pool(codes, "sustained" if name == "spectral" else "mean", "frame")
        for metric in metrics:
            out[(name, metric)] = st.point_distances(points, metric)
    return out


def _metrics(metric) -> tuple[str, ...]:
    if metric is None:
        return METRICS
    metrics = (metric,) if isinstance(metric, str) else tuple(metric)
    bad = [m for m in metrics if m not in METRICS]
    if bad or not metrics:
        raise ValueError(f"metric must be among {METRICS}, got {metric!r}")
    return tuple(dict.fromkeys(metrics))


def _check_protocol(protocol: str) -> str:
    if protocol not in PROTOCOLS:
        raise ValueError(f"protocol must be one of {PROTOCOLS}, got {protocol!r}")
    return protocol


def _matrices_key(*matrices: np.ndarray) -> str:
    """Identity of distance matrices by content: equal matrices score equally."""
    h = hashlib.sha256()
    for d in matrices:
        h.update(np.ascontiguousarray(d).tobytes())
    return h.hexdigest()


def _score_rows(distances: Mapping[tuple[str, str], np.ndarray], study: StudyAudio,
                protocol: str, n_permutations: int, n_boot: int, seed: int,
                pooling: str, memo: dict | None = None) -> pd.DataFrame:
    """One row per representation x metric; ``memo`` keeps the scores of matrices
    already scored (a baseline is the same matrix for every space)."""
    rows, n = [], len(study)
    listener = study.dissimilarity
    memo = {} if memo is None else memo
    for (name, metric), d in distances.items():
        row = {"study": study.name, "representation": name, "metric": metric,
               "n_stimuli": n, "n_pairs": n * (n - 1) // 2, "pooling": pooling}
        if np.ptp(d[np.triu_indices(n, 1)]) == 0:      # no ranking at all: every value NaN
            rows.append(row)
            continue
        key = (study.name, _matrices_key(d))
        if key not in memo:
            scores = ag.study_scores({study.name: d}, {study.name: listener}, n_boot,
                                     seed=seed, protocol=protocol)
            memo[key] = {k: scores[k] for k in ("spearman", "pearson", "spearman_lo",
                                                "spearman_hi", "per_anchor", "per_anchor_lo",
                                                "per_anchor_hi", "triplet")}
            if protocol in ("both", "whole-matrix"):
                memo[key]["mantel_p"] = ag.mantel_test(d, listener, n_permutations, "spearman",
                                                       seed).p_value
        row.update(memo[key])
        rows.append(row)
    return pd.DataFrame(rows).reindex(columns=ALIGNMENT_COLUMNS)


def study_alignment(space, study_dir, *, protocol: str = "both", metric=None,
                    pooling: str | None = "sustained", baselines: Iterable[str] = BASELINES,
                    n_permutations: int = N_PERMUTATIONS, n_boot: int = N_BOOT,
                    seed: int = config.DEFAULT_SEED, active_db: float = ACTIVE_DB
                    ) -> pd.DataFrame:
    """How well distances in ``space`` between a study's stimuli predict its listeners.

    Parameters
    ----------
    space : TimbreSpace or alike
        Needs ``transform``, ``normalize(magnitude)`` and ``encode_frames(frames)``
        (a ``model.encode`` gives the posteriors).
    study_dir : path, study name or StudyAudio
    protocol : {"both", "whole-matrix", "per-anchor"}
        Which statistics to compute (the others are NaN).
    metric : "cosine", "euclidean", a list of them, or None (both)
    pooling : str or None
        How the codes become one point (:data:`vts.stimuli.POOLINGS`); None: the space's
        own recipe.
    baselines : iterable of str
        Any of :data:`vts.stimuli.BASELINES`, computed in the same call on the same audio.
    n_permutations, n_boot, seed
        Mantel permutations (shared by every representation), bootstrap draws
        over stimuli of the intervals, their seed.

    Returns
    -------
    pandas.DataFrame
        One row per representation x metric (``latent`` first), columns
        :data:`ALIGNMENT_COLUMNS`: whole-matrix ``spearman``, ``pearson``,
        one-sided ``mantel_p``, 95 % ``spearman_lo/hi``; ``per_anchor`` (mean
        over this study's anchors) with ``per_anchor_lo/hi``; ``triplet``.
    """
    study = st.load_study_audio(study_dir)
    protocol = _check_protocol(protocol)
    distances = representation_distances(space, study, pooling=pooling, metrics=_metrics(metric),
                                         baselines=baselines, active_db=active_db)
    label = pooling if pooling is not None else ls.load_recipe(space).pooling
    return _score_rows(distances, study, protocol, n_permutations, n_boot, seed, label)


# --------------------------------------------------------------------------- many models
def representation_label(representation: str, model: str, transform: str) -> str:
    """Display name of a row: the model for ``latent``, the baseline otherwise."""
    if representation == "latent":
        return model
    if representation in ("spectral", "spectral-mean"):
        what = "spectral frame" if representation == "spectral" else "spectral frame mean"
        return f"{what} ({transform})" if transform else what
    return _LABELS.get(representation, representation)


@dataclass
class Evaluation:
    """Result of :func:`evaluate`.

    Attributes
    ----------
    table : pandas.DataFrame
        One row per model x study x representation x metric
        (:data:`TABLE_COLUMNS`).
    pooled : pandas.DataFrame
        One row per model x representation x metric over every study
        (:data:`POOLED_COLUMNS`): per-anchor score pooled over all anchors
        (studies weigh by their stimuli), mean whole-matrix Spearman and
        Pearson, mean triplet agreement, 95 % bootstrap intervals over
        stimuli, and ``wins_vs_mfcc``: studies whose whole-matrix Spearman
        beats the time-averaged MFCC's under the same metric. ``fitted``
        (both tables): the model's recipe was fitted on these studies' ratings
        (a listener space scored on its own training studies: in-sample, not
        a test; its honest score is the leave-one-study-out one).
    protocol : str
    """

    table: pd.DataFrame
    pooled: pd.DataFrame
    protocol: str = "both"


def evaluate(model_dirs, study_dirs=None, progress: bool = True, *, protocol: str = "both",
             metric=None, pooling: str | None = None, baselines: Iterable[str] = BASELINES,
             n_permutations: int = N_PERMUTATIONS, n_boot: int = N_BOOT,
             seed: int = config.DEFAULT_SEED, active_db: float = ACTIVE_DB) -> Evaluation:
    """Evaluate several spaces on several studies, with the baselines, both protocols.

    Each study's audio and its model-independent baselines are computed once;
    every model and baseline of a study meets the same Mantel permutations.

    Parameters
    ----------
    model_dirs : path, space, or a list of them
    study_dirs : list of paths / study names / :class:`vts.stimuli.StudyAudio`, optional
        Default: every study of :func:`vts.perception.list_studies`.
    protocol, metric, pooling, baselines, n_permutations, n_boot, seed, active_db
        See :func:`study_alignment`; ``pooling=None`` uses each space's own
        recipe (sustained-frame codes for a plain space).

    Returns
    -------
    Evaluation
    """
    if isinstance(model_dirs, (str, os.PathLike)) or hasattr(model_dirs, "encode_frames"):
        model_dirs = [model_dirs]
    model_dirs = list(model_dirs)
    if not model_dirs:
        raise ValueError("evaluate: no model given")
    protocol, metrics, baselines = _check_protocol(protocol), _metrics(metric), tuple(baselines)
    spaces = [load_space(m) for m in model_dirs]
    studies = st.load_studies(study_dirs)
    frames, per_model, memo = [], {}, {}
    with tqdm(total=len(spaces) * len(studies), desc="evaluate", unit="model×study",
              disable=not progress) as bar:
        for study in studies:
            cached = st.baseline_points(study.signals, config.SAMPLE_RATE, active_db) \
                if any(b in ("mfcc", "centroid") for b in baselines) else None
            for space in spaces:
                name, transform, regularized = space_identity(space)
                bar.set_postfix_str(f"{name} / {study.name}")
                distances = representation_distances(space, study, pooling=pooling,
                                                      metrics=metrics, baselines=baselines,
                                                      cached=cached, active_db=active_db)
                for key, d in distances.items():
                    per_model.setdefault((name, transform) + key, {})[study.name] = d
                label = pooling if pooling is not None else ls.load_recipe(space).pooling
                scored = _score_rows(distances, study, protocol, n_permutations, n_boot, seed,
                                     label, memo)
                scored.insert(0, "model", name)
                scored["transform"] = transform
                scored["regularized"] = regularized
                scored["in_target"] = study.in_target
                scored["fitted"] = (scored["representation"] == "latent") & \
                    (study.name in ls.fitted_studies(space))
                frames.append(scored)
                bar.update(1)
    table = pd.concat(frames, ignore_index=True)
    table["kind"] = np.where(table["representation"] == "latent", "model", "baseline")
    table["label"] = [representation_label(r, m, t) for r, m, t in
                      table[["representation", "model", "transform"]].itertuples(index=False)]
    listeners = {s.name: s.dissimilarity for s in studies}
    pooled = _pooled(per_model, listeners, table, protocol, n_boot, seed)
    return Evaluation(table[TABLE_COLUMNS], pooled, protocol)


def _pooled(per_model: Mapping, listeners: Mapping, table: pd.DataFrame, protocol: str,
            n_boot: int, seed: int) -> pd.DataFrame:
    rows, memo = [], {}
    pooling = table.drop_duplicates("model").set_index("model")["pooling"]
    fitted = table.groupby(["model", "representation"])["fitted"].any()

    def scores(ds, draws, which):      # the same matrices of the same studies score alike
        key = (tuple(ds), _matrices_key(*ds.values()), draws, which)
        if key not in memo:
            memo[key] = ag.study_scores(ds, {k: listeners[k] for k in ds}, draws, seed=seed,
                                        protocol=which)
        return memo[key]

    for (model, transform, representation, metric), ds in per_model.items():
        s = scores(ds, n_boot, protocol)
        mfcc = per_model.get((model, transform, "mfcc", mfcc_metric(metric)))
        wins = wins_over_mfcc(s, scores(mfcc, 1, "whole-matrix")) \
            if mfcc is not None and protocol != "per-anchor" else np.nan
        rows.append({"model": model, "representation": representation,
                     "label": representation_label(representation, model, transform),
                     "kind": "model" if representation == "latent" else "baseline",
                     "fitted": bool(fitted.get((model, representation), False)),
                     "metric": metric, "wins_vs_mfcc": wins, "pooling": pooling[model],
                     **{k: s[k] for k in POOLED_COLUMNS if k in s}})
    return pd.DataFrame(rows).reindex(columns=POOLED_COLUMNS)


def evaluate_models(model_dirs, study_dirs=None, progress: bool = True, **kwargs
                    ) -> pd.DataFrame:
    """The per-study table of :func:`evaluate` (:data:`TABLE_COLUMNS`); ``kwargs`` as there."""
    return evaluate(model_dirs, study_dirs, progress, **kwargs).table


# --------------------------------------------------------------------------- display
def _filter_metric(table: pd.DataFrame, metric: str | None) -> pd.DataFrame:
    if "metric" not in table.columns:
        return table
    present = list(dict.fromkeys(table["metric"].dropna()))
    if metric is None:
        metric = "cosine" if "cosine" in present else (present[0] if present else None)
    # a posterior recipe has its own metric: keep it beside the chosen point metric
    keep = (table["metric"] == metric) | ~table["metric"].isin(METRICS)
    return table[keep]


def _bar_labels(table: pd.DataFrame) -> list[str]:
    """Labels in display order: models (in table order), then the baselines (deduplicated)."""
    models = list(dict.fromkeys(table.loc[table["kind"] == "model", "label"]))
    order = {r: k for k, r in enumerate(BASELINES)}
    base = table.loc[table["kind"] == "baseline", ["representation", "label"]].drop_duplicates()
    base = base.assign(_o=base["representation"].map(order)).sort_values(["_o", "label"])
    return models + list(dict.fromkeys(base["label"]))


def study_order(table: pd.DataFrame) -> list[tuple[str, bool]]:
    studies = table[["study", "in_target"]].drop_duplicates("study")
    independent = sorted(s for s, t in studies.itertuples(index=False) if not t)
    target = sorted(s for s, t in studies.itertuples(index=False) if t)
    return [(s, False) for s in independent] + [(s, True) for s in target]


def alignment_matrix(table: pd.DataFrame, value: str = "spearman",
                     metric: str | None = None) -> pd.DataFrame:
    """Studies x labels of one column of :func:`evaluate_models` under one metric
    (default cosine; baselines deduplicated). Rows: independent studies first,
    then those in the target; columns: the models, then the baselines."""
    table = _filter_metric(table, metric)
    first = table.drop_duplicates(["study", "label"])
    matrix = first.pivot(index="study", columns="label", values=value)
    return matrix.loc[[s for s, _ in study_order(table)], _bar_labels(table)]


def head_to_head(table: pd.DataFrame, model: str, rivals: Sequence[str],
                 value: str = "spearman", independent: bool = True,
                 metric: str | None = None) -> pd.DataFrame:
    """How often ``model`` agrees better with listeners than each rival.

    Parameters
    ----------
    table : pandas.DataFrame
        Output of :func:`evaluate_models`.
    model, rivals : labels (model names, ``MFCC mean``, ...)
    value : str
        Column compared (higher is better): ``spearman``, ``per_anchor``, ...
    independent : bool
        Only the studies whose ratings did not feed the training target.
    metric : str, optional
        Distance compared (default cosine).

    Returns
    -------
    pandas.DataFrame
        One row per rival: ``model``, ``rival``, ``n_studies``, ``wins`` (studies
        where ``model`` is strictly higher), ``mean_difference`` (model - rival),
        ``won`` (the studies won, comma-separated).
    """
    matrix = alignment_matrix(table, value, metric)
    if independent:
        matrix = matrix.loc[[s for s, t in study_order(table) if not t]]
    for label in (model, *rivals):
        if label not in matrix.columns:
            raise KeyError(f"{label!r} is not in the table (labels: {', '.join(matrix.columns)})")
    rows = []
    for rival in rivals:
        diff = (matrix[model] - matrix[rival]).dropna()
        rows.append({"model": model, "rival": rival, "n_studies": len(diff),
                     "wins": int((diff > 0).sum()),
                     "mean_difference": float(diff.mean()) if len(diff) else float("nan"),
                     "won": ", ".join(diff.index[diff > 0])})
    return pd.DataFrame(rows, columns=HEAD_TO_HEAD_COLUMNS)


def versus_vanilla(table: pd.DataFrame, baselines: Sequence[str] = ("MFCC mean",),
                   value: str = "spearman", metric: str | None = None) -> pd.DataFrame:
    """:func:`head_to_head` of every regularised model against its vanilla twin
    (same transform, not regularised) and ``baselines``, on the independent studies.
    A model without a vanilla twin in the table meets the baselines only."""
    models = table[table["kind"] == "model"].drop_duplicates("label")
    plain = models[~models["regularized"].astype(bool)]
    if "model" in plain:                   # a listener space is no one's twin
        plain = plain[~plain["model"].astype(str).str.endswith("-listener")]
    vanilla = dict(zip(plain["transform"], plain["label"]))
    parts = [head_to_head(table, row.label,
                          ([vanilla[row.transform]] if row.transform in vanilla else [])
                          + list(baselines), value, metric=metric)
             for row in models[models["regularized"].astype(bool)].itertuples()]
    return pd.concat(parts, ignore_index=True) if parts else \
        pd.DataFrame(columns=HEAD_TO_HEAD_COLUMNS)


def format_table(table: pd.DataFrame, value: str = "spearman", metric: str | None = None) -> str:
    """A readable text table: studies x (models, baselines), ``value (Mantel p)``."""
    heights = alignment_matrix(table, value, metric)
    pvalues = alignment_matrix(table, "mantel_p", metric)
    studies = dict(study_order(table))
    n = table.drop_duplicates("study").set_index("study")["n_stimuli"]
    cells = pd.DataFrame(index=heights.index, columns=heights.columns, dtype=object)
    for label in heights.columns:
        for study in heights.index:
            h, p = heights.loc[study, label], pvalues.loc[study, label]
            if not np.isfinite(h):
                cells.loc[study, label] = "–"
            else:
                cells.loc[study, label] = f"{h:+.3f}" + (f" (p={p:.4f})" if np.isfinite(p)
                                                          else "")
    cells.insert(0, "n", [int(n[s]) for s in cells.index])
    cells.index = [f"{s} *" if studies[s] else s for s in cells.index]
    cells.index.name = "study"
    shown = _filter_metric(table, metric)["metric"].dropna().unique() \
        if "metric" in table else []
    what = {"spearman": "Whole-matrix Spearman", "pearson": "Whole-matrix Pearson",
            "per_anchor": "Per-anchor Spearman", "triplet": "Triplet agreement"}.get(
        value, value.capitalize())
    title = (f"{what} of distances ({', '.join(shown)}) with listeners' dissimilarities"
             + (" (one-sided Mantel p)" if value == "spearman" else ""))
    lines = [title, cells.to_string()]
    if "fitted" in table and table["fitted"].astype(bool).any():
        names = ", ".join(sorted(table.loc[table["fitted"].astype(bool), "label"].unique()))
        lines.append(f"{names}: fitted on these studies' ratings, so these values are "
                     "in-sample; the honest score is leave-one-study-out (listener.json)")
    if any(studies.values()):
        lines.append("* ratings of this study also fed the regularisation target "
                     "(not an independent test)")
    return "\n".join(lines)


def format_pooled(pooled: pd.DataFrame) -> str:
    """The pooled table of :func:`evaluate` as text, values with their 95 % intervals."""
    rows = pooled.drop_duplicates(["label", "metric"])
    out = pd.DataFrame({
        "representation": rows["label"], "metric": rows["metric"],
        "per-anchor": [format_interval(r, "per_anchor") for _, r in rows.iterrows()],
        "whole-matrix": [format_interval(r, "spearman") for _, r in rows.iterrows()],
        "triplet": [format_interval(r, "triplet") for _, r in rows.iterrows()],
        "> MFCC": [("–" if not np.isfinite(r["wins_vs_mfcc"]) else
                    f"{int(r['wins_vs_mfcc'])}/{int(r['n_studies'])}")
                   for _, r in rows.iterrows()]})
    if "fitted" in rows:
        out.loc[rows["fitted"].astype(bool).to_numpy(), "representation"] += " (in-sample)"
    return "Over every study (95 % bootstrap intervals over stimuli)\n" + \
        out.to_string(index=False)


def write_tables(evaluation: Evaluation, out_csv: str | os.PathLike) -> tuple[Path, Path]:
    """Write an evaluation's per-study table to ``out_csv`` and its pooled table beside it
    as ``<stem>_pooled.csv``, each atomically; returns both paths."""
    out_csv = Path(out_csv)
    pooled_csv = out_csv.with_name(f"{out_csv.stem}_pooled.csv")
    with atomic_path(out_csv) as tmp:
        evaluation.table.to_csv(tmp, index=False)
    with atomic_path(pooled_csv) as tmp:
        evaluation.pooled.to_csv(tmp, index=False)
    return out_csv, pooled_csv


def main_evaluate(model_dir, study_dirs, out_csv, *, protocol: str = "both", metric=None,
                  pooling: str | None = None, n_permutations: int = N_PERMUTATIONS,
                  n_boot: int = N_BOOT, progress: bool = True) -> int:
    """The ``vts evaluate`` command: evaluate spaces on studies, write CSVs, print tables.

    Parameters
    ----------
    model_dir : path or list of paths
    study_dirs : list of paths / names, or None / empty (every study)
    out_csv : path
        The per-study table (:data:`TABLE_COLUMNS`); the pooled one goes beside
        it as ``<stem>_pooled.csv``.
    protocol : {"both", "whole-matrix", "per-anchor"}
    metric : "cosine", "euclidean", a list, or None (both)
    pooling : one of :data:`vts.stimuli.POOLINGS`, or None (each space's own recipe)

    Returns
    -------
    int
        0. Bad input raises ``FileNotFoundError`` / ``ValueError`` /
        :class:`vts.space.SpaceError` naming the file.
    """
    result = evaluate(model_dir, list(study_dirs) if study_dirs else None, progress,
                      protocol=protocol, metric=metric, pooling=pooling,
                      n_permutations=n_permutations, n_boot=n_boot)
    out_csv, pooled_csv = write_tables(result, out_csv)
    for metric_k in dict.fromkeys(result.table["metric"]):
        if metric_k not in METRICS:
            continue
        for value in (["spearman"] if protocol != "per-anchor" else []) + \
                (["per_anchor"] if protocol != "whole-matrix" else []):
            print(format_table(result.table, value, metric_k), end="\n\n")
    print(format_pooled(result.pooled))
    print(f"wrote {out_csv} and {pooled_csv}")
    sys.stdout.flush()
    return 0
