"""Listener ratings, dissimilarity matrices and MDS timbre spaces.

Two kinds of perceptual data are read from ``<data root>/timbre``:

``pairwise_ratings.csv``
    Every individual rating behind the combined timbre space of Esling et al.
    (2018): ``instrument_a, instrument_b, occurrence, study_inferred, subject,
    rating`` (rating already normalised to 0..1 per study).
``studies/<Study>/``
    Published dissimilarity experiments: ``dissimilarity_matrix.txt`` (mean
    dissimilarity, upper triangle) and ``stimuli/`` (row k = k-th audio file
    in sorted name order).

The combined space the VAE is regularised towards is
:func:`timbre_space`: metric MDS of the mean dissimilarity of each of the 12
rated instrument pairs (:func:`combined_dissimilarity`).
"""
from __future__ import annotations

import itertools
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.manifold import MDS

from . import config
from .data import AUDIO_EXTENSIONS, DataError, data_root
from .instruments import RATED_INSTRUMENTS, canonical, study_stimulus_instrument

RATING_COLUMNS = ("instrument_a", "instrument_b", "occurrence", "study_inferred", "subject",
                  "rating")
#: The nine studies of the data mirror, and those whose ratings also enter
#: the combined space used as the regularisation target (so a model trained
#: towards it is not independent of them).
STUDIES = ("Grey1977", "Grey1978", "Iverson1993_Onset", "Iverson1993_Remainder",
           "Iverson1993_Whole", "Lakatos2000_Comb", "Lakatos2000_Harm", "Lakatos2000_Perc",
           "McAdams1995")
STUDIES_IN_TARGET = ("Grey1977", "Lakatos2000_Comb", "Lakatos2000_Harm", "McAdams1995")


def timbre_dir() -> Path:
    """Folder holding ``pairwise_ratings.csv`` and ``studies/``.

    ``<data root>/timbre`` if it exists, else the mirror's, else ``data/timbre``.
    """
    candidates = []
    try:
        candidates.append(data_root() / "timbre")
    except DataError:
        pass
    candidates += [config.MIRROR_DIR / "timbre", config.data_dir() / "timbre"]
    for folder in candidates:
        if folder.is_dir():
            return folder
    raise DataError("no perceptual data: expected a timbre/ folder with pairwise_ratings.csv "
                    f"and studies/ in $VTS_DATA, {config.MIRROR_DIR} or {config.data_dir()}")


# --------------------------------------------------------------------------- ratings
def load_ratings(path: str | os.PathLike | None = None) -> pd.DataFrame:
    """Per-listener ratings with canonical instrument names.

    Returns
    -------
    pd.DataFrame
        Columns of :data:`RATING_COLUMNS`; instrument names canonical
        (``french-horn``), each pair ordered as in :data:`RATED_INSTRUMENTS`.

    Raises
    ------
    ValueError
        If the file lacks a column or has ratings outside 0..1 (named).
    """
    path = Path(path) if path else timbre_dir() / "pairwise_ratings.csv"
    if not path.is_file():
        raise FileNotFoundError(f"{path}: ratings file not found")
    ratings = pd.read_csv(path)
    missing = [c for c in RATING_COLUMNS if c not in ratings.columns]
    if missing:
        raise ValueError(f"{path}: missing column(s) {missing}")
    ratings = ratings.dropna(subset=["rating"])
    bad = ~ratings["rating"].between(0.0, 1.0)
    if bad.any():
        raise ValueError(f"{path}: {int(bad.sum())} rating(s) outside 0..1, e.g. row "
                         f"{ratings.index[bad][0] + 2}")
    a = ratings["instrument_a"].map(canonical)
    b = ratings["instrument_b"].map(canonical)
    order = {name: i for i, name in enumerate(RATED_INSTRUMENTS)}
    swap = a.map(lambda x: order.get(x, 99)) > b.map(lambda x: order.get(x, 99))
    ratings["instrument_a"], ratings["instrument_b"] = a.where(~swap, b), b.where(~swap, a)
    return ratings.reset_index(drop=True)


def pair_summary(ratings: pd.DataFrame | None = None) -> pd.DataFrame:
    """Mean, standard deviation and count of the ratings of each instrument pair.

    The released code of the paper fits a Gaussian per pair; its mean and
    standard deviation are these.
    """
    ratings = load_ratings() if ratings is None else ratings
    grouped = ratings.groupby(["instrument_a", "instrument_b"], sort=False)["rating"]
    return grouped.agg(mean="mean", std="std", count="count").reset_index()


