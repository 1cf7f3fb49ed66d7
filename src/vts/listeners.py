"""Agreement of a timbre space with listeners' dissimilarity ratings of *new* sounds.

The paper only checks that class centroids line up with the target the model
was trained towards. Here a space is measured the way audio representations
are measured against published timbre studies: every stimulus of a study is
embedded, pairwise distances between the embeddings are correlated with the
listeners' mean dissimilarities, and the same is done, in the same call and on
the same decoded audio, for simple baselines.

Stimulus -> one point
---------------------
Every stimulus is decoded with :func:`vts.io.load_audio` (any format
libsndfile reads, channels averaged to mono, resampled with soxr to
:data:`vts.config.SAMPLE_RATE`) and analysed at its stored level (the studies
equalised loudness; no re-normalisation is applied). Then, with
``pooling="sustained"`` (default):

* the stimulus is cut / zero-padded to the feature pipeline's analysis window
  (:func:`vts.dsp.analysis_window`, first 2 s), analysed by the space's
  transform, and the *sustained frame* is picked by the very rule that made the
  training frames (:func:`vts.dsp.sustained_frame`): the model sees a
  stimulus exactly as it saw a training note, and a stimulus shorter than the
  window (e.g. the 90 ms Iverson onsets) is simply zero-padded;
* the frame is normalised by the space's corpus normaliser and encoded; the
  stimulus' point is the **posterior mean** of that one frame (what
  :meth:`vts.space.TimbreSpace.encode_audio` returns).

With ``pooling="mean"`` every *active* frame of the whole stimulus (frame
energy within :data:`ACTIVE_DB` dB of the loudest frame) is encoded and the
point is the **mean of the frame posterior means** (so attack and decay count,
although the model never saw such frames in training).

Representations and distances
-----------------------------
``latent``
    Euclidean distance between the stimuli's latent points (full latent
    dimension, no PCA).
``spectral``
    Euclidean distance between the normalised log-magnitude frames the encoder
    receives (same transform, same normaliser, same pooling as ``latent``):
    what the space adds over its own input.
``mfcc``
    Euclidean distance between mean MFCC vectors (:func:`librosa.feature.mfcc`,
    20 coefficients including c0, on the 22,050 Hz audio, averaged over the
    active frames).
``centroid``
    Absolute difference (Hz) of the mean spectral centroid
    (:func:`librosa.feature.spectral_centroid`, averaged over the active frames).

Statistics
----------
Over the ``n (n - 1) / 2`` stimulus pairs: Spearman and Pearson correlation
between representation distances and the listeners' dissimilarities, and a
Mantel permutation test (:func:`mantel_test`) of the Spearman statistic:
rows and columns of the distance matrix are permuted together,
``p = (count + 1) / (n_permutations + 1)`` with ``count`` the permutations
whose statistic is at least the observed one (one-sided: the space is
expected to *agree* with the listeners). All representations of a study are
tested against the same permutations.
"""
from __future__ import annotations

import os
import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import librosa
import numpy as np
import pandas as pd
from matplotlib.colors import TwoSlopeNorm
from matplotlib.figure import Figure
from scipy.stats import pearsonr, rankdata, spearmanr
from tqdm.auto import tqdm

from . import config
from . import dsp as transforms
from .io import atomic_path, load_audio
from .perception import STUDIES_IN_TARGET, list_studies, load_study
from .space import TimbreSpace

#: Names of the baselines, in display order.
BASELINES = ("mfcc", "centroid", "spectral")
#: Every representation :func:`study_alignment` can report.
REPRESENTATIONS = ("latent",) + BASELINES
#: How a stimulus becomes one point.
POOLINGS = ("sustained", "mean")
#: Frames whose energy is more than this many dB below a stimulus' loudest
#: frame are ignored when averaging (MFCC, centroid, ``pooling="mean"``).
ACTIVE_DB = 30.0
#: MFCC settings of the baseline (librosa defaults: 2048-point FFT, hop 512).
N_MFCC = 20
MFCC_N_FFT = 2048
MFCC_HOP = 512
#: Permutations of the Mantel test.
N_PERMUTATIONS = 9999
#: Columns of :func:`study_alignment` and :func:`evaluate_models`.
ALIGNMENT_COLUMNS = ["study", "representation", "spearman", "pearson", "mantel_p", "n_stimuli",
                     "n_pairs", "pooling"]
TABLE_COLUMNS = ["model", "study", "representation", "label", "kind", "transform", "regularized",
                 "in_target", "spearman", "pearson", "mantel_p", "n_stimuli", "n_pairs",
                 "pooling"]
_LABELS = {"mfcc": "MFCC mean", "centroid": "spectral centroid"}


