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
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from IPython import get_ipython
from tqdm.auto import tqdm

from .. import config
from .. import paths as syn
from ..data import dynamics_ordinal, parse_note
from ..dsp import get_transform, griffin_lim, spectral_convergence, sustained_frame
from ..dsp.descriptors import compute
from ..features import training_features
from ..io import load_audio
from ..metrics import PAPER_RESULTS
from ..paths import path_spectra, spectral_distance
from ..profiles import PROFILES, FigureSettings, get_settings
from ..space import TimbreSpace
from ..topology import descending_curve, descriptor_topology, log_curve
from ..train import model_plan, space_is_current, space_kinds, train_all
from . import figures

#: Folder of the notebooks of the repository.
NOTEBOOKS_DIR = config.PROJECT_ROOT / "notebooks"
#: Jupyter kernel the notebooks run on (ipykernel's native kernel: the runner's
#: own interpreter, i.e. the project's venv).
KERNEL_NAME = "python3"
#: A notebook file name: two digits, underscore, name.
NOTEBOOK_PATTERN = re.compile(r"^(\d{2})_[A-Za-z0-9_]+\.ipynb$")


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
#: The interpolation pairs of notebook 07, in the companion page's order: group name ->
#: pairs ``(start, end, same_pitch)``. With ``same_pitch`` both notes are taken at
#: the pitch they share nearest to the start's (:func:`pick_pair`); otherwise each
#: note is the nearest one to its own wish. "Alto sax" is the corpus' ``saxophone``;
#: violin and piano (tonejs) have no dynamic. ``featured``: the companion page's two
#: videos (violin -> clarinet); ``paper-and-project``: the paper's Piccolo E5 f -> French horn
#: A4 ff (flute instead of the absent piccolo) and this project's own three.
PATH_GROUPS: dict[str, tuple[tuple[NoteSpec, NoteSpec, bool], ...]] = {
    "featured": (
        (NoteSpec("violin", "C5"), NoteSpec("clarinet", "C5", "f"), True),
    ),
    "same-pitch": (
        (NoteSpec("bassoon", "G4", "f"), NoteSpec("clarinet", "G4", "f"), True),
        (NoteSpec("clarinet", "A4", "f"), NoteSpec("saxophone", "A4", "f"), True),
        (NoteSpec("french-horn", "G4", "ff"), NoteSpec("trombone", "G4", "ff"), True),
    ),
    "changing-pitch": (
        (NoteSpec("bassoon", "C3", "f"), NoteSpec("cello", "G3", "f"), False),
        (NoteSpec("english-horn", "E4", "f"), NoteSpec("violin", "A4"), False),
        (NoteSpec("violin", "E5"), NoteSpec("saxophone", "A4", "f"), False),
        (NoteSpec("oboe", "A4", "f"), NoteSpec("clarinet", "E4", "f"), False),
        (NoteSpec("saxophone", "D4", "f"), NoteSpec("bassoon", "G3", "f"), False),
    ),
    "more-pairs": (
        (NoteSpec("saxophone", "C4", "f"), NoteSpec("clarinet", "G4", "f"), False),
        (NoteSpec("saxophone", "G4", "f"), NoteSpec("piano", "C4"), False),
        (NoteSpec("piano", "A4"), NoteSpec("english-horn", "E4", "f"), False),
        (NoteSpec("violin", "G4"), NoteSpec("english-horn", "C5", "f"), False),
        (NoteSpec("piano", "E4"), NoteSpec("saxophone", "A4", "f"), False),
    ),
    "paper-and-project": (
        (NoteSpec("flute", "E5", "f"), NoteSpec("french-horn", "A4", "ff"), False),
        (NoteSpec("clarinet", "C5", "f"), NoteSpec("cello", "C5", "f"), True),
        (NoteSpec("oboe", "G4", "f"), NoteSpec("trombone", "G4", "f"), True),
        (NoteSpec("saxophone", "D4", "f"), NoteSpec("violin", "A5", None), False),
    ),
}
#: Every pair of :data:`PATH_GROUPS`, in order.
INTERPOLATION_PAIRS: tuple[tuple[NoteSpec, NoteSpec, bool], ...] = tuple(
    pair for pairs in PATH_GROUPS.values() for pair in pairs)