def combined_dissimilarity(ratings: pd.DataFrame | None = None) -> pd.DataFrame:
    """The instruments × instruments matrix of mean ratings (symmetric, zero diagonal, 0..1).

    Instruments are the rated ones present, in the order of
    :data:`RATED_INSTRUMENTS`.

    Raises
    ------
    ValueError
        If some pair of instruments has no rating (the pair is named).
    """
    pairs = pair_summary(ratings)
    present = set(pairs["instrument_a"]) | set(pairs["instrument_b"])
    names = [n for n in RATED_INSTRUMENTS if n in present] + sorted(present - set(RATED_INSTRUMENTS))
    position = {name: k for k, name in enumerate(names)}
    values = np.full((len(names), len(names)), np.nan)
    np.fill_diagonal(values, 0.0)
    for a, b, mean in pairs[["instrument_a", "instrument_b", "mean"]].itertuples(index=False):
        values[position[a], position[b]] = values[position[b], position[a]] = mean
    if np.isnan(values).any():
        i, j = np.argwhere(np.isnan(values))[0]
        raise ValueError(f"no rating for the pair {names[i]} / {names[j]}")
    index = pd.Index(names, name="instrument")
    return pd.DataFrame(values, index=index, columns=index.copy())


# --------------------------------------------------------------------------- MDS
def kruskal_stress(dissimilarity: np.ndarray, coords: np.ndarray) -> float:
    """Kruskal's stress-1: sqrt(Σ(d_ij − δ_ij)² / Σ δ_ij²) over pairs i<j."""
    iu = np.triu_indices(len(dissimilarity), 1)
    target = np.asarray(dissimilarity)[iu]
    fitted = np.linalg.norm(coords[:, None] - coords[None], axis=-1)[iu]
    return float(np.sqrt(np.sum((fitted - target) ** 2) / np.sum(target ** 2)))


def mds(dissimilarity: np.ndarray, n_components: int = 3, seed: int = config.DEFAULT_SEED,
        n_init: int = 8) -> tuple[np.ndarray, float]:
    """Seeded metric MDS of a dissimilarity matrix.

    The solution is centred and rotated onto its principal axes (largest
    spread first, sign fixed so the first point has non-negative
    coordinates), so that the same data always give the same picture.

    Parameters
    ----------
    dissimilarity : np.ndarray, shape (n, n)
        Symmetric, zero diagonal.
    n_components : int
        Dimension of the space (1 ≤ n_components < n).
    seed : int
        Random state of the SMACOF initialisations.
    n_init : int
        Number of initialisations; the one of least stress is kept.

    Returns
    -------
    coords : np.ndarray, shape (n, n_components)
    stress : float
        Kruskal stress-1 of the solution (0 = perfect).
    """

    d = np.asarray(dissimilarity, dtype=float)
    if d.ndim != 2 or d.shape[0] != d.shape[1]:
        raise ValueError(f"dissimilarity must be square, got shape {d.shape}")
    if not np.allclose(d, d.T) or np.any(np.diag(d) != 0) or not np.isfinite(d).all():
        raise ValueError("dissimilarity must be finite, symmetric with a zero diagonal")
    if not 1 <= n_components < len(d):
        raise ValueError(f"n_components must be in 1..{len(d) - 1}, got {n_components}")
    model = MDS(n_components=n_components, metric_mds=True, metric="precomputed",
                n_init=n_init, init="random", random_state=seed, max_iter=3000, eps=1e-9)
    coords = model.fit_transform(d)
    coords = coords - coords.mean(axis=0)
    _, _, vt = np.linalg.svd(coords, full_matrices=False)
    coords = coords @ vt.T
    coords *= np.where(coords[0] < 0, -1.0, 1.0)
    return coords, kruskal_stress(d, coords)


def timbre_space(n_components: int = 3, seed: int = config.DEFAULT_SEED,
                 ratings: pd.DataFrame | None = None) -> pd.DataFrame:
    """The perceptual timbre space T: MDS of :func:`combined_dissimilarity`.

    Returns
    -------
    pd.DataFrame
        Index: instruments; columns ``dim1`` ... ``dim<n_components>``;
        ``.attrs["stress"]`` holds the Kruskal stress-1.
    """
    matrix = combined_dissimilarity(ratings)
    coords, stress = mds(matrix.values, n_components, seed)
    space = pd.DataFrame(coords, index=matrix.index,
                         columns=[f"dim{k + 1}" for k in range(n_components)])
    space.attrs["stress"] = stress
    return space


# --------------------------------------------------------------------------- studies
@dataclass
class Study:
    """One published dissimilarity experiment."""

    name: str
    dissimilarity: pd.DataFrame          #: (n, n) symmetric, labels = stimulus file stems
    stimuli: list[Path]                  #: audio files in matrix order
    instruments: list[str | None] = field(default_factory=list)  #: canonical or None (hybrid)

    def __len__(self) -> int:
        return len(self.stimuli)


def studies_dir() -> Path:
    return timbre_dir() / "studies"