# --------------------------------------------------------------------------- Mantel test
@dataclass(frozen=True)
class MantelResult:
    """Outcome of :func:`mantel_test`.

    Attributes
    ----------
    statistic : float
        Correlation (Spearman or Pearson) between the two condensed matrices.
    p_value : float
        ``(count + 1) / (n_permutations + 1)``.
    count : int
        Permutations whose statistic is >= the observed one (``|.|`` for two-sided).
    n_permutations : int
    method, alternative : str
    """

    statistic: float
    p_value: float
    count: int
    n_permutations: int
    method: str
    alternative: str


def condensed(matrix) -> np.ndarray:
    """The upper triangle (``i < j``, row-major) of a square matrix, shape ``(n (n - 1) / 2,)``."""
    m = _square(matrix, "matrix")
    return m[np.triu_indices(len(m), 1)]


def _square(matrix, what: str) -> np.ndarray:
    m = np.asarray(matrix, dtype=np.float64)
    if m.ndim != 2 or m.shape[0] != m.shape[1]:
        raise ValueError(f"{what} must be a square matrix, got shape {m.shape}")
    if not np.isfinite(m).all():
        raise ValueError(f"{what} has non-finite values")
    return m


def _standardize(v: np.ndarray) -> np.ndarray | None:
    """Centre and scale rows to unit norm (None if a vector is constant)."""
    c = v - v.mean(axis=-1, keepdims=True)
    norm = np.linalg.norm(c, axis=-1, keepdims=True)
    if np.any(norm <= 1e-12 * max(1.0, float(np.abs(v).max(initial=0.0)))):
        return None
    return c / norm


def mantel_test(x, y, n_permutations: int = N_PERMUTATIONS, method: str = "spearman",
                alternative: str = "greater", seed: int = config.DEFAULT_SEED) -> MantelResult:
    """Mantel permutation test of the association between two distance matrices.

    The statistic is the correlation between the upper triangles of ``x`` and
    ``y``. Its null distribution is obtained by permuting the rows and columns
    of ``y`` together (relabelling the stimuli), which keeps the dependence
    between pairs that share a stimulus.

    Parameters
    ----------
    x, y : array-like, shape (n, n)
        Symmetric distance / dissimilarity matrices over the same ``n`` >= 3
        objects (only the upper triangles are read).
    n_permutations : int
        Random permutations (>= 1). Permutations are drawn with replacement, so
        the identity may be drawn: the test stays exact.
    method : {"spearman", "pearson"}
    alternative : {"greater", "two-sided"}
        ``greater``: count permutations with statistic >= observed;
        ``two-sided``: with ``|statistic| >= |observed|``.
    seed : int
        Seed of the permutations (same seed, same ``n``: same permutations).

    Returns
    -------
    MantelResult
        ``p_value = (count + 1) / (n_permutations + 1)``; NaN statistic and
        p-value if either matrix has constant off-diagonal values.
    """

    x, y = _square(x, "x"), _square(y, "y")
    if x.shape != y.shape:
        raise ValueError(f"x and y differ in shape: {x.shape} vs {y.shape}")
    n = len(x)
    if n < 3:
        raise ValueError(f"need at least 3 objects for a Mantel test, got {n}")
    if method not in ("spearman", "pearson"):
        raise ValueError(f"method must be 'spearman' or 'pearson', got {method!r}")
    if alternative not in ("greater", "two-sided"):
        raise ValueError(f"alternative must be 'greater' or 'two-sided', got {alternative!r}")
    if int(n_permutations) != n_permutations or n_permutations < 1:
        raise ValueError(f"n_permutations must be a positive integer, got {n_permutations!r}")
    n_permutations = int(n_permutations)
    iu = np.triu_indices(n, 1)
    a, b = x[iu], y[iu]
    if method == "spearman":     # ranks of a permuted matrix are the permuted ranks
        a, b = rankdata(a), rankdata(b)
    y_values = np.zeros((n, n))
    y_values[iu] = b
    y_values = y_values + y_values.T
    a_std, b_std = _standardize(a), _standardize(b)
    if a_std is None or b_std is None:
        return MantelResult(float("nan"), float("nan"), 0, n_permutations, method, alternative)
    observed = float(np.clip(a_std @ b_std, -1.0, 1.0))
    reference = abs(observed) if alternative == "two-sided" else observed
    tolerance = 1e-10
    rng = np.random.default_rng(seed)
    count, done, chunk = 0, 0, 2000
    while done < n_permutations:
        k = min(chunk, n_permutations - done)
        perms = rng.permuted(np.tile(np.arange(n), (k, 1)), axis=1)
        permuted = y_values[perms[:, iu[0]], perms[:, iu[1]]]          # (k, n_pairs)
        stats = _standardize(permuted) @ a_std
        if alternative == "two-sided":
            stats = np.abs(stats)
        count += int(np.sum(stats >= reference - tolerance))
        done += k
    return MantelResult(observed, (count + 1) / (n_permutations + 1), count, n_permutations,
                        method, alternative)


