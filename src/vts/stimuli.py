"""The stimuli of a timbre study, and what a space makes of them.

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
concatenated). The same poolings apply to the normalised input frames, and,
for the distances between posteriors, to the Gaussians
(:func:`pooled_posterior`: a frame's posterior, or the moment-matched
Gaussian of the frames' mixture). A :func:`trajectory` keeps the sequence
instead: the codes (or frames) averaged over :data:`TRAJECTORY_SECONDS`
blocks, a pair padded to equal length with the code of silence
(:func:`padded_distances`), as Tian et al.'s padded MFCC
(:func:`mfcc_padded_distances`).

The model-independent baselines (:data:`BASELINES`): time-averaged MFCC
(:func:`mfcc_mean`, :data:`N_MFCC` coefficients including c0, librosa
defaults, averaged over the active frames) and the mean spectral centroid
(:func:`spectral_centroid_hz`). :func:`active_dims` finds the latent
dimensions a space uses, from its *training* notes only.
"""
from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import librosa
import numpy as np
import torch

from . import agreement as ag
from . import config
from .dsp import get_transform, note_frames, sustained_frame
from .features import load_features
from .io import load_audio
from .perception import STUDIES_IN_TARGET, list_studies, load_study
from .space import TimbreSpace

#: Names of the baselines, in display order (the representations of :mod:`vts.listeners`).
BASELINES = ("mfcc", "centroid", "spectral", "spectral-mean")
#: How a stimulus' frames become one point (module docstring).
POOLINGS = ("sustained", "mean", "mean-std", "attack", "mean-attack", "thirds")
#: Frames whose energy is more than this many dB below a stimulus' loudest
#: frame are ignored when averaging (MFCC, centroid, every pooling but ``sustained``).
ACTIVE_DB = 30.0
#: Length (s) of the attack part, from the first active frame.
ATTACK_SECONDS = 0.1
#: Block length (s) of a trajectory (:func:`trajectory`): frames averaged per block.
TRAJECTORY_SECONDS = 0.025
#: MFCC settings of the baseline (librosa defaults: 2048-point FFT, hop 512; 40 coefficients).
N_MFCC = 40
MFCC_N_FFT = 2048
MFCC_HOP = 512
#: A latent dimension is *active* when its mean KL divergence from the prior
#: over the space's training notes exceeds this (nats). Fixed before any
#: study was scored.
ACTIVE_KL_NATS = 0.1


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
    _analyses: dict = field(default_factory=dict, init=False, repr=False, compare=False)

    def __len__(self) -> int:
        return len(self.stimuli)

    def analyses(self, transform) -> list[tuple[np.ndarray, np.ndarray]]:
        """:func:`analyse_stimulus` of every stimulus under ``transform``, computed
        once per transform (every space of that transform encodes the same
        magnitudes); an error names the stimulus' file."""
        tr = get_transform(transform)
        key = (tr.name, tr.sample_rate)
        if key not in self._analyses:
            out = []
            for path, signal in zip(self.stimuli, self.signals):
                try:
                    arrays = analyse_stimulus(signal, tr)
                except ValueError as error:
                    raise ValueError(f"{path}: {error}") from error
                for a in arrays:
                    a.setflags(write=False)
                out.append(arrays)
            self._analyses[key] = out
        return self._analyses[key]

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


def _study_list(study_dirs) -> list:
    if study_dirs is None:
        return list(list_studies())
    if isinstance(study_dirs, (str, os.PathLike, StudyAudio)):
        return [study_dirs]
    return list(study_dirs)


def load_studies(study_dirs=None) -> list[StudyAudio]:
    """Several studies (default: every study of :func:`vts.perception.list_studies`)."""
    studies = [load_study_audio(s) for s in _study_list(study_dirs)]
    if not studies:
        raise ValueError("no study given")
    names = [s.name for s in studies]
    if len(set(names)) != len(names):
        raise ValueError(f"two studies share a name: {names}")
    return studies


def study_ratings(study_dirs=None) -> list[tuple[str, np.ndarray]]:
    """``(name, dissimilarity matrix)`` of each study, as :func:`load_studies` would give
    them, without decoding any audio."""
    return [(s.name, np.asarray(s.dissimilarity, dtype=np.float64))
            for s in (x if isinstance(x, StudyAudio) else load_study(x)
                      for x in _study_list(study_dirs))]


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
        frame = sustained_frame(audio, space.transform)
        return np.atleast_2d(np.asarray(space.normalize(frame), dtype=np.float32))
    magnitude = note_frames(np.asarray(audio, dtype=np.float64), space.transform)
    frames, active, _ = _all_frames(space, magnitude, active_db)
    return frames[active]


def analyse_stimulus(audio, transform) -> tuple[np.ndarray, np.ndarray]:
    """The magnitudes a space of ``transform`` encodes of one stimulus: its sustained
    frame ``(n_bins,)`` (:func:`vts.dsp.sustained_frame`) and every frame of the
    whole sound ``(n_bins, n_frames)`` (:func:`vts.dsp.note_frames`), linear."""
    return (np.array(sustained_frame(audio, transform)),      # a copy, not a view
            note_frames(np.asarray(audio, dtype=np.float64), transform))


