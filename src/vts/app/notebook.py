"""What the notebooks share: their run context, models on demand, and small steps.

Every notebook starts with :func:`setup`, which returns a
:class:`NotebookContext` (profile, sizes from :mod:`vts.profiles`, folders,
seed), and gets its spaces through :func:`ensure_models`, which trains what is
missing. The few steps specific to one notebook (choosing notes with a
fallback, assembling a panel, the novel-instrument distances, Table 1 beside
the paper's values ...) are the functions below, each small and tested.
:mod:`vts.app.runner` executes the notebooks (``vts figures``).
"""
from __future__ import annotations

import random
import re
import sys
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from IPython import get_ipython
from tqdm.auto import tqdm

from .. import config
from ..checkpoints import space_is_current
from ..data import dynamics_ordinal, parse_note
from ..dsp import get_transform, griffin_lim, spectral_convergence, sustained_frame
from ..dsp.descriptors import compute
from ..features import training_features
from ..io import LockError, load_audio
from ..metrics import PAPER_RESULTS
from ..paths import path_spectra
from ..plan import model_plan, space_kinds, train_all, train_lock
from ..profiles import PROFILES, FigureSettings, get_settings
from ..space import TimbreSpace
from ..topology import descending_curve, descriptor_topology, log_curve
from . import figures


@dataclass(frozen=True)
class NoteSpec:
    """A wanted note: instrument (canonical name), note name (``"G#4"``) and dynamic (``"ff"``)."""

    instrument: str
    note: str | None = None
    dynamics: str | None = None

    def __str__(self) -> str:
        return " ".join(x for x in (self.instrument, self.note, self.dynamics) if x)


#: Origin note of the descriptor-based synthesis (the paper: Clarinet-Bb G#4 ff).
SYNTHESIS_ORIGIN = NoteSpec("clarinet", "G#4", "ff")
#: Note shown through every transform.
TRANSFORM_NOTE = NoteSpec("clarinet", "G#4", "ff")
# ============================================================================ context
@dataclass
class NotebookContext:
    """What a notebook knows about its run (returned by :func:`setup`).

    Attributes
    ----------
    name : str
        Notebook name (``01_perceptual_spaces``).
    profile : str
    settings : FigureSettings
    models_dir, figures_dir : Path
        Trained spaces; figures root.
    out_dir : Path
        ``figures_dir / name``: where this notebook's artefacts go.
    seed : int
    showcase : str
        The kind of regularised space the notebooks show (the profile's
        showcase, the authors' ``l2`` by default).
    kinds : tuple of str
        Every kind of space trained for :data:`vts.config.DEFAULT_TRANSFORM`.
    """

    name: str
    profile: str
    settings: FigureSettings
    models_dir: Path
    figures_dir: Path
    out_dir: Path
    seed: int
    showcase: str = "l2"
    kinds: tuple = ()

    def space_name(self, kind: str | None = None, transform: str | None = None) -> str:
        """``<transform>-<kind>`` (default: the deep-dive transform, the showcase kind)."""
        return f"{transform or self.settings.transform}-{kind or self.showcase}"

    def rng(self, offset: int = 0) -> np.random.Generator:
        """A generator seeded from the run's seed (``offset`` gives independent streams)."""
        return np.random.default_rng(self.seed + offset)


def seed_everything(seed: int) -> None:
    """Seed python's, numpy's and torch's global generators."""
    random.seed(seed)
    np.random.seed(seed % 2 ** 32)
    torch.manual_seed(seed)


def setup(name: str, profile: str = "default", models_dir=None, figures_dir=None,
          seed: int = config.DEFAULT_SEED) -> NotebookContext:
    """Start a notebook: resolve folders, seed everything, route its artefacts.

    Parameters
    ----------
    name : str
        The notebook's name (its file name without ``.ipynb``).
    profile : str
        Key of :data:`vts.profiles.PROFILES`.
    models_dir, figures_dir : path or None
        Default :func:`vts.config.models_dir` / :func:`vts.config.figures_dir`.
    seed : int

    The notebook's previous manifest entries are dropped (it is about to write
    them again), and matplotlib figures display inline when run in IPython.
    """

    settings = get_settings(profile)
    models = Path(models_dir).resolve() if models_dir else config.models_dir()
    root = Path(figures_dir).resolve() if figures_dir else config.figures_dir()
    out = figures.use(root, name)
    figures.forget_notebook(name, root)
    seed_everything(int(seed))
    _inline_figures()
    row = PROFILES[profile]
    return NotebookContext(name=name, profile=profile, settings=settings, models_dir=models,
                           figures_dir=root, out_dir=out, seed=int(seed), showcase=row.showcase,
                           kinds=tuple(space_kinds(config.DEFAULT_TRANSFORM, row)))