def correlations(distances, dissimilarity) -> tuple[float, float]:
    """Spearman and Pearson correlation of two matrices' upper triangles (NaN if one is constant)."""

    a, b = condensed(distances), condensed(dissimilarity)
    if a.shape != b.shape:
        raise ValueError(f"matrices differ in size: {len(a)} vs {len(b)} pairs")
    if len(a) < 2 or np.ptp(a) == 0 or np.ptp(b) == 0:
        return float("nan"), float("nan")
    return float(spearmanr(a, b).statistic), float(pearsonr(a, b).statistic)


def pairwise_distances(points) -> np.ndarray:
    """Euclidean distances ``(n, n)`` between the rows of ``points`` ``(n, d)`` (or ``(n,)``)."""
    p = np.asarray(points, dtype=np.float64)
    if p.ndim == 1:
        p = p[:, None]
    if p.ndim != 2:
        raise ValueError(f"points must have shape (n, d), got {p.shape}")
    diff = p[:, None, :] - p[None, :, :]
    return np.sqrt(np.sum(diff ** 2, axis=-1))


# --------------------------------------------------------------------------- audio of a study
@dataclass
class StudyAudio:
    """A study with its stimuli decoded once (shared by every model evaluated on it).

    Attributes
    ----------
    name : str
        Study folder name.
    folder : Path
    dissimilarity : np.ndarray, shape (n, n)
        Listeners' mean dissimilarities, symmetric, in stimulus order.
    stimuli : list of Path
        Audio files in matrix order (sorted names).
    signals : list of np.ndarray
        Mono float32 audio at :data:`vts.config.SAMPLE_RATE`.
    """

    name: str
    folder: Path
    dissimilarity: np.ndarray
    stimuli: list
    signals: list

    def __len__(self) -> int:
        return len(self.stimuli)

    @property
    def in_target(self) -> bool:
        """Whether the study's ratings also fed the regularisation target (not independent)."""

        return self.name in STUDIES_IN_TARGET


def load_study_audio(study_dir: str | os.PathLike) -> StudyAudio:
    """Read a study folder (or a study name, see :func:`vts.perception.load_study`).

    The folder holds ``dissimilarity_matrix.txt`` (upper triangle or full) and
    ``stimuli/``, whose audio files in sorted name order are the matrix rows.

    Raises
    ------
    FileNotFoundError, ValueError
        Missing folder or matrix, size mismatch, fewer than 3 stimuli, a
        stimulus that cannot be decoded or is silent (the file is named).
    """

    study = load_study(study_dir)
    if len(study) < 3:
        raise ValueError(f"{study_dir}: a study needs at least 3 stimuli, found {len(study)}")
    signals = []
    for path in study.stimuli:
        signal = load_audio(path, config.SAMPLE_RATE)
        if signal.size == 0 or not np.any(np.abs(signal) > 0):
            raise ValueError(f"{path}: stimulus is silent")
        if not np.isfinite(signal).all():
            raise ValueError(f"{path}: stimulus has non-finite samples")
        signals.append(signal)
    folder = Path(study.stimuli[0]).parent.parent
    return StudyAudio(name=study.name, folder=folder,
                      dissimilarity=study.dissimilarity.to_numpy(dtype=np.float64),
                      stimuli=list(study.stimuli), signals=signals)


# --------------------------------------------------------------------------- baselines
def _padded(audio: np.ndarray, n_samples: int) -> np.ndarray:
    audio = np.asarray(audio, dtype=np.float32)
    if audio.ndim != 1:
        raise ValueError(f"expected mono audio (n_samples,), got shape {audio.shape}")
    return np.pad(audio, (0, max(0, n_samples - audio.size)))


def _active(power: np.ndarray, active_db: float) -> np.ndarray:
    """Mask of frames whose power is within ``active_db`` dB of the loudest one."""
    power = np.asarray(power, dtype=np.float64)
    if not np.any(power > 0):
        raise ValueError("every frame is silent")
    return power >= power.max() * 10.0 ** (-active_db / 10.0)


def _librosa_frames(audio: np.ndarray, sample_rate: int, active_db: float):

    x = _padded(audio, MFCC_N_FFT)
    spectrum = np.abs(librosa.stft(x, n_fft=MFCC_N_FFT, hop_length=MFCC_HOP))
    return x, spectrum, _active(np.sum(spectrum ** 2, axis=0), active_db)


