"""A timbre space against listeners' dissimilarity ratings of *new* sounds.

The paper only checks that class centroids line up with the target the model
was trained towards. Here a space is measured the way audio representations
are measured against published timbre studies (Tian et al., ISMIR 2025):
every stimulus of a study is embedded, distances between the embeddings are
compared with the listeners' mean dissimilarities under both protocols of
:mod:`vts.agreement` (whole matrix, per anchor, pairs of pairs), and the same
is done, in the same call and on the same decoded audio, for baselines.

Stimulus -> codes
-----------------
Every stimulus is decoded with :func:`vts.io.load_audio` (mono, resampled to
:data:`vts.config.SAMPLE_RATE`) and analysed at its stored level (the studies
equalised loudness). :func:`encode_stimulus` keeps, for one space:

* the *sustained frame*: the stimulus cut / zero-padded to the feature
  pipeline's analysis window and the frame picked by the rule that made the
  training frames (:func:`vts.dsp.sustained_frame`), normalised and encoded --
  the model sees a stimulus exactly as it saw a training note;
* every *active* frame of the whole stimulus (energy within :data:`ACTIVE_DB`
  dB of its loudest frame), normalised and encoded, with a mask of the
  *attack* frames (the first :data:`ATTACK_SECONDS` s after the first active
  frame);
* the encoder's posterior (mean and variance) of each of these frames.

A pooling (:data:`POOLINGS`) turns them into one point per stimulus
(:func:`pool`): ``sustained`` (the sustained frame's posterior mean),
``mean`` (mean of the frame means), ``mean-std`` (mean and standard deviation
of the frame means, concatenated), ``attack`` (mean over the attack frames),
``mean-attack`` (mean over all and over the attack, concatenated), ``thirds``
(means over the first, middle and last third of the active frames,
concatenated). The same
poolings apply to the normalised input frames (the ``spectral`` baselines)
and, for the distances between posteriors, to the Gaussians
(:func:`pooled_posterior`: a frame's posterior, or the moment-matched
Gaussian of the frames' mixture).

Representations
---------------
``latent``
    The space's codes with the chosen pooling, or a listener space's own
    recipe (:func:`listener_distances`).
``mfcc``
    Time-averaged MFCC (:func:`mfcc_mean`: :data:`N_MFCC` coefficients
    including c0, librosa defaults, averaged over the active frames).
``centroid``
    Mean spectral centroid (Hz); one number, so both metrics are its absolute
    difference.
``spectral`` / ``spectral-mean``
    The normalised log-magnitude frame the encoder receives: the sustained
    frame, and the average over the active frames (the space's own input,
    time-averaged: a baseline any listener space must beat).

``pooling="trajectory"`` (directions only) keeps the sequence instead: the
codes (or frames) averaged over :data:`TRAJECTORY_SECONDS` blocks, a pair padded
to equal length with the code of silence (:func:`padded_distances`), as
Tian et al.'s padded MFCC (:func:`mfcc_padded_distances`).

Learning from ratings
---------------------
Anything fitted to study ratings (the learned metric of :func:`directions`,
the listener space of :func:`build_listener_space`) is *scored*
leave-one-study-out (:func:`vts.agreement.loso`, related studies leaving
together), its ridge strength chosen by an inner leave-one-study-out on the
training folds only. The shipped listener space is fitted on every study.

The listener space
------------------
:func:`build_listener_space` writes the vanilla space's files unchanged plus
``listener.json`` (:class:`Recipe`: pooling, kept dimensions, learned weights,
how they were fitted and their leave-one-study-out score);
:func:`listener_distances` / :func:`listener_points` are what any caller
(CLI, explorer, page) uses to compare sounds in it. A space without a recipe
compares sustained-frame codes, Euclidean (:data:`PLAIN`). See docs/listeners.md.
"""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import sys
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import librosa
import numpy as np
import pandas as pd
import torch
from tqdm.auto import tqdm

from . import agreement as ag
from . import config
from . import dsp as transforms
from .io import atomic_path, load_audio, read_json, write_json
from .perception import STUDIES_IN_TARGET, list_studies, load_study
from .space import SPACE_FILES, TimbreSpace

