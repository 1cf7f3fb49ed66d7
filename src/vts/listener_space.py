"""What learns from listeners' ratings, and the listener space it ships.

A *recipe* (:class:`Recipe`) says how a space turns sounds into distances:
pooling (:data:`vts.stimuli.POOLINGS`), kept latent dimensions, learned
weights of a diagonal metric, or a distance between posteriors.
:func:`directions` scores every candidate recipe of issue 14
(:data:`DIRECTIONS`) on one space, under both protocols, beside the
baselines; :func:`leaderboard` and :func:`target_check` read that table.

Anything fitted to study ratings (the learned metric of :func:`directions`,
the listener space of :func:`build_listener_space`) is *scored*
leave-one-study-out (:func:`vts.learned_metric.loso`, related studies leaving
together), its ridge strength chosen by an inner leave-one-study-out on the
training folds only. The shipped listener space is fitted on every study.

:func:`build_listener_space` writes the vanilla space's files unchanged plus
``listener.json`` (the recipe, how it was fitted and its leave-one-study-out
score); :func:`listener_distances` / :func:`listener_points` compare sounds
in it. A space without a recipe compares sustained-frame codes, Euclidean
(:data:`PLAIN`). See docs/listeners.md.
"""
from __future__ import annotations

import hashlib
import json
import shutil
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from . import agreement as ag
from . import config
from . import stimuli as st
from .agreement import METRICS
from .io import as_signal, atomic_path, read_json, write_json
from .learned_metric import RIDGE_GRID, fit_metric_recipe, loso_metric_distances, weighted_points
from .space import SPACE_FILES, TimbreSpace
from .stimuli import keep_dims, load_space, silence_code, space_identity

#: File of a listener space that holds its recipe.
RECIPE_FILE = "listener.json"
RECIPE_VERSION = 1
#: The recipe of the shipped listener space (chosen from the directions table of
#: ``tools/listener_study.py`` on the vanilla space; see docs/listeners.md).
LISTENER_DIRECTION = "learned diagonal (ridge), code mean + spread"
LISTENER_METRIC = "cosine"
#: Published per-anchor Spearman (cosine distance) of Tian et al., ISMIR 2025,
#: on *their* 21 studies (334 sounds, 2,614 rated pairs) -- not our nine.
PUBLISHED = pd.DataFrame([
    ("MFCC (pairs padded to equal length)", 0.448),
    ("CLAP (LAION music)", 0.438),
    ("joint time-frequency scattering", 0.405),
    ("time-averaged MFCC", 0.395),
    ("music2latent", 0.387),
    ("EnCodec", 0.342),
    ("DAC", 0.316),
], columns=["representation", "per_anchor"]).assign(
    source="Tian et al., ISMIR 2025 (published, their 21 studies)", metric="cosine")


# --------------------------------------------------------------------------- listener recipe
@dataclass
class Recipe:
    """How a listener space turns sounds into distances.

    Attributes
    ----------
    pooling : str
        One of :data:`vts.stimuli.POOLINGS` (codes of the space).
    metric : str
        ``cosine`` / ``euclidean`` (of the weighted points) or one of
        :data:`vts.agreement.GAUSSIAN_DISTANCES` (of the pooled posteriors).
    weights : list of float or None
        Diagonal metric over the pooled coordinates (None: uniform).
    dims : list of int or None
        Latent dimensions kept (None: all).
    info : dict
        How it was fitted (studies, loss, ridge, leave-one-study-out scores).
    """

    pooling: str = "sustained"
    metric: str = "euclidean"
    weights: list | None = None
    dims: list | None = None
    info: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        return {"format": RECIPE_VERSION, "pooling": self.pooling, "metric": self.metric,
                "weights": self.weights, "dims": self.dims, "info": self.info}

    @classmethod
    def from_dict(cls, data: Mapping, where: str = RECIPE_FILE) -> Recipe:
        if not isinstance(data, Mapping) or data.get("format") != RECIPE_VERSION:
            raise ValueError(f"{where}: not a listener recipe of format {RECIPE_VERSION}")
        recipe = cls(pooling=data.get("pooling", "sustained"),
                     metric=data.get("metric", "euclidean"), weights=data.get("weights"),
                     dims=data.get("dims"), info=dict(data.get("info") or {}))
        recipe.check(where)
        return recipe

    def check(self, where: str = RECIPE_FILE) -> None:
        if self.pooling not in st.POOLINGS:
            raise ValueError(f"{where}: pooling {self.pooling!r} is not one of {st.POOLINGS}")
        if self.metric not in METRICS + ag.GAUSSIAN_DISTANCES:
            raise ValueError(f"{where}: metric {self.metric!r} is unknown")
        if self.weights is not None:
            w = np.asarray(self.weights, dtype=np.float64)
            if w.ndim != 1 or not np.isfinite(w).all() or (w < 0).any() or w.sum() <= 0:
                raise ValueError(f"{where}: weights must be finite, >= 0, not all 0")
            if self.metric in ag.GAUSSIAN_DISTANCES:
                raise ValueError(f"{where}: weights apply to point metrics only")

    @property
    def posterior(self) -> bool:
        return self.metric in ag.GAUSSIAN_DISTANCES