def mfcc_mean(audio, sample_rate: int = config.SAMPLE_RATE, n_mfcc: int = N_MFCC,
              active_db: float = ACTIVE_DB) -> np.ndarray:
    """Mean MFCC vector of a sound over its active frames.

    Parameters
    ----------
    audio : np.ndarray, shape (n_samples,)
        Mono signal (zero-padded to one FFT frame if shorter).
    sample_rate : int
        Hz.
    n_mfcc : int
        Coefficients (c0 included).
    active_db : float
        Frames more than this many dB below the loudest are left out.

    Returns
    -------
    np.ndarray, shape (n_mfcc,)
    """

    _, spectrum, active = _librosa_frames(audio, sample_rate, active_db)
    mel = librosa.feature.melspectrogram(S=spectrum ** 2, sr=sample_rate, n_fft=MFCC_N_FFT)
    mfcc = librosa.feature.mfcc(S=librosa.power_to_db(mel), n_mfcc=n_mfcc)
    return mfcc[:, active].mean(axis=1)


def spectral_centroid_hz(audio, sample_rate: int = config.SAMPLE_RATE,
                         active_db: float = ACTIVE_DB) -> float:
    """Mean spectral centroid (Hz) of a sound over its active frames (librosa's definition)."""

    _, spectrum, active = _librosa_frames(audio, sample_rate, active_db)
    centroid = librosa.feature.spectral_centroid(S=spectrum, sr=sample_rate, n_fft=MFCC_N_FFT)
    return float(centroid[0, active].mean())


def baseline_points(signals: Sequence[np.ndarray], sample_rate: int = config.SAMPLE_RATE,
                    active_db: float = ACTIVE_DB) -> dict[str, np.ndarray]:
    """The model-independent baseline features of a list of sounds.

    Returns
    -------
    dict
        ``"mfcc"``: ``(n, N_MFCC)`` mean MFCCs; ``"centroid"``: ``(n, 1)`` mean
        spectral centroids in Hz.
    """
    return {"mfcc": np.stack([mfcc_mean(s, sample_rate, active_db=active_db) for s in signals]),
            "centroid": np.array([[spectral_centroid_hz(s, sample_rate, active_db)]
                                  for s in signals])}


# --------------------------------------------------------------------------- model side
def stimulus_frames(space, audio, pooling: str = "sustained",
                    active_db: float = ACTIVE_DB) -> np.ndarray:
    """The normalised frames a space encodes for one stimulus.

    Parameters
    ----------
    space : TimbreSpace or alike
        Needs ``transform`` (a :class:`vts.dsp.Transform`) and
        ``normalize(magnitude)`` (linear ``(n_bins,)`` or ``(n_bins, n_frames)``
        -> normalised ``(n_bins,)`` or ``(n_frames, n_bins)``).
    audio : np.ndarray, shape (n_samples,)
        Mono signal at :data:`vts.config.SAMPLE_RATE`.
    pooling : {"sustained", "mean"}
        ``sustained``: the one sustained frame of
        :func:`vts.dsp.sustained_frame`; ``mean``: every frame of the
        whole stimulus within ``active_db`` dB of its loudest.

    Returns
    -------
    np.ndarray, shape (k, n_bins)
        ``k = 1`` for ``sustained``.
    """

    if pooling == "sustained":
        frame = transforms.sustained_frame(audio, space.transform)
        return np.atleast_2d(np.asarray(space.normalize(frame), dtype=np.float32))
    if pooling == "mean":
        magnitude = transforms.note_frames(np.asarray(audio, dtype=np.float64), space.transform)
        active = _active(np.sum(magnitude ** 2, axis=0), active_db)
        return np.atleast_2d(np.asarray(space.normalize(magnitude[:, active]), dtype=np.float32))
    raise ValueError(f"pooling must be one of {POOLINGS}, got {pooling!r}")


def embed_stimuli(space, signals: Sequence[np.ndarray], pooling: str = "sustained",
                  active_db: float = ACTIVE_DB, names: Sequence | None = None
                  ) -> tuple[np.ndarray, np.ndarray]:
    """Latent points and pooled input frames of a list of stimuli.

    Returns
    -------
    latent : np.ndarray, shape (n, latent_dim)
        Posterior mean of the sustained frame, or the mean of the posterior
        means of the active frames (``pooling="mean"``).
    frames : np.ndarray, shape (n, n_bins)
        The normalised frame (mean of the normalised frames) the encoder received.
    """
    latent, frames = [], []
    for k, signal in enumerate(signals):
        try:
            x = stimulus_frames(space, signal, pooling, active_db)
        except ValueError as error:
            name = names[k] if names is not None else f"stimulus {k}"
            raise ValueError(f"{name}: {error}") from error
        z = np.atleast_2d(np.asarray(space.encode_frames(x), dtype=np.float64))
        latent.append(z.mean(axis=0))
        frames.append(x.astype(np.float64).mean(axis=0))
    return np.stack(latent), np.stack(frames)