def _inline_figures() -> None:
    shell = get_ipython()
    if shell is not None and hasattr(shell, "run_line_magic"):
        try:
            shell.run_line_magic("matplotlib", "inline")
        except Exception:  # pragma: no cover - no inline backend: figures still save
            pass


# ============================================================================ models and data
def ensure_models(ctx: NotebookContext, transforms: Iterable[str] | None = None,
                  progress: bool = False) -> dict[str, TimbreSpace]:
    """:func:`ensure_spaces` of the notebook's profile and models folder (default:
    every transform of its settings)."""
    transforms = ctx.settings.transforms if transforms is None else transforms
    return ensure_spaces(ctx.profile, ctx.models_dir, transforms, progress)


def ensure_spaces(profile: str, models_dir, transforms: Iterable[str],
                  progress: bool = False) -> dict[str, TimbreSpace]:
    """Train what is missing (:func:`vts.plan.train_all` skips current spaces) and load.

    If another process holds the models folder (a notebook running beside this
    one that trains the same spaces, or ``vts train``), this says so and waits
    for it; ``train_all`` then skips what it made.

    Returns
    -------
    dict
        Model name (``nsgt-erb-l2``) -> :class:`vts.space.TimbreSpace`,
        in the order of :func:`vts.plan.model_plan` (per transform vanilla first, then
        the kinds of :func:`vts.plan.space_kinds`; transforms in the order given).
    """
    models_dir = Path(models_dir) if models_dir is not None else config.models_dir()
    transforms = tuple(transforms)
    plan = model_plan(transforms, profile)
    # train_all's own skip test, done first: when every space is current the
    # perceptual target (an MDS) need not be recomputed just to skip them.
    features = {t: training_features(t, progress) for t in transforms}
    current = all(space_is_current(models_dir / name, features[t], c, r)
                  for name, t, r, c in plan)
    if not current:
        try:
            with train_lock(models_dir, profile):
                train_all(profile=profile, transforms=transforms, out_root=models_dir,
                          progress=progress)
        except LockError as error:
            print(f"waiting: {error}", file=sys.stderr, flush=True)
            with train_lock(models_dir, profile, wait=True):
                train_all(profile=profile, transforms=transforms, out_root=models_dir,
                          progress=progress)
    return {name: TimbreSpace.load(models_dir / name) for name, *_ in plan}


def training_summary(spaces: Mapping[str, object]) -> pd.DataFrame:
    """One row per space: epochs, training time (s), last test MSE and test R(z, T)."""
    rows = []
    for name, space in spaces.items():
        curves = space.curves
        last = curves.iloc[-1] if len(curves) else pd.Series(dtype=float)
        rows.append({"model": name, "epochs": int(last.get("epoch", 0)),
                     "train_seconds": float(space.config.get("train_seconds", np.nan)),
                     "final_test_mse": float(last.get("test_mse", np.nan)),
                     "final_test_R": float(last.get("test_R", np.nan)),
                     "test_mse": float(space.metrics.get("test_mse", np.nan)),
                     "kl_timbre": float(space.metrics.get("kl_timbre", np.nan))})
    return pd.DataFrame(rows)