#: A space without a recipe file: its sustained-frame codes, Euclidean (the paper's view).
PLAIN = Recipe()


def recipe_points(codes: Sequence[st.StimulusCodes], recipe: Recipe) -> np.ndarray:
    """The points ``(n, D)`` a point recipe compares (pooled, dims kept, weighted)."""
    if recipe.posterior:
        raise ValueError(f"recipe metric {recipe.metric!r} compares posteriors, not points")
    codes = keep_dims(codes, recipe.dims)
    points = st.pool(codes, recipe.pooling, "code")
    if recipe.weights is not None:
        if len(recipe.weights) != points.shape[1]:
            raise ValueError(f"recipe has {len(recipe.weights)} weights for "
                             f"{points.shape[1]}-dimensional points")
        points = weighted_points(points, recipe.weights)
    return points


def recipe_distances(codes: Sequence[st.StimulusCodes], recipe: Recipe,
                     metric: str | None = None) -> np.ndarray:
    """Distances ``(n, n)`` between stimuli under ``recipe`` (``metric`` overrides a
    point recipe's metric; a posterior recipe has only its own)."""
    if recipe.posterior:
        means, variances = st.pooled_posterior(keep_dims(codes, recipe.dims),
                                            "sustained" if recipe.pooling == "sustained"
                                            else "mean")
        return ag.gaussian_distance_matrix(means, variances, recipe.metric)
    return st.point_distances(recipe_points(codes, recipe), metric or recipe.metric)


def fitted_studies(space) -> set[str]:
    """Studies whose ratings a space's recipe was fitted on (empty for a plain space):
    scoring the space on them is in-sample."""
    return set(load_recipe(space).info.get("studies", []))


def load_recipe(space) -> Recipe:
    """The recipe of a listener space (``<space dir>/listener.json``); :data:`PLAIN` for
    any other space (or an object without a directory)."""
    directory = getattr(space, "directory", None)
    if directory is None:
        return PLAIN
    path = Path(directory) / RECIPE_FILE
    if not path.is_file():
        return PLAIN
    try:
        return Recipe.from_dict(read_json(path), str(path))
    except (OSError, json.JSONDecodeError) as error:
        raise ValueError(f"{path}: cannot read the listener recipe: {error}") from error


def listener_distances(space, signals, metric: str | None = None,
                       active_db: float = st.ACTIVE_DB) -> np.ndarray:
    """Distances ``(n, n)`` between sounds as the space's listener recipe measures them.

    Parameters
    ----------
    space : TimbreSpace or path
        A listener space (:func:`build_listener_space`) or any space (then the
        plain recipe: sustained-frame codes, Euclidean).
    signals : sequence of sounds
        Paths or mono arrays at :data:`vts.config.SAMPLE_RATE` (>= 3).
    metric : str, optional
        Override a point recipe's metric (``cosine`` / ``euclidean``).

    Returns
    -------
    np.ndarray, shape (n, n)
        Symmetric, zero diagonal.
    """
    space = load_space(space)
    recipe = load_recipe(space)
    codes = [st.encode_stimulus(space, as_signal(s), active_db) for s in signals]
    return recipe_distances(codes, recipe, metric)