#: Names of the baselines, in display order.
BASELINES = ("mfcc", "centroid", "spectral", "spectral-mean")
#: Every representation :func:`study_alignment` can report.
REPRESENTATIONS = ("latent",) + BASELINES
#: How a stimulus' frames become one point (module docstring).
POOLINGS = ("sustained", "mean", "mean-std", "attack", "mean-attack", "thirds")
#: Point metrics (both protocols are computed for each).
METRICS = ag.METRICS
#: ``protocol`` values of :func:`evaluate` / ``vts evaluate --protocol``.
PROTOCOLS = ("both", "whole-matrix", "per-anchor")
#: Frames whose energy is more than this many dB below a stimulus' loudest
#: frame are ignored when averaging (MFCC, centroid, every pooling but ``sustained``).
ACTIVE_DB = 30.0
#: Length (s) of the attack part, from the first active frame (the Iverson
#: onsets last 90 ms).
ATTACK_SECONDS = 0.1
#: Block length (s) of a trajectory (:func:`trajectory`): frames averaged per block.
TRAJECTORY_SECONDS = 0.025
#: MFCC settings of the baseline (librosa defaults: 2048-point FFT, hop 512);
#: 40 coefficients, as in the measurements of issue 14.
N_MFCC = 40
MFCC_N_FFT = 2048
MFCC_HOP = 512
#: Permutations of the Mantel test.
N_PERMUTATIONS = 9999
#: Bootstrap draws of the confidence intervals (over stimuli).
N_BOOT = 1000
#: A latent dimension is *active* when its mean KL divergence from the prior
#: over the space's training notes exceeds this (nats). Fixed before any
#: study was scored.
ACTIVE_KL_NATS = 0.1
#: File of a listener space that holds its recipe.
RECIPE_FILE = "listener.json"
RECIPE_VERSION = 1
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
_LABELS = {"mfcc": "MFCC mean", "centroid": "spectral centroid"}

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

    Raises
    ------
    FileNotFoundError, ValueError
        Missing folder or matrix, size mismatch, fewer than 3 stimuli, a
        stimulus that cannot be decoded or is silent (the file is named).
    """
    if isinstance(study_dir, StudyAudio):
        return study_dir
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


def load_studies(study_dirs=None) -> list[StudyAudio]:
    """Several studies (default: every study of :func:`vts.perception.list_studies`)."""
    if study_dirs is None:
        study_dirs = list_studies()
    elif isinstance(study_dirs, (str, os.PathLike, StudyAudio)):
        study_dirs = [study_dirs]
    studies = [load_study_audio(s) for s in study_dirs]
    if not studies:
        raise ValueError("no study given")
    names = [s.name for s in studies]
    if len(set(names)) != len(names):
        raise ValueError(f"two studies share a name: {names}")
    return studies


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


def _librosa_frames(audio: np.ndarray, active_db: float):
    x = _padded(audio, MFCC_N_FFT)
    spectrum = np.abs(librosa.stft(x, n_fft=MFCC_N_FFT, hop_length=MFCC_HOP))
    return spectrum, _active(np.sum(spectrum ** 2, axis=0), active_db)


def mfcc_mean(audio, sample_rate: int = config.SAMPLE_RATE, n_mfcc: int = N_MFCC,
              active_db: float = ACTIVE_DB) -> np.ndarray:
    """Mean MFCC vector ``(n_mfcc,)`` of a mono sound over its active frames (c0 included)."""
    spectrum, active = _librosa_frames(audio, active_db)
    mel = librosa.feature.melspectrogram(S=spectrum ** 2, sr=sample_rate, n_fft=MFCC_N_FFT)
    mfcc = librosa.feature.mfcc(S=librosa.power_to_db(mel), n_mfcc=n_mfcc)
    return mfcc[:, active].mean(axis=1)


def spectral_centroid_hz(audio, sample_rate: int = config.SAMPLE_RATE,
                         active_db: float = ACTIVE_DB) -> float:
    """Mean spectral centroid (Hz) of a sound over its active frames (librosa's definition)."""
    spectrum, active = _librosa_frames(audio, active_db)
    centroid = librosa.feature.spectral_centroid(S=spectrum, sr=sample_rate, n_fft=MFCC_N_FFT)
    return float(centroid[0, active].mean())


def baseline_points(signals: Sequence[np.ndarray], sample_rate: int = config.SAMPLE_RATE,
                    active_db: float = ACTIVE_DB) -> dict[str, np.ndarray]:
    """The model-independent baselines: ``"mfcc"`` ``(n, N_MFCC)``, ``"centroid"`` ``(n, 1)`` Hz."""
    return {"mfcc": np.stack([mfcc_mean(s, sample_rate, active_db=active_db) for s in signals]),
            "centroid": np.array([[spectral_centroid_hz(s, sample_rate, active_db)]
                                  for s in signals])}


# --------------------------------------------------------------------------- model side
@dataclass
class StimulusCodes:
    """What one space makes of one stimulus (see :func:`encode_stimulus`).

    Attributes
    ----------
    frame : np.ndarray, (n_bins,)
        The normalised sustained frame.
    all_frames : np.ndarray, (K, n_bins)
        Every normalised frame of the whole stimulus, in time order.
    active : np.ndarray of bool, (K,)
        Frames within :data:`ACTIVE_DB` dB of the loudest.
    attack : np.ndarray of bool, (K,)
        Active frames in the first :data:`ATTACK_SECONDS` s after the first active one.
    mu0, var0 : np.ndarray, (d,)
        Posterior mean and variance of the sustained frame (``var0`` None for
        a space without a posterior).
    all_mu, all_var : np.ndarray, (K, d)
        Those of every frame.
    silence_frame, silence_mu : np.ndarray
        The normalised frame of silence and its code (what a sound shorter than
        another is padded with in a trajectory).
    hop_seconds : float
        Frame period.
    """

    frame: np.ndarray
    all_frames: np.ndarray
    active: np.ndarray
    attack: np.ndarray
    mu0: np.ndarray
    var0: np.ndarray | None
    all_mu: np.ndarray
    all_var: np.ndarray | None
    silence_frame: np.ndarray
    silence_mu: np.ndarray
    hop_seconds: float

    @property
    def frames(self) -> np.ndarray:
        """The active frames ``(k, n_bins)``."""
        return self.all_frames[self.active]

    @property
    def mu(self) -> np.ndarray:
        return self.all_mu[self.active]

    @property
    def var(self) -> np.ndarray | None:
        return None if self.all_var is None else self.all_var[self.active]

    @property
    def attack_active(self) -> np.ndarray:
        """The attack mask over the active frames."""
        return self.attack[self.active]

    def select(self, dims) -> StimulusCodes:
        """The same stimulus with only latent dimensions ``dims`` kept."""
        d = np.asarray(dims, dtype=int)
        return StimulusCodes(self.frame, self.all_frames, self.active, self.attack,
                             self.mu0[d], None if self.var0 is None else self.var0[d],
                             self.all_mu[:, d], None if self.all_var is None else
                             self.all_var[:, d], self.silence_frame, self.silence_mu[d],
                             self.hop_seconds)


def _posterior(space, frames: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
    """Posterior means and variances ``(k, d)`` of normalised frames ``(k, n_bins)``."""
    x = np.atleast_2d(np.asarray(frames, dtype=np.float32))
    model = getattr(space, "model", None)
    if model is None or not hasattr(model, "encode"):
        return np.atleast_2d(np.asarray(space.encode_frames(x), dtype=np.float64)), None
    device = getattr(space, "device", "cpu")
    with torch.no_grad():
        parts = [model.encode(torch.tensor(x[i:i + 4096], device=device))
                 for i in range(0, len(x), 4096)]
    mu = torch.cat([m for m, _ in parts]).cpu().numpy().astype(np.float64)
    var = torch.cat([v for _, v in parts]).exp().cpu().numpy().astype(np.float64)
    return mu, var


def stimulus_frames(space, audio, pooling: str = "sustained",
                    active_db: float = ACTIVE_DB) -> np.ndarray:
    """The normalised frames ``(k, n_bins)`` a space encodes for one stimulus.

    ``sustained``: the one sustained frame (``k = 1``); any other pooling:
    every frame of the whole stimulus within ``active_db`` dB of its loudest.
    ``space`` needs ``transform`` and ``normalize(magnitude)``.
    """
    if pooling not in POOLINGS:
        raise ValueError(f"pooling must be one of {POOLINGS}, got {pooling!r}")
    if pooling == "sustained":
        frame = transforms.sustained_frame(audio, space.transform)
        return np.atleast_2d(np.asarray(space.normalize(frame), dtype=np.float32))
    frames, active, _ = _all_frames(space, audio, active_db)
    return frames[active]


def _all_frames(space, audio, active_db: float):
    """Every normalised frame of a stimulus, its active mask and its attack mask."""
    magnitude = transforms.note_frames(np.asarray(audio, dtype=np.float64), space.transform)
    active = _active(np.sum(magnitude ** 2, axis=0), active_db)
    times = np.arange(magnitude.shape[1]) * float(space.transform.hop_seconds)
    onset = times[np.argmax(active)]
    attack = active & (times - onset < ATTACK_SECONDS)
    frames = np.atleast_2d(np.asarray(space.normalize(magnitude), dtype=np.float32))
    return frames, active, attack


def encode_stimulus(space, audio, active_db: float = ACTIVE_DB) -> StimulusCodes:
    """The sustained frame, every frame and their posteriors (:class:`StimulusCodes`)."""
    frame = stimulus_frames(space, audio, "sustained")[0]
    frames, active, attack = _all_frames(space, audio, active_db)
    silence = np.asarray(space.normalize(np.zeros(frames.shape[1])), dtype=np.float32)
    mu, var = _posterior(space, np.vstack([frame[None], silence[None], frames]))
    return StimulusCodes(frame=frame.astype(np.float64), all_frames=frames, active=active,
                         attack=attack, mu0=mu[0], var0=None if var is None else var[0],
                         all_mu=mu[2:], all_var=None if var is None else var[2:],
                         silence_frame=silence.astype(np.float64), silence_mu=mu[1],
                         hop_seconds=float(space.transform.hop_seconds))


def encode_study(space, study: StudyAudio, active_db: float = ACTIVE_DB) -> list[StimulusCodes]:
    """:func:`encode_stimulus` of every stimulus; an error names the stimulus' file."""
    out = []
    for path, signal in zip(study.stimuli, study.signals):
        try:
            out.append(encode_stimulus(space, signal, active_db))
        except ValueError as error:
            raise ValueError(f"{path}: {error}") from error
    return out


def _pool_rows(sustained: np.ndarray, frames: np.ndarray, attack: np.ndarray,
               pooling: str) -> np.ndarray:
    if pooling == "sustained":
        return sustained
    if pooling == "mean":
        return frames.mean(axis=0)
    if pooling == "mean-std":
        return np.concatenate([frames.mean(axis=0), frames.std(axis=0)])
    if pooling == "attack":
        return frames[attack].mean(axis=0)
    if pooling == "mean-attack":
        return np.concatenate([frames.mean(axis=0), frames[attack].mean(axis=0)])
    if pooling == "thirds":
        parts = np.array_split(frames, 3) if len(frames) >= 3 else [frames] * 3
        return np.concatenate([p.mean(axis=0) for p in parts])
    raise ValueError(f"pooling must be one of {POOLINGS}, got {pooling!r}")


def pool(codes: Sequence[StimulusCodes], pooling: str = "sustained",
         source: str = "code") -> np.ndarray:
    """One point per stimulus ``(n, D)``: ``source`` ``"code"`` (posterior means) or
    ``"frame"`` (normalised input frames), pooled by ``pooling`` (module docstring)."""
    if source == "code":
        return np.stack([_pool_rows(c.mu0, c.mu, c.attack_active, pooling) for c in codes])
    if source == "frame":
        return np.stack([_pool_rows(c.frame, c.frames, c.attack_active, pooling)
                         for c in codes])
    raise ValueError(f"source must be 'code' or 'frame', got {source!r}")


def trajectory(c: StimulusCodes, source: str = "code",
               block_seconds: float = TRAJECTORY_SECONDS) -> np.ndarray:
    """The stimulus as a sequence ``(T, D)``: its frames (codes or normalised input
    frames) from its first sample, averaged over consecutive blocks of
    ``block_seconds``."""
    rows = c.all_mu if source == "code" else c.all_frames if source == "frame" else None
    if rows is None:
        raise ValueError(f"source must be 'code' or 'frame', got {source!r}")
    k = max(1, round(block_seconds / c.hop_seconds))
    n = int(np.ceil(len(rows) / k))
    padded = np.vstack([rows, np.repeat(_silence(c, source)[None], n * k - len(rows), axis=0)])
    return padded.reshape(n, k, -1).mean(axis=1)


def _silence(c: StimulusCodes, source: str) -> np.ndarray:
    return c.silence_mu if source == "code" else c.silence_frame


def padded_distances(sequences: Sequence[np.ndarray], metric: str,
                     pad: np.ndarray | Sequence[np.ndarray] | float = 0.0) -> np.ndarray:
    """Distances between sequences ``(T_i, D)`` flattened, each pair padded to equal length.

    For a pair ``(i, j)`` the shorter sequence is extended to the longer one's
    length with ``pad`` rows (a row ``(D,)``, one row per sequence, or a
    number), then both are flattened and compared under ``metric`` (the MFCC
    of Tian et al. with pairs padded to equal length). Returns ``(n, n)``.
    """
    seqs = [np.asarray(s, dtype=np.float64) for s in sequences]
    if len(seqs) < 3:
        raise ValueError(f"need at least 3 sequences, got {len(seqs)}")
    dim = {s.shape[1] for s in seqs}
    if len(dim) != 1 or any(s.ndim != 2 or len(s) == 0 for s in seqs):
        raise ValueError("sequences must be non-empty (T, D) arrays of one width D")
    d = dim.pop()
    if np.ndim(pad) == 0:
        pads = [np.full(d, float(pad))] * len(seqs)
    elif np.ndim(pad) == 1:
        pads = [np.asarray(pad, dtype=np.float64)] * len(seqs)
    else:
        pads = [np.asarray(p, dtype=np.float64) for p in pad]
    t_max = max(len(s) for s in seqs)
    full = np.stack([np.vstack([s, np.repeat(p[None], t_max - len(s), axis=0)])
                     for s, p in zip(seqs, pads)])                      # (n, T, D)
    lengths = np.array([len(s) for s in seqs])
    n = len(seqs)
    out = np.zeros((n, n))
    for i in range(n):
        for j in range(i + 1, n):
            t = max(lengths[i], lengths[j])
            a, b = full[i, :t].ravel(), full[j, :t].ravel()
            if metric == "euclidean":
                value = np.linalg.norm(a - b)
            elif metric == "cosine":
                na, nb = np.linalg.norm(a), np.linalg.norm(b)
                if na == 0 or nb == 0:
                    raise ValueError("cosine distance is undefined for a zero sequence")
                value = float(np.clip(1.0 - a @ b / (na * nb), 0.0, 2.0))
            else:
                raise ValueError(f"metric must be one of {METRICS}, got {metric!r}")
            out[i, j] = out[j, i] = value
    return out


def mfcc_frames(audio, sample_rate: int = config.SAMPLE_RATE, n_mfcc: int = N_MFCC
                ) -> np.ndarray:
    """Every MFCC frame of a sound, ``(T, n_mfcc)`` (librosa defaults, hop 512)."""
    spectrum, _ = _librosa_frames(audio, ACTIVE_DB)
    mel = librosa.feature.melspectrogram(S=spectrum ** 2, sr=sample_rate, n_fft=MFCC_N_FFT)
    return librosa.feature.mfcc(S=librosa.power_to_db(mel), n_mfcc=n_mfcc).T


def mfcc_padded_distances(signals: Sequence[np.ndarray], metric: str = "cosine",
                          sample_rate: int = config.SAMPLE_RATE) -> np.ndarray:
    """Tian et al.'s "MFCC (padded)": each pair's audio zero-padded to equal length, the
    MFCC frames flattened and compared. (Every sound is analysed once, zero-padded to
    the longest; a pair then keeps the frames of its longer sound.)"""
    n_samples = max(len(s) for s in signals)
    full = [mfcc_frames(_padded(s, n_samples), sample_rate) for s in signals]
    lengths = [max(1, int(np.ceil(len(s) / MFCC_HOP))) for s in signals]
    n = len(full)
    out = np.zeros((n, n))
    for i in range(n):
        for j in range(i + 1, n):
            t = max(lengths[i], lengths[j])
            a, b = full[i][:t].ravel(), full[j][:t].ravel()
            if metric == "euclidean":
                value = np.linalg.norm(a - b)
            else:
                value = float(np.clip(1.0 - a @ b / (np.linalg.norm(a) * np.linalg.norm(b)),
                                      0.0, 2.0))
            out[i, j] = out[j, i] = value
    return out


def pooled_posterior(codes: Sequence[StimulusCodes], pooling: str = "sustained"
                     ) -> tuple[np.ndarray, np.ndarray]:
    """One diagonal Gaussian per stimulus: means and variances ``(n, d)``.

    ``sustained``: the sustained frame's posterior; ``mean``: the moment-matched
    Gaussian of the mixture of the active frames' posteriors (mean of the
    means; mean of the variances plus the variance of the means); ``attack``:
    the same over the attack frames.
    """
    if any(c.var0 is None for c in codes):
        raise ValueError("this space has no posterior variance (needs space.model.encode)")
    if pooling == "sustained":
        return np.stack([c.mu0 for c in codes]), np.stack([c.var0 for c in codes])
    if pooling not in ("mean", "attack"):
        raise ValueError(f"pooled_posterior takes sustained, mean or attack, got {pooling!r}")
    means, variances = [], []
    for c in codes:
        keep = c.attack_active if pooling == "attack" else np.ones(len(c.mu), dtype=bool)
        mu, var = c.mu[keep], c.var[keep]
        means.append(mu.mean(axis=0))
        variances.append(var.mean(axis=0) + mu.var(axis=0))
    return np.stack(means), np.stack(variances)


def embed_stimuli(space, signals: Sequence[np.ndarray], pooling: str = "sustained",
                  active_db: float = ACTIVE_DB, names: Sequence | None = None
                  ) -> tuple[np.ndarray, np.ndarray]:
    """Latent points ``(n, latent_dim)`` (posterior means, pooled by ``sustained`` or
    ``mean``) and the pooled normalised input frames ``(n, n_bins)`` of a list of stimuli."""
    if pooling not in ("sustained", "mean"):
        raise ValueError(f"embed_stimuli pools by 'sustained' or 'mean', got {pooling!r}")
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


def point_distances(points, metric: str) -> np.ndarray:
    """:func:`vts.agreement.distance_matrix`; one-dimensional points (the centroid)
    get their absolute difference under either metric (cosine is undefined there)."""
    p = np.asarray(points, dtype=np.float64)
    if p.ndim == 2 and p.shape[1] == 1:
        return ag.distance_matrix(p, "euclidean")
    return ag.distance_matrix(p, metric)


# --------------------------------------------------------------------------- training notes
def dimension_kl(space, frames) -> np.ndarray:
    r"""Mean KL divergence from the prior of each latent dimension over ``frames``.

    :math:`\mathrm{KL}_k = \frac12 \mathbb E_x[\mu_k^2 + \sigma_k^2 - \ln \sigma_k^2 - 1]`
    in nats, ``(latent_dim,)``; a dimension the encoder ignores has 0.
    ``frames``: normalised frames ``(n, n_bins)`` -- the space's *training*
    notes (:func:`training_frames`), never study stimuli.
    """
    mu, var = _posterior(space, frames)
    if var is None:
        raise ValueError("this space has no posterior variance (needs space.model.encode)")
    return 0.5 * np.mean(mu ** 2 + var - np.log(var) - 1.0, axis=0)


def training_frames(space) -> np.ndarray:
    """The normalised sustained frames of a space's training notes (from the feature cache).

    Raises
    ------
    ValueError
        If the cached features lack some of the space's training notes.
    """
    from .features import load_features

    features = load_features(space.transform_name, progress=False)
    train = set(space.split.loc[space.split["split"] == "train", "note_id"].astype(str))
    ids = features.catalog["note_id"].astype(str)
    keep = ids.isin(train).to_numpy()
    if int(keep.sum()) != len(train):
        raise ValueError(f"{space.directory}: the feature cache holds {int(keep.sum())} of the "
                         f"space's {len(train)} training notes")
    return features.frames[keep]


def active_dims(space, frames=None, threshold: float = ACTIVE_KL_NATS) -> np.ndarray:
    """Indices of the dimensions whose mean KL from the prior over the training notes
    (``frames``, default :func:`training_frames`) exceeds ``threshold`` nats."""
    frames = training_frames(space) if frames is None else frames
    kl = dimension_kl(space, frames)
    dims = np.flatnonzero(kl > threshold)
    if dims.size == 0:
        raise ValueError(f"no latent dimension carries more than {threshold} nats")
    return dims


# --------------------------------------------------------------------------- listener recipe
@dataclass
class Recipe:
    """How a listener space turns sounds into distances.

    Attributes
    ----------
    pooling : str
        One of :data:`POOLINGS` (codes of the space).
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
        if self.pooling not in POOLINGS:
            raise ValueError(f"{where}: pooling {self.pooling!r} is not one of {POOLINGS}")
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


def recipe_points(codes: Sequence[StimulusCodes], recipe: Recipe) -> np.ndarray:
    """The points ``(n, D)`` a point recipe compares (pooled, dims kept, weighted)."""
    if recipe.posterior:
        raise ValueError(f"recipe metric {recipe.metric!r} compares posteriors, not points")
    codes = _keep_dims(codes, recipe.dims)
    points = pool(codes, recipe.pooling, "code")
    if recipe.weights is not None:
        if len(recipe.weights) != points.shape[1]:
            raise ValueError(f"recipe has {len(recipe.weights)} weights for "
                             f"{points.shape[1]}-dimensional points")
        points = ag.weighted_points(points, recipe.weights)
    return points


def recipe_distances(codes: Sequence[StimulusCodes], recipe: Recipe,
                     metric: str | None = None) -> np.ndarray:
    """Distances ``(n, n)`` between stimuli under ``recipe`` (``metric`` overrides a
    point recipe's metric; a posterior recipe has only its own)."""
    if recipe.posterior:
        means, variances = pooled_posterior(_keep_dims(codes, recipe.dims),
                                            "sustained" if recipe.pooling == "sustained"
                                            else "mean")
        return ag.gaussian_distance_matrix(means, variances, recipe.metric)
    return point_distances(recipe_points(codes, recipe), metric or recipe.metric)


def _keep_dims(codes: Sequence[StimulusCodes], dims) -> list[StimulusCodes]:
    return list(codes) if dims is None else [c.select(dims) for c in codes]


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
                       active_db: float = ACTIVE_DB) -> np.ndarray:
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
        Symmetric, zero diagonal. The distances of the CLI, the explorer and
        the page.
    """
    from .io import as_signal

    space = _load_space(space)
    recipe = load_recipe(space)
    codes = [encode_stimulus(space, as_signal(s), active_db) for s in signals]
    return recipe_distances(codes, recipe, metric)


def listener_points(space, signals, active_db: float = ACTIVE_DB) -> np.ndarray:
    """The points ``(n, D)`` a space's point recipe compares (pooled codes scaled by the
    square root of the learned weights): what an explorer or a page plots. Raises
    ValueError for a recipe that compares posteriors."""
    from .io import as_signal

    space = _load_space(space)
    codes = [encode_stimulus(space, as_signal(s), active_db) for s in signals]
    return recipe_points(codes, load_recipe(space))


# --------------------------------------------------------------------------- representations
def representation_distances(space, study: StudyAudio, *, pooling: str | None = None,
                             metrics: Sequence[str] = METRICS,
                             baselines: Iterable[str] = BASELINES,
                             cached: dict | None = None, codes=None,
                             active_db: float = ACTIVE_DB) -> dict[tuple[str, str], np.ndarray]:
    """Distance matrices of a study's stimuli: ``(representation, metric) -> (n, n)``.

    ``latent`` uses ``pooling`` when given, else the space's own recipe
    (:func:`load_recipe`); a posterior recipe gives the one metric it has.
    ``cached``: :func:`baseline_points` of the study (computed if None);
    ``codes``: :func:`encode_study` of it.
    """
    baselines = tuple(baselines)
    unknown = [b for b in baselines if b not in BASELINES]
    if unknown:
        raise ValueError(f"unknown baseline(s) {unknown}; choose from {BASELINES}")
    metrics = _metrics(metrics)
    if codes is None:
        codes = encode_study(space, study, active_db)
    recipe = load_recipe(space) if pooling is None else Recipe(pooling=pooling)
    recipe.check()
    out = {}
    if recipe.posterior:
        out[("latent", recipe.metric)] = recipe_distances(codes, recipe)
    else:
        points = recipe_points(codes, recipe)
        for metric in metrics:
            out[("latent", metric)] = point_distances(points, metric)
    fixed = [b for b in baselines if b in ("mfcc", "centroid")]
    if fixed and cached is None:
        cached = baseline_points(study.signals, config.SAMPLE_RATE, active_db)
    for name in baselines:
        if name in fixed:
            points = cached[name]
        else:
            points = pool(codes, "sustained" if name == "spectral" else "mean", "frame")
        for metric in metrics:
            out[(name, metric)] = point_distances(points, metric)
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


def _score_rows(distances: Mapping[tuple[str, str], np.ndarray], study: StudyAudio,
                protocol: str, n_permutations: int, n_boot: int, seed: int,
                pooling: str) -> pd.DataFrame:
    rows, n = [], len(study)
    listener = study.dissimilarity
    for (name, metric), d in distances.items():
        row = {"study": study.name, "representation": name, "metric": metric,
               "n_stimuli": n, "n_pairs": n * (n - 1) // 2, "pooling": pooling}
        if np.ptp(d[np.triu_indices(n, 1)]) == 0:      # no ranking at all: every value NaN
            rows.append(row)
            continue
        scores = ag.study_scores({study.name: d}, {study.name: listener}, n_boot, seed=seed,
                                 protocol=protocol)
        row.update({k: scores[k] for k in ("spearman", "pearson", "spearman_lo", "spearman_hi",
                                           "per_anchor", "per_anchor_lo", "per_anchor_hi",
                                           "triplet")})
        if protocol in ("both", "whole-matrix"):
            row["mantel_p"] = ag.mantel_test(d, listener, n_permutations, "spearman",
                                             seed).p_value
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
        How the codes become one point (:data:`POOLINGS`); None: the space's
        own recipe.
    baselines : iterable of str
        Any of :data:`BASELINES`, computed in the same call on the same audio.
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
    study = load_study_audio(study_dir)
    protocol = _check_protocol(protocol)
    distances = representation_distances(space, study, pooling=pooling, metrics=_metrics(metric),
                                         baselines=baselines, active_db=active_db)
    label = pooling if pooling is not None else load_recipe(space).pooling
    return _score_rows(distances, study, protocol, n_permutations, n_boot, seed, label)


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
    study_dirs : list of paths / study names / :class:`StudyAudio`, optional
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
    spaces = [_load_space(m) for m in model_dirs]
    studies = load_studies(study_dirs)
    frames, per_model = [], {}
    with tqdm(total=len(spaces) * len(studies), desc="evaluate", unit="model×study",
              disable=not progress) as bar:
        for study in studies:
            cached = baseline_points(study.signals, config.SAMPLE_RATE, active_db) \
                if any(b in ("mfcc", "centroid") for b in baselines) else None
            for space in spaces:
                name, transform, regularized = _space_info(space)
                bar.set_postfix_str(f"{name} / {study.name}")
                distances = representation_distances(space, study, pooling=pooling,
                                                      metrics=metrics, baselines=baselines,
                                                      cached=cached, active_db=active_db)
                for key, d in distances.items():
                    per_model.setdefault((name, transform) + key, {})[study.name] = d
                label = pooling if pooling is not None else load_recipe(space).pooling
                scored = _score_rows(distances, study, protocol, n_permutations, n_boot, seed,
                                     label)
                scored.insert(0, "model", name)
                scored["transform"] = transform
                scored["regularized"] = regularized
                scored["in_target"] = study.in_target
                scored["fitted"] = (scored["representation"] == "latent") & \
                    (study.name in fitted_studies(space))
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
    rows = []
    pooling = table.drop_duplicates("model").set_index("model")["pooling"]
    fitted = table.groupby(["model", "representation"])["fitted"].any()
    for (model, transform, representation, metric), ds in per_model.items():
        s = ag.study_scores(ds, {k: listeners[k] for k in ds}, n_boot, seed=seed,
                            protocol=protocol)
        mfcc = per_model.get((model, transform, "mfcc", _mfcc_metric(metric)))
        wins = _wins(s, ag.study_scores(mfcc, {k: listeners[k] for k in mfcc}, 1, seed=seed,
                                        protocol="whole-matrix")) \
            if mfcc is not None and protocol != "per-anchor" else np.nan
        rows.append({"model": model, "representation": representation,
                     "label": representation_label(representation, model, transform),
                     "kind": "model" if representation == "latent" else "baseline",
                     "fitted": bool(fitted.get((model, representation), False)),
                     "metric": metric, "wins_vs_mfcc": wins, "pooling": pooling[model],
                     **{k: s[k] for k in POOLED_COLUMNS if k in s}})
    return pd.DataFrame(rows).reindex(columns=POOLED_COLUMNS)


def _mfcc_metric(metric: str) -> str:
    """The MFCC metric a representation is compared with: the same one; Euclidean for
    distances between posteriors."""
    return metric if metric in METRICS else "euclidean"


def _wins(scores: Mapping, mfcc: Mapping) -> int:
    return int(sum(scores["studies"][s]["spearman"] > mfcc["studies"][s]["spearman"]
                   for s in scores["studies"] if s in mfcc["studies"]))


def evaluate_models(model_dirs, study_dirs=None, progress: bool = True, **kwargs
                    ) -> pd.DataFrame:
    """The per-study table of :func:`evaluate` (:data:`TABLE_COLUMNS`); ``kwargs`` as there."""
    return evaluate(model_dirs, study_dirs, progress, **kwargs).table


def _load_space(model):
    if hasattr(model, "encode_frames"):
        return model
    return TimbreSpace.load(model)


# --------------------------------------------------------------------------- directions
@dataclass(frozen=True)
class Direction:
    """One row group of :func:`directions`: how the stimuli become distances.

    ``source``: ``code`` / ``frame`` (the space), ``mfcc`` / ``centroid``
    (audio), ``posterior`` (pooled Gaussians, ``metric`` is then a
    :data:`vts.agreement.GAUSSIAN_DISTANCES` kind); ``pooling`` is one of
    :data:`POOLINGS` or ``trajectory`` (:func:`trajectory` / :func:`padded_distances`,
    for MFCC :func:`mfcc_padded_distances`); ``dims``: ``active`` keeps
    the dimensions of :func:`active_dims`; ``learn``: a loss of
    :func:`vts.agreement.fit_diagonal_metric`, fitted leave-one-study-out.
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


def _direction_points(direction: Direction, codes, cached, dims) -> np.ndarray:
    if direction.source in ("mfcc", "centroid"):
        return cached[direction.source]
    if direction.dims == "active":
        codes = _keep_dims(codes, dims)
    return pool(codes, direction.pooling, direction.source)


def _trajectory_distances(direction: Direction, study: StudyAudio, codes, dims,
                          metric: str) -> np.ndarray:
    if direction.source == "mfcc":
        return mfcc_padded_distances(study.signals, metric)
    if direction.dims == "active":
        codes = _keep_dims(codes, dims)
    return padded_distances([trajectory(c, direction.source) for c in codes], metric,
                            [_silence(c, direction.source) for c in codes])


def fit_metric_recipe(points: Mapping[str, np.ndarray], listeners: Mapping[str, np.ndarray],
                      loss: str = "ridge", metric: str = "euclidean",
                      grid: Sequence[float] = ag.RIDGE_GRID) -> tuple[np.ndarray, float]:
    """Weights and ridge strength of a diagonal metric fitted on ``points``' studies:
    the strength by inner leave-one-study-out (:func:`vts.agreement.select_ridge`),
    then the weights on all of them."""
    studies = {s: (points[s], listeners[s]) for s in points}
    ridge = ag.select_ridge(studies, grid, loss, metric)
    return ag.fit_diagonal_metric(studies, ridge, loss), ridge


def loso_metric_distances(points: Mapping[str, np.ndarray], listeners: Mapping[str, np.ndarray],
                          loss: str = "ridge", metric: str = "euclidean",
                          grid: Sequence[float] = ag.RIDGE_GRID
                          ) -> tuple[dict[str, np.ndarray], dict[str, float]]:
    """Leave-one-study-out distances of a learned diagonal metric, and the ridge
    strength each fold chose (from its training folds only)."""
    chosen = {}

    def fit(train):
        w, ridge = fit_metric_recipe({s: train[s][0] for s in train},
                                     {s: train[s][1] for s in train}, loss, metric, grid)
        held = sorted(set(points) - set(train))
        chosen.update({s: ridge for s in held})
        return lambda x: ag.metric_distances(x, w, metric)

    d = ag.loso({s: (points[s], listeners[s]) for s in points}, fit)
    return d, chosen


def directions(space, studies, *, training=None, chosen: Sequence[Direction] = DIRECTIONS,
               n_boot: int = N_BOOT, seed: int = config.DEFAULT_SEED,
               active_db: float = ACTIVE_DB, progress: bool = False
               ) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The directions of issue 14 on one space, every protocol, in one run.

    Parameters
    ----------
    space : TimbreSpace or path
    studies : list of StudyAudio / paths / names
    training : np.ndarray, optional
        Normalised frames of the space's training notes (for the active
        dimensions); default :func:`training_frames`. Never study stimuli.
    chosen : sequence of Direction
    n_boot, seed
        Bootstrap draws over stimuli and their seed.

    Returns
    -------
    (summary, per_study) : pandas.DataFrame
        ``summary``: one row per direction x metric, :data:`DIRECTION_COLUMNS`
        (pooled per-anchor Spearman, mean whole-matrix Spearman / Pearson, mean
        triplet agreement, 95 % bootstrap intervals, studies won against the
        time-averaged MFCC under the same metric -- Euclidean for the
        posterior distances). ``per_study``: space, direction, metric, study,
        per_anchor, spearman, pearson, triplet, and ``ridge`` (the strength
        the learned metric's fold chose). Learned metrics are scored
        leave-one-study-out, each fold choosing its ridge strength on its
        training folds. ``summary.attrs``: ``active_dims`` (the dimensions kept)
        and ``skipped`` (direction -> why, when the training notes are not
        available or no dimension passes :data:`ACTIVE_KL_NATS`).
    """
    space = _load_space(space)
    studies = load_studies(studies)
    name = _space_info(space)[0]
    listeners = {s.name: s.dissimilarity for s in studies}
    codes = {s.name: encode_study(space, s, active_db) for s in
             tqdm(studies, desc=f"{name}: encode", disable=not progress)}
    cached = {s.name: baseline_points(s.signals, config.SAMPLE_RATE, active_db)
              for s in studies}
    dims, skipped = None, {}
    if any(d.dims == "active" for d in chosen):
        try:
            dims = active_dims(space, training)
        except (ValueError, OSError) as error:    # no feature cache, or no active dimension
            skipped = {d.name: str(error) for d in chosen if d.dims == "active"}
            chosen = [d for d in chosen if d.dims != "active"]
    distances, ridges = {}, {}
    for direction in tqdm(chosen, desc=f"{name}: directions", disable=not progress):
        if direction.source == "posterior":
            for s in studies:
                m, v = pooled_posterior(codes[s.name], direction.pooling)
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
                d = {s: point_distances(p, metric) for s, p in points.items()}
            distances[(direction, metric)] = d
    mfcc = {m: ag.study_scores({s.name: point_distances(cached[s.name]["mfcc"], m)
                                for s in studies}, listeners, 1, seed=seed,
                               protocol="whole-matrix") for m in METRICS}
    summary, per_study = [], []
    for (direction, metric), ds in distances.items():
        s = ag.study_scores(ds, listeners, n_boot, seed=seed)
        summary.append({"space": name, "direction": direction.name, "family": direction.family,
                        "metric": metric, "wins_vs_mfcc": _wins(s, mfcc[_mfcc_metric(metric)]),
                        **{k: s[k] for k in DIRECTION_COLUMNS if k in s}})
        for study, row in s["studies"].items():
            per_study.append({"space": name, "direction": direction.name, "metric": metric,
                              "study": study, **row,
                              "ridge": ridges.get((direction, metric), {}).get(study, np.nan)})
    summary = pd.DataFrame(summary).reindex(columns=DIRECTION_COLUMNS)
    summary.attrs["active_dims"] = None if dims is None else [int(k) for k in dims]
    summary.attrs["skipped"] = skipped
    return summary, pd.DataFrame(per_study)


def directions_markdown(summary: pd.DataFrame, digits: int = 3) -> str:
    """The directions x protocols table in Markdown, values with their 95 % intervals."""
    def cell(row, key):
        v, lo, hi = row[key], row.get(f"{key}_lo", np.nan), row.get(f"{key}_hi", np.nan)
        if not np.isfinite(v):
            return "–"
        return f"{v:.{digits}f} [{lo:.{digits}f}, {hi:.{digits}f}]" if np.isfinite(lo) \
            else f"{v:.{digits}f}"

    lines = [("| space | direction | family | metric | per-anchor Spearman | whole-matrix "
              "Spearman | whole-matrix Pearson | triplet agreement | studies > MFCC |"),
             "|---|---|---|---|---|---|---|---|---|"]
    for _, row in summary.iterrows():
        lines.append(f"| {row['space']} | {row['direction']} | {row['family']} | "
                     f"{row['metric']} | {cell(row, 'per_anchor')} | {cell(row, 'spearman')} | "
                     f"{row['pearson']:.{digits}f} | {cell(row, 'triplet')} | "
                     f"{int(row['wins_vs_mfcc'])} / {int(row['n_studies'])} |")
    return "\n".join(lines)


# --------------------------------------------------------------------------- leaderboard
def leaderboard(tables, metric: str = "cosine", published: pd.DataFrame = PUBLISHED
                ) -> pd.DataFrame:
    """Per-anchor Spearman of this run beside the published figures, best first.

    Parameters
    ----------
    tables : DataFrame or list of DataFrames
        :attr:`Evaluation.pooled` (rows named by ``label``) and / or the
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
    thirds of the studies (6 of 9). Default row: the shipped recipe
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
                   & (summary["metric"] == _mfcc_metric(metric))]
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
#: The recipe of the shipped listener space (chosen from the directions table of
#: ``tools/listener_study.py`` on the vanilla space; see docs/listeners.md).
LISTENER_DIRECTION = "learned diagonal (ridge), code mean + spread"
LISTENER_METRIC = "cosine"