def pick_note(catalog: pd.DataFrame, spec: NoteSpec | str, pitch: int | None = None,
              verbose: bool = True) -> pd.Series:
    """The catalogue row of a wanted note, or the nearest available one.

    Nearest = same instrument, closest MIDI pitch (``pitch`` overrides the
    spec's note), then closest dynamic, then note id. When the exact note is
    absent a message says what was chosen instead.

    Raises
    ------
    LookupError
        If the instrument has no note in the catalogue.
    """

    spec = NoteSpec(spec) if isinstance(spec, str) else spec
    rows = catalog[catalog["instrument"] == spec.instrument]
    if rows.empty:
        raise LookupError(f"no {spec.instrument} note in the catalogue "
                          f"(instruments: {', '.join(sorted(catalog['instrument'].unique()))})")
    want_pitch = pitch if pitch is not None else (parse_note(spec.note)[1] if spec.note else None)
    pitches = pd.to_numeric(rows["pitch"], errors="coerce")
    dist_pitch = (pitches - want_pitch).abs().fillna(1e3) if want_pitch is not None else 0 * pitches
    dyn = rows["dynamics"].fillna("").astype(str).map(dynamics_ordinal)
    want_dyn = dynamics_ordinal(spec.dynamics) if spec.dynamics else None
    dist_dyn = (dyn - want_dyn).abs().where(dyn >= 0, 10) if want_dyn is not None else 0 * dyn
    order = pd.DataFrame({"p": dist_pitch, "d": dist_dyn, "id": rows["note_id"].astype(str)})
    best = rows.loc[order.sort_values(["p", "d", "id"]).index[0]]
    exact = (want_pitch is None or dist_pitch[best.name] == 0) and \
        (want_dyn is None or dist_dyn[best.name] == 0)
    if verbose and not exact:
        print(f"{spec} is not in the corpus: using the nearest available note, "
              f"{spec.instrument} {best['note'] or '?'} {best['dynamics'] or '(dynamic unknown)'}"
              f" ({best['note_id']})")
    return best


def attribution(rows) -> str:
    """Attribution text of the sources of catalogue ``rows`` (a row or a DataFrame)."""
    frame = rows.to_frame().T if isinstance(rows, pd.Series) else rows
    if "attribution" not in frame:
        return ""
    sources = sorted({str(a) for a in frame["attribution"] if str(a)})
    return ("Sounds: " + "; ".join(sources) + ".") if sources else ""


def note_label(row: pd.Series) -> str:
    """``clarinet G#4 ff`` for a catalogue row."""
    parts = (row["instrument"], row.get("note", ""), row.get("dynamics", ""))
    return " ".join(str(x) for x in parts if isinstance(x, str) and x)


def slug(text: str) -> str:
    """A file-name-safe version of ``text`` (``clarinet G#4 ff`` -> ``clarinet-Gs4-ff``)."""
    return re.sub(r"[^A-Za-z0-9.-]+", "-", text.replace("#", "s")).strip("-")


def subsample(n: int, k: int, rng: np.random.Generator) -> np.ndarray:
    """Sorted indices of ``min(n, k)`` items drawn without replacement."""
    return np.sort(rng.choice(n, size=min(n, k), replace=False)) if n > k else np.arange(n)


# ============================================================================ 02 transforms
def transform_roundtrip(audio: np.ndarray, transform: str, n_iter: int,
                        seed: int = config.DEFAULT_SEED) -> dict:
    """Analyse ``audio`` with ``transform``, drop the phase and rebuild it by Griffin-Lim.

    Returns
    -------
    dict
        ``name``, ``frequencies`` (Hz), ``hop_seconds``, ``magnitude`` and
        ``reconstruction_magnitude`` ``(n_bins, n_frames)``, ``reconstruction``
        (audio, float32, same length as ``audio``), ``spectral_convergence``
        (``||S - |F(x̂)||| / ||S||``, 0 = perfect).
    """

    tr = get_transform(transform)
    audio = np.asarray(audio, dtype=np.float64)
    magnitude = tr.magnitude(audio)
    recon = griffin_lim(magnitude, tr, n_iter=n_iter, length=len(audio), seed=seed)
    return {"name": tr.name, "frequencies": np.asarray(tr.frequencies),
            "hop_seconds": tr.hop_seconds, "magnitude": magnitude,
            "reconstruction_magnitude": tr.magnitude(recon), "reconstruction": recon,
            "spectral_convergence": spectral_convergence(magnitude, recon, tr)}