def read_dissimilarity_matrix(path: str | os.PathLike) -> np.ndarray:
    """Read a square matrix stored as its upper triangle (or in full) and symmetrise it.

    Raises
    ------
    ValueError
        Naming the file, if it is not a numeric matrix, not square, smaller than
        3 x 3, if it holds NaN / inf, if a dissimilarity is negative, or
        if they are all equal (a constant matrix carries no ordering to agree with).
    """
    path = Path(path)
    try:
        values = np.loadtxt(path, dtype=float, ndmin=2)
    except (OSError, ValueError) as error:
        raise ValueError(f"{path}: cannot read a numeric matrix ({error})") from error
    if values.shape[0] != values.shape[1]:
        raise ValueError(f"{path}: matrix is not square ({values.shape[0]}×{values.shape[1]})")
    if len(values) < 3:
        raise ValueError(f"{path}: a {len(values)}×{len(values)} matrix; a study needs at "
                         "least 3 stimuli")
    off = ~np.eye(len(values), dtype=bool)
    if not np.isfinite(values).all():
        i, j = np.argwhere(~np.isfinite(values))[0]
        raise ValueError(f"{path}: matrix has non-finite values (row {i + 1}, column {j + 1}: "
                         f"{values[i, j]})")
    if (values[off] < 0).any():
        i, j = np.argwhere((values < 0) & off)[0]
        raise ValueError(f"{path}: negative dissimilarity {values[i, j]:g} (row {i + 1}, "
                         f"column {j + 1}); dissimilarities are >= 0")
    upper = np.triu(values, 1)
    lower = np.tril(values, -1).T
    if np.any(lower):  # stored in full: average the two halves
        upper = (upper + lower) / 2
    pairs = upper[np.triu_indices(len(values), 1)]
    if np.ptp(pairs) == 0:
        raise ValueError(f"{path}: every dissimilarity is {pairs[0]:g}; a constant matrix "
                         "says nothing about which stimuli are alike")
    return upper + upper.T


def load_study(study: str | os.PathLike) -> Study:
    """Load a study by name (one of :data:`STUDIES`) or folder.

    Raises
    ------
    ValueError
        If the matrix is invalid (:func:`read_dissimilarity_matrix`) or its size
        differs from the number of audio stimuli (both given); the file is named.
    """
    folder = Path(study)
    if not folder.is_dir():
        folder = studies_dir() / str(study)
    if not folder.is_dir():
        raise FileNotFoundError(f"{study}: no such study folder (known: {', '.join(STUDIES)})")
    matrix_path = folder / "dissimilarity_matrix.txt"
    if not matrix_path.is_file():
        raise FileNotFoundError(f"{matrix_path}: missing")
    stimuli = sorted(p for p in (folder / "stimuli").glob("*")
                     if p.suffix.lower() in AUDIO_EXTENSIONS)
    matrix = read_dissimilarity_matrix(matrix_path)
    if len(matrix) != len(stimuli):
        raise ValueError(f"{matrix_path}: {len(matrix)} rows but {len(stimuli)} audio stimuli "
                         f"in {folder / 'stimuli'}")
    labels = [p.stem for p in stimuli]
    return Study(name=folder.name,
                 dissimilarity=pd.DataFrame(matrix, index=labels, columns=labels),
                 stimuli=stimuli,
                 instruments=[study_stimulus_instrument(p.name) for p in stimuli])


def list_studies() -> list[str]:
    """Names of the study folders present, sorted (none when the data root has no ``studies/``)."""
    folder = studies_dir()
    if not folder.is_dir():
        return []
    return sorted(p.name for p in folder.iterdir() if (p / "dissimilarity_matrix.txt").is_file())


def study_mds(study: Study | str, n_components: int = 2,
              seed: int = config.DEFAULT_SEED) -> pd.DataFrame:
    """MDS of one study's matrix: stimuli × ``dim1..``, with ``instrument`` and stress attrs."""
    study = study if isinstance(study, Study) else load_study(study)
    coords, stress = mds(study.dissimilarity.values, n_components, seed)
    space = pd.DataFrame(coords, index=study.dissimilarity.index,
                         columns=[f"dim{k + 1}" for k in range(n_components)])
    space["instrument"] = study.instruments
    space.attrs.update(stress=stress, study=study.name)
    return space


def cooccurrence(studies: list[Study] | None = None) -> pd.DataFrame:
    """How many studies contain both instruments of each pair.

    An instrument counts once per study however many of its stimuli there are;
    hybrid stimuli are ignored. The diagonal is the number of studies holding
    the instrument. Rows and columns are sorted by that number, most first.
    """
    studies = [load_study(s) for s in list_studies()] if studies is None else studies
    present = [sorted({i for i in s.instruments if i}) for s in studies]
    names = sorted({i for p in present for i in p})
    position = {name: k for k, name in enumerate(names)}
    values = np.zeros((len(names), len(names)), dtype=int)
    for instruments in present:
        for a, b in itertools.product(instruments, repeat=2):
            values[position[a], position[b]] += 1
    counts = pd.DataFrame(values, index=names, columns=names)
    order = sorted(names, key=lambda n: (-counts.loc[n, n], n))
    return counts.loc[order, order]


def most_cooccurring(counts: pd.DataFrame, k: int = 14) -> pd.DataFrame:
    """The ``k`` instruments present in the most studies (sub-matrix of :func:`cooccurrence`)."""
    order = sorted(counts.index, key=lambda n: (-counts.loc[n, n], n))[:k]
    return counts.loc[order, order]