def listener_points(space, signals, active_db: float = st.ACTIVE_DB) -> np.ndarray:
    """The points ``(n, D)`` a space's point recipe compares (pooled codes scaled by the
    square root of the learned weights): what an explorer or a page plots. Raises
    ValueError for a recipe that compares posteriors."""
    space = load_space(space)
    codes = [st.encode_stimulus(space, as_signal(s), active_db) for s in signals]
    return recipe_points(codes, load_recipe(space))


# --------------------------------------------------------------------------- directions
@dataclass(frozen=True)
class Direction:
    """One row group of :func:`directions`: how the stimuli become distances.

    ``source``: ``code`` / ``frame`` (the space), ``mfcc`` / ``centroid``
    (audio), ``posterior`` (pooled Gaussians, ``metric`` is then a
    :data:`vts.agreement.GAUSSIAN_DISTANCES` kind); ``pooling`` is one of
    :data:`vts.stimuli.POOLINGS` or ``trajectory`` (:func:`vts.stimuli.trajectory` /
    :func:`vts.stimuli.padded_distances`, for MFCC
    :func:`vts.stimuli.mfcc_padded_distances`); ``dims``: ``active`` keeps
    the dimensions of :func:`vts.stimuli.active_dims`; ``learn``: a loss of
    :func:`vts.learned_metric.fit_diagonal_metric`, fitted leave-one-study-out.
    """

    name: str
    family: str
    source: str
    pooling: str = "sustained"
    dims: str | None = None
    learn: str | None = None
    metric: str | None = None


#: The directions of issue 14, fixed before any of them was scored.
DIRECTIONS: tuple[Direction, ...] = (
    Direction("time-averaged MFCC", "baseline", "mfcc"),
    Direction("MFCC, pairs padded", "baseline", "mfcc", "trajectory"),
    Direction("spectral centroid", "baseline", "centroid"),
    Direction("raw frame, sustained", "baseline", "frame", "sustained"),
    Direction("raw frame, time-averaged", "baseline", "frame", "mean"),
    Direction("code, sustained frame", "a: whole sound", "code", "sustained"),
    Direction("code, mean of frames", "a: whole sound", "code", "mean"),
    Direction("code, mean + spread", "a: whole sound", "code", "mean-std"),
    Direction("code, attack (100 ms)", "a: whole sound", "code", "attack"),
    Direction("code, mean + attack", "a: whole sound", "code", "mean-attack"),
    Direction("code, thirds", "a: whole sound", "code", "thirds"),
    Direction("code, padded trajectory", "a: whole sound", "code", "trajectory"),
    Direction("raw frame, padded trajectory", "a: control", "frame", "trajectory"),
    Direction("code, sustained, active dims", "b: posterior", "code", "sustained", "active"),
    Direction("code, mean, active dims", "b: posterior", "code", "mean", "active"),
    Direction("Bhattacharyya, sustained posterior", "b: posterior", "posterior", "sustained",
              metric="bhattacharyya"),
    Direction("Bhattacharyya, pooled posterior", "b: posterior", "posterior", "mean",
              metric="bhattacharyya"),
    Direction("symmetric KL, pooled posterior", "b: posterior", "posterior", "mean",
              metric="symmetric-kl"),
    Direction("learned diagonal (ridge), code mean", "c: learned metric (LOSO)", "code", "mean",
              learn="ridge"),
    Direction("learned diagonal (ridge), code mean + spread", "c: learned metric (LOSO)", "code",
              "mean-std", learn="ridge"),
    Direction("learned diagonal (rank), code mean + spread", "c: learned metric (LOSO)", "code",
              "mean-std", learn="rank"),
    Direction("learned diagonal (ridge), raw frame mean", "c: control (LOSO)", "frame", "mean",
              learn="ridge"),
    Direction("learned diagonal (ridge), MFCC", "c: control (LOSO)", "mfcc", learn="ridge"),
)
#: Columns of the table of :func:`directions`.
DIRECTION_COLUMNS = ["space", "direction", "family", "metric", "per_anchor", "per_anchor_lo",
                     "per_anchor_hi", "spearman", "spearman_lo", "spearman_hi", "pearson",
                     "triplet", "triplet_lo", "triplet_hi", "wins_vs_mfcc", "n_studies",
                     "n_stimuli"]