#: Weight of the notes' own motion in an expressive path (the paper's 0.7).
EXPRESSIVE_SCALE = 0.7
#: Multiples of the expressive translation (the notes' own motion, weight
#: :data:`EXPRESSIVE_SCALE`) of the "expressive and experimental interpolation" sounds ...
TRANSLATION_FACTORS = (0.5, 1.0, 2.0)
#: ... made for these pairs of :data:`PATH_GROUPS` (group, number from 1).
EXPERIMENTAL_PAIRS = (("featured", 1), ("paper-and-project", 1))


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
    """Train what is missing (:func:`vts.train.train_all` skips current spaces) and load.

    Returns
    -------
    dict
        Model name (``nsgt-erb-l2``) -> :class:`vts.space.TimbreSpace`,
        in the order of :func:`vts.train.model_plan` (per transform vanilla first,
        for :data:`vts.train.BANDED_TRANSFORMS`, banded; transforms in the order given).
    """

    transforms = tuple(ctx.settings.transforms if transforms is None else transforms)
    plan = model_plan(transforms, ctx.profile)
    # train_all's own skip test, done first: when every space is current the
    # perceptual target (an MDS) need not be recomputed just to skip them.
    features = {t: training_features(t, progress) for t in transforms}
    current = all(space_is_current(ctx.models_dir / name, features[t], c, r)
                  for name, t, r, c in plan)
    if not current:
        train_all(profile=ctx.profile, transforms=transforms, out_root=ctx.models_dir,
                  progress=progress)
    return {name: TimbreSpace.load(ctx.models_dir / name) for name, *_ in plan}


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