def _recipe_fingerprint(vanilla_dir: Path, studies: Sequence[StudyAudio], direction: Direction,
                        metric: str) -> str:
    digest = hashlib.sha256()
    digest.update((vanilla_dir / "config.json").read_bytes())
    digest.update((vanilla_dir / "model.safetensors").read_bytes())
    digest.update(repr((direction, metric, RECIPE_VERSION, ACTIVE_KL_NATS, ATTACK_SECONDS,
                        ACTIVE_DB, ag.RIDGE_GRID)).encode())
    for s in sorted(studies, key=lambda s: s.name):
        digest.update(s.name.encode())
        digest.update(np.ascontiguousarray(s.dissimilarity).tobytes())
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

    Parameters
    ----------
    vanilla_dir : path
        A complete vanilla space.
    out_dir : path
        Where the listener space goes (not ``vanilla_dir``).
    studies : list of paths / names / StudyAudio, optional
        Rated studies to fit on (default: every study).
    direction, metric : str
        A :data:`DIRECTIONS` name and its metric (default: the recipe chosen by
        the directions table).
    training : np.ndarray, optional
        Training-note frames for the active dimensions (directions that use them).

    Returns
    -------
    Path
        ``out_dir``.
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
    studies = load_studies(studies)
    fingerprint = _recipe_fingerprint(vanilla_dir, studies, chosen, metric)
    if not force and (out_dir / "config.json").is_file() and (out_dir / RECIPE_FILE).is_file():
        try:
            if read_json(out_dir / RECIPE_FILE)["info"]["fingerprint"] == fingerprint:
                TimbreSpace.load(out_dir)
                return out_dir
        except (KeyError, TypeError, ValueError, OSError, RuntimeError):
            pass
    dims = active_dims(vanilla, training) if chosen.dims == "active" else None
    listeners = {s.name: s.dissimilarity for s in studies}
    codes = {s.name: encode_study(vanilla, s) for s in
             tqdm(studies, desc="listener space: encode", disable=not progress)}
    info = {"direction": chosen.name, "fingerprint": fingerprint, "vanilla": vanilla.name,
            "studies": sorted(listeners), "active_kl_nats": ACTIVE_KL_NATS,
            "attack_seconds": ATTACK_SECONDS, "active_db": ACTIVE_DB}
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