# ============================================================================ 04 latent spaces
def latent_panel(space, rng: np.random.Generator, max_points: int, split: str = "train") -> dict:
    """A scatter panel of a space: PCA coordinates of (a subsample of) its codes.

    Returns ``title`` (with R(z, T) of the test split), ``coords`` (n, 3),
    ``labels`` (instruments), ``hover`` (note ids), ``centroids`` (instrument x 3).
    """
    rows = space.latents[space.latents["split"] == split]
    idx = subsample(len(rows), max_points, rng)
    rows = rows.iloc[idx]
    coords = space.to_pca(rows[space.z_columns].to_numpy(np.float64))
    cents = pd.DataFrame(space.to_pca(space.centroids.to_numpy(np.float64)),
                         index=space.centroids.index)
    m = space.metrics
    title = (f"{space.transform_name} {space.kind}\nsilhouette {m.get('silhouette_pca', np.nan):.2f}, "
             f"nearest centroid {100 * m.get('centroid_accuracy', np.nan):.0f} %, "
             f"R - floor {m.get('kl_timbre_excess', np.nan):.3g}")
    variance = space.pca.explained_variance_ratio_
    return {"title": title, "coords": coords, "labels": rows["instrument"].astype(str).tolist(),
            "hover": rows["note_id"].astype(str).tolist(), "centroids": cents,
            "axes": [f"PC{k + 1} ({100 * v:.1f} %)" for k, v in enumerate(variance)]}


def reconstruction_examples(space, features, n: int) -> list[dict]:
    """Up to ``n`` test frames of distinct instruments and their decoding through ``space``.

    Frames are matched to the space's test split by ``note_id``; instruments in
    alphabetical order, first note id of each.
    """
    split = dict(zip(space.split["note_id"].astype(str), space.split["split"].astype(str)))
    catalog = features.catalog.reset_index(drop=True)
    test = catalog[catalog["note_id"].astype(str).map(split) == "test"]
    chosen = test.sort_values(["instrument", "note_id"]).drop_duplicates("instrument").head(n)
    frames = np.asarray(features.frames)[chosen.index.to_numpy()]
    recon = space.decode(space.encode_frames(frames))
    kind = "regularised" if space.regularized else "vanilla"
    return [{"title": f"{space.transform_name} {kind}: {note_label(row)}",
             "frequencies": np.asarray(features.frequencies), "original": f, "reconstruction": r}
            for (_, row), f, r in zip(chosen.iterrows(), frames, np.atleast_2d(recon))]


# ============================================================================ 05 table 1
def table1_with_paper(table: pd.DataFrame) -> pd.DataFrame:
    """Our Table 1 rows (:func:`vts.metrics.write_table1`) with the paper's values beside them.

    Adds ``paper_loglik`` and ``paper_mse`` (vanilla rows only: the paper's
    Table 1 is unregularised) and ``paper_kl`` (Figure 3: regularised or vanilla).
    """

    out = table.copy()
    reg = out["regularized"].astype(bool)
    paper = PAPER_RESULTS.reindex(out["transform"])
    out["paper_loglik"] = np.where(reg, np.nan, paper["paper_loglik"].to_numpy())
    out["paper_mse"] = np.where(reg, np.nan, paper["paper_mse"].to_numpy())
    out["paper_kl"] = np.where(reg, paper["paper_kl_regularized"].to_numpy(),
                               paper["paper_kl_vanilla"].to_numpy())
    return out


# ============================================================================ 06 novel instruments
def novel_notes(catalog: pd.DataFrame, instruments: Sequence[str], per_instrument: int
                ) -> pd.DataFrame:
    """Up to ``per_instrument`` notes of each instrument present, evenly spread over its
    notes sorted by pitch then id; absent instruments are reported and skipped.

    Raises
    ------
    LookupError
        If none of the instruments has a note.
    """
    parts = []
    for name in instruments:
        rows = catalog[catalog["instrument"] == name]
        if rows.empty:
            print(f"{name}: no note in the corpus, skipped")
            continue
        rows = rows.assign(_p=pd.to_numeric(rows["pitch"], errors="coerce"))
        rows = rows.sort_values(["_p", "note_id"]).drop(columns="_p")
        take = np.unique(np.linspace(0, len(rows) - 1, min(per_instrument, len(rows))).round()
                         .astype(int))
        parts.append(rows.iloc[take])
    if not parts:
        raise LookupError(f"none of {', '.join(instruments)} has a note in the corpus")
    return pd.concat(parts)


def sustained_magnitudes(paths: Sequence[str], transform: str, progress: bool = False
                         ) -> np.ndarray:
    """Sustained magnitude frame ``(n, n_bins)`` of each sound file (the model's input rule)."""


    return np.stack([sustained_frame(load_audio(p), transform)
                     for p in tqdm(list(paths), desc="analysing", disable=not progress)])