def pick_pair(catalog: pd.DataFrame, a: NoteSpec, b: NoteSpec, same_pitch: bool,
              verbose: bool = True) -> tuple[pd.Series, pd.Series]:
    """Two notes for an interpolation; with ``same_pitch`` both at the pitch they share
    that is nearest to ``a``'s wanted pitch (falls back to nearest notes when they share none)."""

    if same_pitch:
        pa = set(pd.to_numeric(catalog.loc[catalog["instrument"] == a.instrument, "pitch"],
                               errors="coerce").dropna().astype(int))
        pb = set(pd.to_numeric(catalog.loc[catalog["instrument"] == b.instrument, "pitch"],
                               errors="coerce").dropna().astype(int))
        common = sorted(pa & pb)
        if common:
            want = parse_note(a.note)[1] if a.note else common[len(common) // 2]
            pitch = min(common, key=lambda p: (abs(p - want), p))
            return (pick_note(catalog, a, pitch, verbose), pick_note(catalog, b, pitch, verbose))
        if verbose:
            print(f"{a.instrument} and {b.instrument} share no pitch: nearest notes instead")
    return pick_note(catalog, a, verbose=verbose), pick_note(catalog, b, verbose=verbose)


@dataclass(frozen=True)
class ChosenPair:
    """A pair of :data:`PATH_GROUPS` with the catalogue notes chosen for it.

    ``tag``: ``<group><k>_<start>_to_<end>``, the file-name stem of its artefacts
    (sounds ``<tag>_<column>.wav`` form one row of the page's table of players).
    """

    group: str
    number: int
    start: pd.Series
    end: pd.Series
    tag: str

    @property
    def label(self) -> str:
        return f"{note_label(self.start)} → {note_label(self.end)}"


def pick_pairs(catalog: pd.DataFrame,
               groups: Mapping[str, Sequence[tuple[NoteSpec, NoteSpec, bool]]] | None = None,
               verbose: bool = True) -> list[ChosenPair]:
    """The notes of every pair of ``groups`` (default :data:`PATH_GROUPS`), by :func:`pick_pair`.

    A pair whose instrument has no note in the catalogue is skipped with a printed
    reason; pairs are numbered within their group from 1 (skipped ones keep their
    number, so a tag names the same pair in every corpus).
    """
    chosen = []
    for group, pairs in (PATH_GROUPS if groups is None else groups).items():
        for k, (a, b, same) in enumerate(pairs, start=1):
            try:
                start, end = pick_pair(catalog, a, b, same, verbose)
            except LookupError as error:
                print(f"{group} pair {k} ({a} → {b}) skipped: {error}")
                continue
            tag = f"{group}{k}_{slug(note_label(start))}_to_{slug(note_label(end))}"
            chosen.append(ChosenPair(group, k, start, end, tag))
    return chosen


def note_excerpt(path, seconds: float, top_db: float = 60.0, fade_seconds: float = 0.05
                 ) -> np.ndarray:
    """The first ``seconds`` of a note from its onset, as the paths' sounds are heard.

    The file is decoded and resampled to the project's rate (:func:`vts.io.load_audio`),
    leading silence (frames more than ``top_db`` dB under the loudest) is dropped, and
    the excerpt fades out over ``fade_seconds`` when it cuts the note short.
    """
    audio = load_audio(path).astype(np.float64)
    hop = 256
    n = max(1, len(audio) // hop)
    energy = 10 * np.log10(np.maximum((audio[:n * hop].reshape(n, hop) ** 2).mean(axis=1),
                                      1e-20)) if len(audio) >= hop else np.zeros(1)
    onset = int(np.flatnonzero(energy >= energy.max() - top_db)[0]) * hop
    out = audio[onset:onset + max(1, round(seconds * config.SAMPLE_RATE))].copy()
    if len(audio) - onset > len(out):
        fade = min(len(out), int(fade_seconds * config.SAMPLE_RATE))
        out[len(out) - fade:] *= np.linspace(1.0, 0.0, fade)
    return out.astype(np.float32)


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
    kind = space.config.get("kind", "regularized" if space.regularized else "vanilla")
    title = (f"{space.transform_name} {kind}\nsilhouette {m.get('silhouette_pca', np.nan):.2f}, "
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
    """Our Table 1 rows (:func:`vts.space.write_table1`) with the paper's values beside them.

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
    codes = space.encode_magnitude(np.asarray(magnitudes).T)
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


# ============================================================================ 07 paths
@dataclass
class PairPaths:
    """The notes of an interpolation pair and its paths in one space.

    ``paths``: ``linear`` and ``spherical`` with ``n_points`` points between the
    notes' sustained-frame codes ``z_a``, ``z_b``; ``expressive`` with one point
    per transform frame of the sound. ``traj_a``, ``traj_b``: the notes' own
    frame-by-frame codes (:func:`vts.paths.note_trajectory`); ``n_frames``: points
    of an expressive path.
    """

    label: str
    start: pd.Series
    end: pd.Series
    z_a: np.ndarray
    z_b: np.ndarray
    paths: dict[str, np.ndarray] = field(default_factory=dict)   #: name -> (n, d)
    traj_a: np.ndarray | None = None
    traj_b: np.ndarray | None = None
    n_frames: int = 2

    def expressive(self, scale: float) -> np.ndarray:
        """The expressive path with the notes' own motion weighted by ``scale``
        (the paper's 0.7; 0 gives the spherical path)."""
        return syn.expressive_path(self.traj_a, self.traj_b, self.n_frames, scale=scale,
                                   z_a=self.z_a, z_b=self.z_b)


def interpolation_paths(space, start: pd.Series, end: pd.Series, n_points: int,
                        seconds: float, scale: float = EXPRESSIVE_SCALE) -> PairPaths:
    """Linear, spherical and expressive paths between two catalogue notes.

    ``linear`` / ``spherical``: ``n_points`` points between the notes'
    sustained-frame codes; ``expressive``: the spherical path plus each note's
    own frame-by-frame motion (:func:`vts.paths.expressive_path`, weight
    ``scale``), one point per transform frame over ``seconds``.
    """

    z_a, z_b = space.encode_audio([start["path"], end["path"]]).astype(np.float64)
    traj_a = syn.note_trajectory(space, start["path"])
    traj_b = syn.note_trajectory(space, end["path"])
    n_frames = max(2, round(seconds / space.transform.hop_seconds))
    label = f"{note_label(start)} → {note_label(end)}"
    pair = PairPaths(label, start, end, z_a, z_b, {
        "linear": syn.linear_path(z_a, z_b, n_points),
        "spherical": syn.spherical_path(z_a, z_b, n_points)}, traj_a, traj_b, n_frames)
    pair.paths["expressive"] = pair.expressive(scale)
    return pair


def linear_vs_spherical(space, pair: PairPaths) -> dict:
    """Do linear and spherical paths give the same spectra? Measured on decoded spectra.

    Returns
    -------
    dict
        ``per_step``: DataFrame ``step, linear_vs_spherical_db`` (log-spectral
        distance of the two paths' decoded spectra at each step, dB);
        ``mean_db``, ``max_db``; ``endpoints_db`` (distance between the two end
        notes' decoded spectra, the scale of the change along a path);
        ``latent_gap_rel`` (largest latent distance between the two paths over
        the end points' distance); ``linear_loudness_range_db`` and
        ``spherical_loudness_range_db`` (loudest minus quietest step of each path's
        decoded spectra, :func:`vts.dsp.descriptors.loudness`: a path that swells or
        dips in level between its ends); ``spectra``: both paths' decoded spectra.
    """

    lin, sph = pair.paths["linear"], pair.paths["spherical"]
    s_lin, s_sph = path_spectra(space, lin), path_spectra(space, sph)
    per_step = spectral_distance(s_lin, s_sph, per_frame=True)
    ends = spectral_distance(s_lin[0], s_lin[-1])
    gap = float(np.max(np.linalg.norm(lin - sph, axis=1)) / max(np.linalg.norm(lin[-1] - lin[0]),
                                                                  1e-12))
    freqs = space.transform.frequencies
    ranges = {f"{name}_loudness_range_db": float(np.ptp(compute("loudness", spec, freqs)))
              for name, spec in (("linear", s_lin), ("spherical", s_sph))}
    return {"per_step": pd.DataFrame({"step": np.arange(len(per_step)),
                                      "linear_vs_spherical_db": per_step}),
            "mean_db": float(per_step.mean()), "max_db": float(per_step.max()),
            "endpoints_db": float(ends), "latent_gap_rel": gap, **ranges,
            "spectra": {"linear": s_lin, "spherical": s_sph}}


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