HEAD_TO_HEAD_COLUMNS = ["model", "rival", "n_studies", "wins", "mean_difference", "won"]


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
    def cell(row, key):
        v = row[key]
        if not np.isfinite(v):
            return "–"
        lo, hi = row.get(f"{key}_lo", np.nan), row.get(f"{key}_hi", np.nan)
        return f"{v:.3f} [{lo:.3f}, {hi:.3f}]" if np.isfinite(lo) else f"{v:.3f}"

    rows = pooled.drop_duplicates(["label", "metric"])
    out = pd.DataFrame({
        "representation": rows["label"], "metric": rows["metric"],
        "per-anchor": [cell(r, "per_anchor") for _, r in rows.iterrows()],
        "whole-matrix": [cell(r, "spearman") for _, r in rows.iterrows()],
        "triplet": [cell(r, "triplet") for _, r in rows.iterrows()],
        "> MFCC": [("–" if not np.isfinite(r["wins_vs_mfcc"]) else
                    f"{int(r['wins_vs_mfcc'])}/{int(r['n_studies'])}")
                   for _, r in rows.iterrows()]})
    if "fitted" in rows:
        out.loc[rows["fitted"].astype(bool).to_numpy(), "representation"] += " (in-sample)"
    return "Over every study (95 % bootstrap intervals over stimuli)\n" + \
        out.to_string(index=False)