def novel_view(space, notes: pd.DataFrame, magnitudes: np.ndarray, rng: np.random.Generator,
               max_points: int) -> dict:
    """PCA coordinates of a space's training codes, its centroids and the novel notes.

    Keys as :func:`vts.app.plots.plot_novel_instruments` expects, plus ``novel_codes``
    (m, latent_dim) and ``novel_labels``.
    """
    train = space.latents[space.latents["split"] == "train"]
    idx = subsample(len(train), max_points, rng)
    codes = space.encode_magnitude(np.asarray(magnitudes))
    labels = notes["instrument"].astype(str).tolist()
    novel_cents = pd.DataFrame(codes).groupby(np.asarray(labels)).mean()
    return {"train_coords": space.to_pca(train.iloc[idx][space.z_columns].to_numpy(np.float64)),
            "train_labels": train.iloc[idx]["instrument"].astype(str).tolist(),
            "train_centroids": pd.DataFrame(space.to_pca(space.centroids.to_numpy(np.float64)),
                                            index=space.centroids.index),
            "novel_coords": space.to_pca(np.atleast_2d(codes)), "novel_labels": labels,
            "novel_centroids": pd.DataFrame(space.to_pca(novel_cents.to_numpy(np.float64)),
                                            index=novel_cents.index),
            "novel_codes": np.atleast_2d(codes)}


def background(space, rng: np.random.Generator, max_points: int) -> tuple[np.ndarray, list[str]]:
    """PCA coordinates and instruments of a subsample of a space's training codes."""
    panel = latent_panel(space, rng, max_points)
    return panel["coords"], panel["labels"]


# ============================================================================ 08 descriptors
AXES = ("X", "Y", "Z")


def descriptor_sweeps(space, positions: Sequence[float], n: int
                      ) -> dict[str, dict[str, np.ndarray]]:
    """Descriptor maps on planes at ``positions`` along each PCA axis.

    Returns ``{axis name: {descriptor: (len(positions), n, n)}}``
    (:func:`vts.topology.descriptor_topology` for axes X, Y, Z).
    """

    return {name: descriptor_topology(space, k, positions, n) for k, name in enumerate(AXES)}


def topology_summary(sweeps: Mapping[str, Mapping[str, Mapping[str, np.ndarray]]]
                     ) -> pd.DataFrame:
    """How structured each descriptor map is, per model and axis.

    ``sweeps``: model -> :func:`descriptor_sweeps`. For each (model, axis,
    descriptor): the range (1st-99th percentile) of the values over all planes,
    and the *roughness*: mean absolute difference between neighbouring grid
    points divided by that range (0 = constant, small = smooth gradients,
    large = noisy map).
    """
    rows = []
    for model, by_axis in sweeps.items():
        for axis, maps in by_axis.items():
            for name, values in maps.items():
                v = np.asarray(values, dtype=float)
                lo, hi = np.nanpercentile(v, [1, 99])
                span = hi - lo
                steps = np.concatenate([np.abs(np.diff(v, axis=1)).ravel(),
                                        np.abs(np.diff(v, axis=2)).ravel()])
                rows.append({"model": model, "axis": axis, "descriptor": name,
                             "p01": lo, "p99": hi,
                             "roughness": float(np.nanmean(steps) / span) if span > 0 else 0.0})
    return pd.DataFrame(rows)


def traversal_positions(n: int, extent: float = 0.9) -> np.ndarray:
    """``n`` evenly spaced plane positions in ``[-extent, extent]`` (scaled PCA units)."""
    return np.linspace(-extent, extent, n) if n > 1 else np.zeros(1)


# ============================================================================ 09 synthesis
def synthesis_targets(space, z_origin: np.ndarray, n_steps: int, centroid_drop: float = 0.5,
                      bandwidth_rise: float = 0.5) -> dict[str, np.ndarray]:
    """The paper's two target curves, anchored at the origin's decoded descriptors.

    ``centroid``: linear descent to ``(1 - centroid_drop)`` times the origin's
    centroid; ``bandwidth``: log-shaped ascent to ``(1 + bandwidth_rise)`` times
    its bandwidth. Each has ``n_steps + 1`` points (Hz).
    """

    spectrum = path_spectra(space, z_origin)[0]
    freqs = space.transform.frequencies
    c0 = float(compute("centroid", spectrum, freqs))
    b0 = float(compute("bandwidth", spectrum, freqs))
    return {"centroid": descending_curve(c0, c0 * (1 - centroid_drop), n_steps + 1),
            "bandwidth": log_curve(b0, b0 * (1 + bandwidth_rise), n_steps + 1)}