def _all_frames(space, magnitude: np.ndarray, active_db: float):
    """Every normalised frame of a stimulus' magnitudes ``(n_bins, n_frames)``, its
    active mask and its attack mask."""
    active = _active(np.sum(magnitude ** 2, axis=0), active_db)
    times = np.arange(magnitude.shape[1]) * float(space.transform.hop_seconds)
    onset = times[np.argmax(active)]
    attack = active & (times - onset < ATTACK_SECONDS)
    frames = np.atleast_2d(np.asarray(space.normalize(magnitude.T), dtype=np.float32))
    return frames, active, attack


def encode_stimulus(space, audio, active_db: float = ACTIVE_DB, *,
                    analysis: tuple[np.ndarray, np.ndarray] | None = None) -> StimulusCodes:
    """The sustained frame, every frame and their posteriors (:class:`StimulusCodes`).

    ``analysis``: the stimulus' :func:`analyse_stimulus` under the space's
    transform, when already computed (``audio`` is then not analysed again).
    """
    sustained, magnitude = analysis if analysis is not None else \
        analyse_stimulus(audio, space.transform)
    frame = np.atleast_2d(np.asarray(space.normalize(sustained), dtype=np.float32))[0]
    frames, active, attack = _all_frames(space, magnitude, active_db)
    silence = np.asarray(space.normalize(np.zeros(frames.shape[1])), dtype=np.float32)
    mu, var = _posterior(space, np.vstack([frame[None], silence[None], frames]))
    return StimulusCodes(frame=frame.astype(np.float64), all_frames=frames, active=active,
                         attack=attack, mu0=mu[0], var0=None if var is None else var[0],
                         all_mu=mu[2:], all_var=None if var is None else var[2:],
                         silence_frame=silence.astype(np.float64), silence_mu=mu[1],
                         hop_seconds=float(space.transform.hop_seconds))


def encode_study(space, study: StudyAudio, active_db: float = ACTIVE_DB) -> list[StimulusCodes]:
    """:func:`encode_stimulus` of every stimulus (the magnitudes from
    :meth:`StudyAudio.analyses`); an error names the stimulus' file."""
    analyses = study.analyses(space.transform)
    out = []
    for path, signal, analysis in zip(study.stimuli, study.signals, analyses):
        try:
            out.append(encode_stimulus(space, signal, active_db, analysis=analysis))
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
    padded = np.vstack([rows, np.repeat(silence_code(c, source)[None], n * k - len(rows), axis=0)])
    return padded.reshape(n, k, -1).mean(axis=1)


def silence_code(c: StimulusCodes, source: str) -> np.ndarray:
    """What silence is for ``source`` (``"code"``: its posterior mean; else its frame),
    used to pad the shorter of two trajectories."""
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
    full = [np.vstack([s, np.repeat(p[None], t_max - len(s), axis=0)])
            for s, p in zip(seqs, pads)]
    return _prefix_distances(full, [len(s) for s in seqs], metric)


def _prefix_distances(full: Sequence[np.ndarray], lengths: Sequence[int],
                      metric: str) -> np.ndarray:
    """Distances between equally long sequences ``full``, a pair ``(i, j)`` compared on
    its first ``max(lengths[i], lengths[j])`` rows, flattened."""
    n = len(full)
    out = np.zeros((n, n))
    for i in range(n):
        for j in range(i + 1, n):
            t = max(lengths[i], lengths[j])
            a, b = full[i][:t].ravel(), full[j][:t].ravel()
            if metric == "euclidean":
                value = np.linalg.norm(a - b)
            elif metric == "cosine":
                na, nb = np.linalg.norm(a), np.linalg.norm(b)
                if na == 0 or nb == 0:
                    raise ValueError("cosine distance is undefined for a zero sequence")
                value = float(np.clip(1.0 - a @ b / (na * nb), 0.0, 2.0))
            else:
                raise ValueError(f"metric must be one of {ag.METRICS}, got {metric!r}")
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
    return _prefix_distances(full, [max(1, int(np.ceil(len(s) / MFCC_HOP))) for s in signals],
                             metric)


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


def keep_dims(codes: Sequence[StimulusCodes], dims) -> list[StimulusCodes]:
    """The codes restricted to latent dimensions ``dims`` (all when None)."""
    return list(codes) if dims is None else [c.select(dims) for c in codes]


def load_space(model):
    """A space: ``model`` itself if it encodes frames, else loaded from its directory."""
    if hasattr(model, "encode_frames"):
        return model
    return TimbreSpace.load(model)


def space_identity(space) -> tuple[str, str, object]:
    """``(name, transform name, regularized)`` of a space, for the tables' rows."""
    name = getattr(space, "name", None) or type(space).__name__
    transform = getattr(space, "transform_name", None)
    if transform is None:
        transform = getattr(getattr(space, "transform", None), "name", "")
    regularized = getattr(space, "regularized", None)
    return str(name), str(transform), regularized


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