def write_evaluation(evaluation, out_dir: str | os.PathLike | None = None
                     ) -> tuple[Path, Path]:
    """Write ``perceptual_eval.csv`` (the per-study table), ``perceptual_eval_pooled.csv``
    (when given an :class:`Evaluation`) and ``perceptual_eval.png`` atomically.

    Returns ``(csv_path, png_path)``.
    """
    from .app.plots import plot_alignment

    table = evaluation.table if isinstance(evaluation, Evaluation) else evaluation
    out_dir = Path(out_dir) if out_dir is not None else config.figures_dir()
    csv_path, png_path = out_dir / "perceptual_eval.csv", out_dir / "perceptual_eval.png"
    value = "per_anchor" if table["spearman"].isna().all() else "spearman"
    fig = plot_alignment(table, value)
    with atomic_path(csv_path) as tmp:
        table.to_csv(tmp, index=False)
    if isinstance(evaluation, Evaluation):
        with atomic_path(out_dir / "perceptual_eval_pooled.csv") as tmp:
            evaluation.pooled.to_csv(tmp, index=False)
    with atomic_path(png_path) as tmp:
        fig.savefig(tmp, format="png", dpi=150)
    return csv_path, png_path


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
    pooling : one of :data:`POOLINGS`, or None (each space's own recipe)

    Returns
    -------
    int
        0. Bad input raises ``FileNotFoundError`` / ``ValueError`` /
        :class:`vts.space.SpaceError` naming the file.
    """
    result = evaluate(model_dir, list(study_dirs) if study_dirs else None, progress,
                      protocol=protocol, metric=metric, pooling=pooling,
                      n_permutations=n_permutations, n_boot=n_boot)
    out_csv = Path(out_csv)
    pooled_csv = out_csv.with_name(f"{out_csv.stem}_pooled.csv")
    with atomic_path(out_csv) as tmp:
        result.table.to_csv(tmp, index=False)
    with atomic_path(pooled_csv) as tmp:
        result.pooled.to_csv(tmp, index=False)
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