def mfcc_metric(metric: str) -> str:
    """The MFCC metric a representation is compared with: the same one; Euclidean for
    distances between posteriors."""
    return metric if metric in METRICS else "euclidean"


def wins_over_mfcc(scores: Mapping, mfcc: Mapping) -> int:
    """Studies on which ``scores`` has a higher whole-matrix Spearman than ``mfcc``."""
    return int(sum(scores["studies"][s]["spearman"] > mfcc["studies"][s]["spearman"]
                   for s in scores["studies"] if s in mfcc["studies"]))


def _direction_points(direction: Direction, codes, cached, dims) -> np.ndarray:
    if direction.source in ("mfcc", "centroid"):
        return cached[direction.source]
    if direction.dims == "active":
        codes = keep_dims(codes, dims)
    return st.pool(codes, direction.pooling, direction.source)


def _trajectory_distances(direction: Direction, study: st.StudyAudio, codes, dims,
                          metric: str) -> np.ndarray:
    if direction.source == "mfcc":
        return st.mfcc_padded_distances(study.signals, metric)
    if direction.dims == "active":
        codes = keep_dims(codes, dims)
    return st.padded_distances([st.trajectory(c, direction.source) for c in codes], metric,
                            [silence_code(c, direction.source) for c in codes])


def directions(space, studies, *, training=None, chosen: Sequence[Direction] = DIRECTIONS,
               n_boot: int = ag.N_BOOT, seed: int = config.DEFAULT_SEED,
               active_db: float = st.ACTIVE_DB, progress: bool = False
               ) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The directions of issue 14 on one space, every protocol, in one run.

    ``space``: a TimbreSpace or its path; ``studies``: StudyAudio / paths / names;
    ``training``: normalised frames of the space's training notes for the active
    dimensions (default :func:`vts.stimuli.training_frames`; never study stimuli);
    ``n_boot``, ``seed``: bootstrap draws over stimuli and their seed. Learned
    metrics are scored leave-one-study-out, each fold choosing its ridge strength
    on its training folds.

    Returns ``(summary, per_study)``. ``summary``: one row per direction x metric,
    :data:`DIRECTION_COLUMNS` (pooled per-anchor Spearman, mean whole-matrix
    Spearman / Pearson, mean triplet agreement, 95 % bootstrap intervals, studies
    won against the time-averaged MFCC under the same metric -- Euclidean for the
    posterior distances); ``summary.attrs``: ``active_dims`` (the dimensions kept)
    and ``skipped`` (direction -> why, when the training notes are not available
    or no dimension passes :data:`vts.stimuli.ACTIVE_KL_NATS`). ``per_study``:
    space, direction, metric, study, per_anchor, spearman, pearson, triplet, and
    ``ridge`` (the strength the learned metric's fold chose).
    """
    space = load_space(space)
    studies = st.load_studies(studies)
    name = space_identity(space)[0]
    listeners = {s.name: s.dissimilarity for s in studies}
    codes = {s.name: st.encode_study(space, s, active_db) for s in
             tqdm(studies, desc=f"{name}: encode", disable=not progress)}
    cached = {s.name: st.baseline_points(s.signals, config.SAMPLE_RATE, active_db)
              for s in studies}
    dims, skipped = None, {}
    if any(d.dims == "active" for d in chosen):
        try:
            dims = st.active_dims(space, training)
        except (ValueError, OSError) as error:    # no feature cache, or no active dimension
            skipped = {d.name: str(error) for d in chosen if d.dims == "active"}
            chosen = [d for d in chosen if d.dims != "active"]
    distances, ridges = {}, {}
    for direction in tqdm(chosen, desc=f"{name}: directions", disable=not progress):
        if direction.source == "posterior":
            for s in studies:
                m, v = st.pooled_posterior(codes[s.name], direction.pooling)
                distances.setdefault((direction, direction.metric), {})[s.name] = \
                    ag.gaussian_distance_matrix(m, v, direction.metric)
            continue
        if direction.pooling == "trajectory":
            for metric in METRICS:
                distances[(direction, metric)] = {
                    s.name: _trajectory_distances(direction, s, codes[s.name], dims, metric)
                    for s in studies}
            continue
        points = {s.name: _direction_points(direction, codes[s.name], cached[s.name], dims)
                  for s in studies}
        for metric in METRICS:
            if direction.learn:
                d, chosen_ridge = loso_metric_distances(points, listeners, direction.learn,
                                                        metric)
                ridges[(direction, metric)] = chosen_ridge
            else:
                d = {s: st.point_distances(p, metric) for s, p in points.items()}
            distances[(direction, metric)] = d
    mfcc = {m: ag.study_scores({s.name: st.point_distances(cached[s.name]["mfcc"], m)
                                for s in studies}, listeners, 1, seed=seed,
                               protocol="whole-matrix") for m in METRICS}
    summary, per_study = [], []
    for (direction, metric), ds in distances.items():
        s = ag.study_scores(ds, listeners, n_boot, seed=seed)
        summary.append({"space": name, "direction": direction.name, "family": direction.family,
                        "metric": metric, "wins_vs_mfcc": wins_over_mfcc(s, mfcc[mfcc_metric(metric)]),
                        **{k: s[k] for k in DIRECTION_COLUMNS if k in s}})
        for study, row in s["studies"].items():
            per_study.append({"space": name, "direction": direction.name, "metric": metric,
                              "study": study, **row,
                              "ridge": ridges.get((direction, metric), {}).get(study, np.nan)})
    summary = pd.DataFrame(summary).reindex(columns=DIRECTION_COLUMNS)
    summary.attrs["active_dims"] = None if dims is None else [int(k) for k in dims]
    summary.attrs["skipped"] = skipped
    return summary, pd.DataFrame(per_study)


def format_interval(row, key: str, digits: int = 3) -> str:
    """``row[key]`` with its interval ``[key_lo, key_hi]`` when it has one; "–" if undefined."""
    v, lo, hi = row[key], row.get(f"{key}_lo", np.nan), row.get(f"{key}_hi", np.nan)
    if not np.isfinite(v):
        return "–"
    return f"{v:.{digits}f} [{lo:.{digits}f}, {hi:.{digits}f}]" if np.isfinite(lo) \
        else f"{v:.{digits}f}"


def directions_markdown(summary: pd.DataFrame, digits: int = 3) -> str:
    """The directions x protocols table in Markdown, values with their 95 % intervals."""
    lines = [("| space | direction | family | metric | per-anchor Spearman | whole-matrix "
              "Spearman | whole-matrix Pearson | triplet agreement | studies > MFCC |"),
             "|---|---|---|---|---|---|---|---|---|"]
    for _, row in summary.iterrows():
        lines.append(f"| {row['space']} | {row['direction']} | {row['family']} | "
                     f"{row['metric']} | {format_interval(row, 'per_anchor', digits)} | "
                     f"{format_interval(row, 'spearman', digits)} | {row['pearson']:.{digits}f} | "
                     f"{format_interval(row, 'triplet', digits)} | "
                     f"{int(row['wins_vs_mfcc'])} / {int(row['n_studies'])} |")
    return "\n".join(lines)


# --------------------------------------------------------------------------- leaderboard
def leaderboard(tables, metric: str = "cosine", published: pd.DataFrame = PUBLISHED
                ) -> pd.DataFrame:
    """Per-anchor Spearman of this run beside the published figures, best first.

    Parameters
    ----------
    tables : DataFrame or list of DataFrames
        :attr:`vts.listeners.Evaluation.pooled` (rows named by ``label``) and / or the
        summary of :func:`directions` (rows named ``<space>: <direction>``).
    metric : str
        The distance of the rows kept (the published figures are cosine).

    Returns
    -------
    pandas.DataFrame
        ``representation, per_anchor, per_anchor_lo, per_anchor_hi, metric, source``;
        this run's rows have ``source`` "this run (<n> studies)" (duplicates
        kept once), the published ones their citation: their studies, not ours,
        so the two groups are not directly comparable.
    """
    tables = [tables] if isinstance(tables, pd.DataFrame) else list(tables)
    parts = []
    for table in tables:
        rows = table[table["metric"] == metric].copy()
        if "label" in rows:
            rows["representation"] = rows["label"]
            if "fitted" in rows:
                rows.loc[rows["fitted"].astype(bool), "representation"] += \
                    " (fitted on these studies: in-sample)"
        else:
            rows["representation"] = rows["space"] + ": " + rows["direction"]
            if "family" in rows:
                loso = rows["family"].astype(str).str.contains("LOSO")
                rows.loc[loso, "representation"] += " (leave-one-study-out)"
        parts.append(rows)
    rows = pd.concat(parts, ignore_index=True).drop_duplicates("representation")
    n = int(rows["n_studies"].max()) if len(rows) else 0
    ours = rows.assign(source=f"this run ({n} studies)")
    board = pd.concat([ours, published.assign(per_anchor_lo=np.nan, per_anchor_hi=np.nan)],
                      ignore_index=True)
    board = board[["representation", "per_anchor", "per_anchor_lo", "per_anchor_hi", "metric",
                   "source"]]
    return board.sort_values("per_anchor", ascending=False, ignore_index=True)


def target_check(summary: pd.DataFrame, direction: str | None = None, metric: str | None = None,
                 space: str | None = None) -> pd.DataFrame:
    """The two listener targets of issue 14 for one row of a :func:`directions` summary.

    Targets: per-anchor Spearman >= 0.40 (leave-one-study-out when learned),
    and whole-matrix Spearman above the time-averaged MFCC's on at least two
    thirds of the studies. Default row: the shipped recipe
    (:data:`LISTENER_DIRECTION`, :data:`LISTENER_METRIC`) of the first space.

    Returns
    -------
    pandas.DataFrame
        ``target, measured, interval, mfcc_same_run, met`` (one row per target).
    """
    direction = direction or LISTENER_DIRECTION
    metric = metric or LISTENER_METRIC
    space = space or summary["space"].iloc[0]
    rows = summary[(summary["space"] == space) & (summary["direction"] == direction)
                   & (summary["metric"] == metric)]
    if rows.empty:
        raise KeyError(f"no row {space} / {direction} / {metric} in the summary")
    row = rows.iloc[0]
    mfcc = summary[(summary["space"] == space) & (summary["direction"] == "time-averaged MFCC")
                   & (summary["metric"] == mfcc_metric(metric))]
    mfcc_value = float(mfcc["per_anchor"].iloc[0]) if len(mfcc) else np.nan
    n = int(row["n_studies"])
    need = int(np.ceil(2 * n / 3))
    return pd.DataFrame([
        {"target": "per-anchor Spearman >= 0.40", "measured": float(row["per_anchor"]),
         "interval": f"[{row['per_anchor_lo']:.3f}, {row['per_anchor_hi']:.3f}]",
         "mfcc_same_run": mfcc_value, "met": bool(row["per_anchor"] >= 0.40)},
        {"target": f"whole-matrix Spearman above MFCC on >= {need} of {n} studies",
         "measured": float(row["wins_vs_mfcc"]), "interval": "",
         "mfcc_same_run": np.nan, "met": bool(row["wins_vs_mfcc"] >= need)},
    ])


# --------------------------------------------------------------------------- listener space

def _recipe_fingerprint(vanilla_dir: Path, ratings: Sequence[tuple[str, np.ndarray]],
                        direction: Direction, metric: str) -> str:
    digest = hashlib.sha256()
    digest.update((vanilla_dir / "config.json").read_bytes())
    digest.update((vanilla_dir / "model.safetensors").read_bytes())
    digest.update(repr((direction, metric, RECIPE_VERSION, st.ACTIVE_KL_NATS, st.ATTACK_SECONDS,
                        st.ACTIVE_DB, RIDGE_GRID)).encode())
    for name, dissimilarity in sorted(ratings, key=lambda r: r[0]):
        digest.update(name.encode())
        digest.update(np.ascontiguousarray(dissimilarity).tobytes())
    return digest.hexdigest()[:16]


def _direction(name: str) -> Direction:
    for d in DIRECTIONS:
        if d.name == name:
            return d
    raise ValueError(f"unknown direction {name!r}; choose from {[d.name for d in DIRECTIONS]}")


def build_listener_space(vanilla_dir, out_dir, studies=None, *,
                         direction: str = LISTENER_DIRECTION, metric: str = LISTENER_METRIC,
                         training=None, force: bool = False, progress: bool = False) -> Path:
    """Write the "listener" space: the vanilla space plus its distance recipe.

    The vanilla space's files are copied unchanged (so it synthesises exactly
    as the vanilla space: same test MSE); ``listener.json`` holds the recipe
    (:class:`Recipe`): pooling, kept dimensions, the learned diagonal metric
    *fitted on every study given* (its ridge strength by leave-one-study-out
    over them) and, for the record, the leave-one-study-out scores of the same
    recipe. ``config.json`` gains ``"kind": "listener"`` and
    ``"listener_of"``; it is written last, so the directory is complete or
    absent. A current space (same vanilla weights, studies and recipe) is kept.

    ``vanilla_dir``: a complete vanilla space; ``out_dir``: where the listener
    space goes (not ``vanilla_dir``), returned; ``studies``: rated studies to fit
    on (default: every study); ``direction``, ``metric``: a :data:`DIRECTIONS`
    name and its metric (default: the recipe chosen by the directions table);
    ``training``: training-note frames for the active dimensions.
    """
    vanilla_dir, out_dir = Path(vanilla_dir), Path(out_dir)
    if vanilla_dir.resolve() == out_dir.resolve():
        raise ValueError(f"{out_dir}: the listener space must not replace its vanilla space")
    vanilla = TimbreSpace.load(vanilla_dir)
    chosen = _direction(direction)
    if chosen.source not in ("code", "posterior"):
        raise ValueError(f"direction {direction!r} does not use the space's codes")
    if chosen.source == "posterior":
        metric = chosen.metric
    elif metric not in METRICS:
        raise ValueError(f"metric must be one of {METRICS}, got {metric!r}")
    fingerprint = _recipe_fingerprint(vanilla_dir, st.study_ratings(studies), chosen, metric)
    if not force and (out_dir / "config.json").is_file() and (out_dir / RECIPE_FILE).is_file():
        try:
            if read_json(out_dir / RECIPE_FILE)["info"]["fingerprint"] == fingerprint:
                TimbreSpace.load(out_dir)
                return out_dir
        except (KeyError, TypeError, ValueError, OSError, RuntimeError):
            pass
    studies = st.load_studies(studies)            # decoded only when the recipe is refitted
    dims = st.active_dims(vanilla, training) if chosen.dims == "active" else None
    listeners = {s.name: s.dissimilarity for s in studies}
    codes = {s.name: st.encode_study(vanilla, s) for s in
             tqdm(studies, desc="listener space: encode", disable=not progress)}
    info = {"direction": chosen.name, "fingerprint": fingerprint, "vanilla": vanilla.name,
            "studies": sorted(listeners), "active_kl_nats": st.ACTIVE_KL_NATS,
            "attack_seconds": st.ATTACK_SECONDS, "active_db": st.ACTIVE_DB}
    weights = None
    if chosen.learn:
        points = {s: _direction_points(chosen, codes[s], None, dims) for s in codes}
        w, ridge = fit_metric_recipe(points, listeners, chosen.learn, metric)
        weights = [float(v) for v in w]
        info.update(loss=chosen.learn, ridge=ridge)
        if len(ag.study_folds(points)) >= 2:
            loso_d, fold_ridge = loso_metric_distances(points, listeners, chosen.learn, metric)
            s = ag.study_scores(loso_d, listeners, 1, protocol="both")
            info["loso"] = {"per_anchor": s["per_anchor"], "spearman": s["spearman"],
                            "triplet": s["triplet"], "fold_ridge": fold_ridge}
    recipe = Recipe(pooling=chosen.pooling, metric=metric, weights=weights,
                    dims=None if dims is None else [int(k) for k in dims], info=info)
    recipe.check()
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "config.json").unlink(missing_ok=True)      # incomplete while being written
    for name in SPACE_FILES:
        if name != "config.json":
            with atomic_path(out_dir / name) as tmp:
                shutil.copyfile(vanilla_dir / name, tmp)
    write_json(out_dir / RECIPE_FILE, recipe.to_dict())
    space_config = dict(read_json(vanilla_dir / "config.json"), kind="listener",
                        listener_of=vanilla.name, listener_recipe=RECIPE_FILE)
    write_json(out_dir / "config.json", space_config)
    TimbreSpace.load(out_dir)
    return out_dir