# --------------------------------------------------------------------------- one study
def _score(distances: dict[str, np.ndarray], study: StudyAudio, n_permutations: int,
           seed: int, pooling: str) -> pd.DataFrame:
    rows = []
    n = len(study)
    for name, d in distances.items():
        spearman, pearson = correlations(d, study.dissimilarity)
        mantel = mantel_test(d, study.dissimilarity, n_permutations, "spearman", "greater", seed)
        rows.append({"study": study.name, "representation": name, "spearman": spearman,
                     "pearson": pearson, "mantel_p": mantel.p_value, "n_stimuli": n,
                     "n_pairs": n * (n - 1) // 2, "pooling": pooling})
    return pd.DataFrame(rows, columns=ALIGNMENT_COLUMNS)


def _model_distances(space, study: StudyAudio, pooling: str, active_db: float,
                     baselines: Iterable[str], cached: dict | None = None) -> dict:
    baselines = tuple(baselines)
    unknown = [b for b in baselines if b not in BASELINES]
    if unknown:
        raise ValueError(f"unknown baseline(s) {unknown}; choose from {BASELINES}")
    latent, frames = embed_stimuli(space, study.signals, pooling, active_db,
                                   names=[str(p) for p in study.stimuli])
    distances = {"latent": pairwise_distances(latent)}
    fixed = [b for b in baselines if b != "spectral"]
    if fixed:
        if cached is None:
            cached = baseline_points(study.signals, config.SAMPLE_RATE, active_db)
        for name in fixed:
            distances[name] = pairwise_distances(cached[name])
    if "spectral" in baselines:
        distances["spectral"] = pairwise_distances(frames)
    return distances


def study_alignment(space, study_dir, *, pooling: str = "sustained",
                    baselines: Iterable[str] = BASELINES,
                    n_permutations: int = N_PERMUTATIONS, seed: int = config.DEFAULT_SEED,
                    active_db: float = ACTIVE_DB) -> pd.DataFrame:
    """How well distances in ``space`` between a study's stimuli predict its listeners.

    Parameters
    ----------
    space : TimbreSpace or alike
        Needs ``transform``, ``normalize(magnitude)`` and ``encode_frames(frames)``
        (see :func:`stimulus_frames`).
    study_dir : path, study name or StudyAudio
        Folder with ``dissimilarity_matrix.txt`` (upper triangle) and
        ``stimuli/`` (sorted file order = matrix order); stimuli of any
        format, length, sample rate and channel count.
    pooling : {"sustained", "mean"}
        How a stimulus becomes one latent point (module docstring).
    baselines : iterable of str
        Any of :data:`BASELINES`, computed in the same call on the same audio.
    n_permutations : int
        Permutations of the Mantel test (shared by every representation).
    seed : int
        Seed of the permutations.
    active_db : float
        Loudness range (dB below the loudest frame) of the frames averaged by
        the MFCC / centroid baselines and by ``pooling="mean"``.

    Returns
    -------
    pandas.DataFrame
        One row per representation (``latent`` first, then the baselines):
        ``study, representation, spearman, pearson, mantel_p, n_stimuli,
        n_pairs, pooling``. ``mantel_p`` is the one-sided Mantel p-value of the
        Spearman statistic.
    """
    study = study_dir if isinstance(study_dir, StudyAudio) else load_study_audio(study_dir)
    distances = _model_distances(space, study, pooling, active_db, baselines)
    return _score(distances, study, n_permutations, seed, pooling)


# --------------------------------------------------------------------------- many models
def _space_info(space) -> tuple[str, str, object]:
    name = getattr(space, "name", None) or type(space).__name__
    transform = getattr(space, "transform_name", None)
    if transform is None:
        transform = getattr(getattr(space, "transform", None), "name", "")
    regularized = getattr(space, "regularized", None)
    return str(name), str(transform), regularized


def representation_label(representation: str, model: str, transform: str) -> str:
    """Display name of a row: the model for ``latent``, the baseline otherwise."""
    if representation == "latent":
        return model
    if representation == "spectral":
        return f"spectral frame ({transform})" if transform else "spectral frame"
    return _LABELS.get(representation, representation)


def evaluate_models(model_dirs, study_dirs=None, progress: bool = True, *,
                    pooling: str = "sustained", baselines: Iterable[str] = BASELINES,
                    n_permutations: int = N_PERMUTATIONS, seed: int = config.DEFAULT_SEED,
                    active_db: float = ACTIVE_DB) -> pd.DataFrame:
    """Evaluate several spaces on several studies, with the baselines.

    Each study's audio and its model-independent baselines (MFCC, centroid)
    are computed once; every model and baseline of a study is tested against
    the same Mantel permutations.

    Parameters
    ----------
    model_dirs : path, space, or a list of them
        Space directories (loaded with :meth:`vts.space.TimbreSpace.load`) or
        already loaded spaces.
    study_dirs : list of paths / study names, optional
        Default: every study of :func:`vts.perception.list_studies`.
    progress : bool
        Show a tqdm bar over (model, study).
    pooling, baselines, n_permutations, seed, active_db
        See :func:`study_alignment`.

    Returns
    -------
    pandas.DataFrame
        One row per (model, study, representation), columns
        :data:`TABLE_COLUMNS`: ``model`` (space name), ``representation``
        (``latent`` or a baseline), ``label`` (display name: the model for
        ``latent``, e.g. ``MFCC mean`` or ``spectral frame (nsgt-erb)``),
        ``kind`` (``model`` / ``baseline``), ``transform``, ``regularized``,
        ``in_target`` (the study's ratings also fed the regularisation target,
        :data:`vts.perception.STUDIES_IN_TARGET`: not an independent test),
        ``spearman``, ``pearson``, ``mantel_p``, ``n_stimuli``, ``n_pairs``,
        ``pooling``. Baseline rows independent of the model (MFCC, centroid)
        repeat identically for every model.
    """


    if isinstance(model_dirs, (str, os.PathLike)) or hasattr(model_dirs, "encode_frames"):
        model_dirs = [model_dirs]
    model_dirs = list(model_dirs)
    if not model_dirs:
        raise ValueError("evaluate_models: no model given")
    if study_dirs is None:
        study_dirs = list_studies()
    elif isinstance(study_dirs, (str, os.PathLike)):
        study_dirs = [study_dirs]
    study_dirs = list(study_dirs)
    if not study_dirs:
        raise ValueError("evaluate_models: no study given")
    baselines = tuple(baselines)
    spaces = [_load_space(m) for m in model_dirs]

    frames = []
    with tqdm(total=len(spaces) * len(study_dirs), desc="evaluate", unit="model×study",
              disable=not progress) as bar:
        for study_dir in study_dirs:
            bar.set_postfix_str(f"loading {Path(str(study_dir)).name}")
            study = load_study_audio(study_dir)
            cached = baseline_points(study.signals, config.SAMPLE_RATE, active_db) \
                if any(b != "spectral" for b in baselines) else None
            for space in spaces:
                name, transform, regularized = _space_info(space)
                bar.set_postfix_str(f"{name} / {study.name}")
                distances = _model_distances(space, study, pooling, active_db, baselines, cached)
                scored = _score(distances, study, n_permutations, seed, pooling)
                scored.insert(0, "model", name)
                scored["transform"] = transform
                scored["regularized"] = regularized
                scored["in_target"] = study.in_target
                frames.append(scored)
                bar.update(1)
    table = pd.concat(frames, ignore_index=True)
    table["kind"] = np.where(table["representation"] == "latent", "model", "baseline")
    table["label"] = [representation_label(r, m, t) for r, m, t in
                      table[["representation", "model", "transform"]].itertuples(index=False)]
    return table[TABLE_COLUMNS]


def _load_space(model):
    if hasattr(model, "encode_frames"):
        return model

    return TimbreSpace.load(model)


# --------------------------------------------------------------------------- display
def _bar_labels(table: pd.DataFrame) -> list[str]:
    """Labels in display order: models (in table order), then the baselines (deduplicated)."""
    models = list(dict.fromkeys(table.loc[table["kind"] == "model", "label"]))
    order = {r: k for k, r in enumerate(BASELINES)}
    base = table.loc[table["kind"] == "baseline", ["representation", "label"]].drop_duplicates()
    base = base.assign(_o=base["representation"].map(order)).sort_values(["_o", "label"])
    return models + list(dict.fromkeys(base["label"]))


def _study_order(table: pd.DataFrame) -> list[tuple[str, bool]]:
    studies = table[["study", "in_target"]].drop_duplicates("study")
    independent = sorted(s for s, t in studies.itertuples(index=False) if not t)
    target = sorted(s for s, t in studies.itertuples(index=False) if t)
    return [(s, False) for s in independent] + [(s, True) for s in target]


def alignment_matrix(table: pd.DataFrame, value: str = "spearman") -> pd.DataFrame:
    """Studies x labels of one column of :func:`evaluate_models` (baselines deduplicated).

    Rows: independent studies first, then those in the target; columns: the
    models, then the baselines.
    """
    first = table.drop_duplicates(["study", "label"])
    matrix = first.pivot(index="study", columns="label", values=value)
    return matrix.loc[[s for s, _ in _study_order(table)], _bar_labels(table)]


HEAD_TO_HEAD_COLUMNS = ["model", "rival", "n_studies", "wins", "mean_difference", "won"]


def head_to_head(table: pd.DataFrame, model: str, rivals: Sequence[str],
                 value: str = "spearman", independent: bool = True) -> pd.DataFrame:
    """How often ``model`` agrees better with listeners than each rival.

    Parameters
    ----------
    table : pandas.DataFrame
        Output of :func:`evaluate_models`.
    model : str
        Label of a model (its name, e.g. ``nsgt-erb-regularized``).
    rivals : sequence of str
        Labels of other models or baselines (e.g. ``nsgt-erb-vanilla``, ``MFCC mean``).
    value : str
        Column compared (higher is better).
    independent : bool
        Only the studies whose ratings did not feed the training target.

    Returns
    -------
    pandas.DataFrame
        One row per rival: ``model``, ``rival``, ``n_studies``, ``wins`` (studies
        where ``model`` is strictly higher), ``mean_difference`` (model - rival),
        ``won`` (the studies won, comma-separated).
    """
    matrix = alignment_matrix(table, value)
    if independent:
        matrix = matrix.loc[[s for s, t in _study_order(table) if not t]]
    for label in (model, *rivals):
        if label not in matrix.columns:
            raise KeyError(f"{label!r} is not in the table (labels: {', '.join(matrix.columns)})")
    rows = []
    for rival in rivals:
        diff = (matrix[model] - matrix[rival]).dropna()
        rows.append({"model": model, "rival": rival, "n_studies": int(len(diff)),
                     "wins": int((diff > 0).sum()),
                     "mean_difference": float(diff.mean()) if len(diff) else float("nan"),
                     "won": ", ".join(diff.index[diff > 0])})
    return pd.DataFrame(rows, columns=HEAD_TO_HEAD_COLUMNS)


def versus_vanilla(table: pd.DataFrame, baselines: Sequence[str] = ("MFCC mean",),
                   value: str = "spearman") -> pd.DataFrame:
    """:func:`head_to_head` of every regularised model against its vanilla twin
    (same transform) and ``baselines``, on the independent studies.

    Returns
    -------
    pandas.DataFrame
        The rows of :func:`head_to_head` for each regularised model of the table,
        in table order; a model without a vanilla twin in the table is compared
        with the baselines only.
    """
    models = table[table["kind"] == "model"].drop_duplicates("label")
    vanilla = dict(zip(models.loc[~models["regularized"].astype(bool), "transform"],
                       models.loc[~models["regularized"].astype(bool), "label"]))
    parts = [head_to_head(table, row.label,
                          ([vanilla[row.transform]] if row.transform in vanilla else [])
                          + list(baselines), value)
             for row in models[models["regularized"].astype(bool)].itertuples()]
    return pd.concat(parts, ignore_index=True) if parts else \
        pd.DataFrame(columns=HEAD_TO_HEAD_COLUMNS)


def plot_alignment(table: pd.DataFrame, value: str = "spearman", alpha: float = 0.05):
    """Heat map of agreement with listeners: representations x studies.

    Parameters
    ----------
    table : pandas.DataFrame
        Output of :func:`evaluate_models`.
    value : {"spearman", "pearson"}
        Cell value (colour and printed number).
    alpha : float
        Cells whose Mantel p-value is below ``alpha`` get a ``*``.

    Returns
    -------
    matplotlib.figure.Figure
        Rows: the models (table order), then the baselines below a line.
        Columns: the independent studies, then (right of a dashed line, under
        their own heading) those whose ratings fed the regularisation target.
        Diverging colours centred on 0.
    """

    if table.empty:
        raise ValueError("plot_alignment: empty table")
    values = alignment_matrix(table, value).T            # labels x studies
    pvalues = alignment_matrix(table, "mantel_p").T
    kinds = table.drop_duplicates("label").set_index("label")["kind"]
    studies = _study_order(table)
    n_models = int(sum(kinds[l] == "model" for l in values.index))
    n_independent = sum(not t for _, t in studies)
    data = values.to_numpy(dtype=float)
    bound = max(0.1, float(np.nanmax(np.abs(data), initial=0.0)))

    fig = Figure(figsize=(3.0 + 0.95 * len(studies), 1.4 + 0.32 * len(values)),
                 layout="constrained")
    ax = fig.add_subplot()
    image = ax.imshow(np.ma.masked_invalid(data), cmap="RdBu_r", aspect="auto",
                      norm=TwoSlopeNorm(0.0, -bound, bound))
    for i in range(data.shape[0]):
        for j in range(data.shape[1]):
            v, p = data[i, j], pvalues.iat[i, j]
            if not np.isfinite(v):
                continue
            star = "*" if np.isfinite(p) and p < alpha else ""
            ax.text(j, i, f"{v:.2f}{star}", ha="center", va="center", fontsize=8,
                    color="white" if abs(v) > 0.6 * bound else "black")
    ax.set_xticks(range(len(studies)), [s for s, _ in studies], rotation=30, ha="right")
    ax.set_yticks(range(len(values)), list(values.index))
    if 0 < n_models < len(values):
        ax.axhline(n_models - 0.5, color="black", linewidth=1.2)
    if 0 < n_independent < len(studies):
        ax.axvline(n_independent - 0.5, color="0.2", linestyle="--", linewidth=1.2)
    for lo, hi, text in ((0, n_independent, "independent studies"),
                         (n_independent, len(studies), "ratings in the training target")):
        if hi > lo:
            ax.text((lo + hi - 1) / 2, -0.6, text, ha="center", va="bottom", fontsize=9)
    fig.colorbar(image, ax=ax, shrink=0.8,
                 label=f"{value.capitalize()} correlation with listeners "
                       f"(* Mantel p < {alpha:g})")
    return fig


def write_evaluation(table: pd.DataFrame, out_dir: str | os.PathLike | None = None
                     ) -> tuple[Path, Path]:
    """Write ``perceptual_eval.csv`` and ``perceptual_eval.png`` atomically.

    Parameters
    ----------
    table : pandas.DataFrame
        Output of :func:`evaluate_models`.
    out_dir : path, default :func:`vts.config.figures_dir`

    Returns
    -------
    (csv_path, png_path)
    """
    out_dir = Path(out_dir) if out_dir is not None else config.figures_dir()
    csv_path, png_path = out_dir / "perceptual_eval.csv", out_dir / "perceptual_eval.png"
    fig = plot_alignment(table)
    with atomic_path(csv_path) as tmp:
        table.to_csv(tmp, index=False)
    with atomic_path(png_path) as tmp:
        fig.savefig(tmp, format="png", dpi=150)
    return csv_path, png_path


def format_table(table: pd.DataFrame, value: str = "spearman") -> str:
    """A readable text table: studies x (models, baselines), ``value (Mantel p)``."""
    heights = alignment_matrix(table, value)
    pvalues = alignment_matrix(table, "mantel_p")
    studies = dict(_study_order(table))
    n = table.drop_duplicates("study").set_index("study")["n_stimuli"]
    cells = pd.DataFrame(index=heights.index, columns=heights.columns, dtype=object)
    for label in heights.columns:
        for study in heights.index:
            h, p = heights.loc[study, label], pvalues.loc[study, label]
            cells.loc[study, label] = "–" if not np.isfinite(h) else f"{h:+.3f} (p={p:.4f})"
    cells.insert(0, "n", [int(n[s]) for s in cells.index])
    cells.index = [f"{s} *" if studies[s] else s for s in cells.index]
    cells.index.name = "study"
    title = (f"{value.capitalize()} correlation of distances with listeners' dissimilarities "
             "(one-sided Mantel p)")
    lines = [title, cells.to_string()]
    if any(studies.values()):
        lines.append("* ratings of this study also fed the regularisation target "
                     "(not an independent test)")
    return "\n".join(lines)


def main_evaluate(model_dir, study_dirs, out_csv, *, pooling: str = "sustained",
                  n_permutations: int = N_PERMUTATIONS, progress: bool = True) -> int:
    """The ``vts evaluate`` command: evaluate spaces on studies, write a CSV, print a table.

    Parameters
    ----------
    model_dir : path or list of paths
        Space directories.
    study_dirs : list of paths / names, or None
        None or empty: every study of :func:`vts.perception.list_studies`.
    out_csv : path
        The table of :func:`evaluate_models`, written atomically.

    Returns
    -------
    int
        0 on success. Bad input raises ``FileNotFoundError`` / ``ValueError`` /
        :class:`vts.space.SpaceError` naming the file (the CLI turns these into
        ``vts evaluate: error: ...`` and status 1).
    """
    table = evaluate_models(model_dir, list(study_dirs) if study_dirs else None, progress,
                            pooling=pooling, n_permutations=n_permutations)
    out_csv = Path(out_csv)
    with atomic_path(out_csv) as tmp:
        table.to_csv(tmp, index=False)
    print(format_table(table))
    print(f"wrote {out_csv}")
    sys.stdout.flush()
    return 0
