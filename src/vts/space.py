"""A trained, saved timbre space: load it, analyse sounds into it, synthesize from it.

On disk a space is one directory (``models/<transform>-<vanilla|regularized>/``):

=====================  =========================================================
``config.json``        transform, model and training configuration, data key
                       (``FeatureSet.key``), ``vts`` version, format version.
                       Written last: its presence marks a complete space.
``model.safetensors``  VAE weights (safetensors; never pickle).
``normalizer.json``    the corpus normaliser of the input frames.
``split.csv``          ``note_id, instrument, split`` (``train`` / ``test``).
``latents.npz``        posterior means of every note (``z``) with its catalogue
                       fields (note_id, instrument, perceptual_label, pitch,
                       dynamics, split); no object arrays.
``target.csv``         the perceptual target space T the model was trained
                       towards (rows = rated instruments).
``curves.csv``         per-epoch learning curves.
``metrics.json``       test-set metrics (:func:`evaluate_space`).
=====================  =========================================================

:class:`TimbreSpace` gives the encoder / decoder in the project's units: frames
are normalised log-magnitude rows ``(n, n_bins)``, magnitudes are linear
``(n_bins,)`` columns as produced by the transform, codes are ``(n, latent_dim)``.
"""
from __future__ import annotations

import importlib
import math
import os
import warnings
from collections.abc import Sequence
from pathlib import Path


import numpy as np
import pandas as pd
import torch

from . import __version__
from ._io import atomic_path, read_json, write_json
from .config import SAMPLE_RATE
from .data import note_labels, note_pitches, pitch_bands
from .model import VAE, ModelConfig, class_centroids, regularizer_floor

#: Version of the on-disk layout; bump when files or their meaning change.
FORMAT_VERSION = 1
#: Every file a complete space directory holds.
SPACE_FILES = ("config.json", "model.safetensors", "normalizer.json", "split.csv",
               "latents.npz", "target.csv", "curves.csv", "metrics.json")
#: Catalogue columns carried into ``latents.npz`` (those present are kept).
LATENT_META = ("note_id", "instrument", "perceptual_label", "pitch", "dynamics")
#: Number of importance samples of the test log-likelihood estimate.
IWAE_SAMPLES = 100
#: Held-out notes a class needs to enter ``spearman_test_wellsampled``.
MIN_TEST_NOTES = 5


class SpaceError(RuntimeError):
    """A space directory that cannot be loaded; the message names the directory and the cause."""


# -- hooks onto the modules that own transforms / normalisation ----------------
def _transforms_module():
    return importlib.import_module("vts.transforms")


def _normalizer_from_dict(d: dict):
    return _transforms_module().Normalizer.from_dict(d)


def _get_transform(name: str):
    return _transforms_module().get_transform(name)


def _perception_module():
    return importlib.import_module("vts.perception")


# -- writing -------------------------------------------------------------------
def _state_dict_cpu(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().to("cpu").contiguous() for k, v in model.state_dict().items()}


def save_weights(model: torch.nn.Module, path: str | os.PathLike) -> Path:
    """Write a model's ``state_dict`` to a safetensors file, atomically."""
    from safetensors.torch import save_file

    with atomic_path(path) as tmp:
        save_file(_state_dict_cpu(model), str(tmp), metadata={"format": "vts-vae"})
    return Path(path)


def latents_table(catalog: pd.DataFrame, split: Sequence[str]) -> pd.DataFrame:
    """The catalogue fields kept beside the latent codes, plus ``split``."""
    cols = [c for c in LATENT_META if c in catalog.columns]
    meta = catalog[cols].reset_index(drop=True).copy()
    meta["split"] = np.asarray(split, dtype=str)
    return meta


def save_latents(path: str | os.PathLike, z: np.ndarray, meta: pd.DataFrame) -> Path:
    """Write codes ``z (n, d)`` and their metadata to ``latents.npz`` (no pickled objects)."""
    arrays = {"z": np.asarray(z, dtype=np.float32)}
    for col in meta.columns:
        values = meta[col].to_numpy()
        if col == "pitch":
            arrays[col] = pd.to_numeric(meta[col], errors="coerce").to_numpy(dtype=np.float64)
        else:
            arrays[col] = np.asarray(["" if v is None or (isinstance(v, float) and math.isnan(v))
                                      else str(v) for v in values], dtype=str)
    with atomic_path(path) as tmp, open(tmp, "wb") as fh:
        np.savez(fh, **arrays)
    return Path(path)


def write_csv(path: str | os.PathLike, frame: pd.DataFrame, index: bool = False) -> Path:
    with atomic_path(path) as tmp:
        frame.to_csv(tmp, index=index)
    return Path(path)


# -- the space -----------------------------------------------------------------
class TimbreSpace:
    """A trained VAE timbre space (see the module docstring for the file layout).

    Build one with :meth:`load`; the constructor is for the trainer.

    Attributes
    ----------
    directory : Path
    config : dict
        Contents of ``config.json``.
    model : VAE
        In evaluation mode, on ``device``.
    normalizer
        The corpus normaliser (``transform(mag)`` / ``inverse(x)``).
    latents : pandas.DataFrame
        One row per note of the training corpus (train and test): catalogue
        fields, ``split``, and the posterior-mean code in columns ``z0 .. z{d-1}``.
    split : pandas.DataFrame
        ``note_id, instrument, split``.
    target : pandas.DataFrame
        The perceptual target space T (rated instruments x dims).
    metrics : dict
    curves : pandas.DataFrame
    """

    def __init__(self, directory, config: dict, model: VAE, normalizer,
                 latents: pd.DataFrame, split: pd.DataFrame, target: pd.DataFrame,
                 metrics: dict | None = None, curves: pd.DataFrame | None = None,
                 device: str | torch.device = "cpu"):
        self.directory = Path(directory)
        self.config = config
        self.device = torch.device(device)
        self.model = model.to(self.device).eval()
        self.normalizer = normalizer
        self.latents = latents
        self.split = split
        self.target = target
        self.metrics = metrics or {}
        self.curves = curves if curves is not None else pd.DataFrame()
        self._transform = None
        self._pca = None

    # -- loading ---------------------------------------------------------------
    @classmethod
    def load(cls, directory: str | os.PathLike, device: str = "cpu") -> TimbreSpace:
        """Load a complete space directory.

        Raises
        ------
        SpaceError
            If the directory or one of its files is missing or unreadable, or
            if it was written in another format version; the message names the
            directory and the file.
        """
        directory = Path(directory)
        if not directory.is_dir():
            raise SpaceError(f"{directory}: no such timbre-space directory")
        missing = [f for f in SPACE_FILES if not (directory / f).is_file()]
        if missing:
            hint = " (training incomplete? a checkpoint.pt is present)" \
                if (directory / "checkpoint.pt").exists() else ""
            raise SpaceError(f"{directory}: missing {', '.join(missing)}{hint}")

        def part(name, reader):
            try:
                return reader(directory / name)
            except SpaceError:
                raise
            except Exception as error:
                raise SpaceError(f"{directory}: cannot read {name}: {error}") from error

        config = part("config.json", read_json)
        version = config.get("format_version") if isinstance(config, dict) else None
        if version != FORMAT_VERSION:
            raise SpaceError(f"{directory}: config.json has format version {version!r}, "
                             f"this vts ({__version__}) reads version {FORMAT_VERSION}; "
                             "retrain the space (make train)")
        for key in ("transform", "model"):
            if key not in config:
                raise SpaceError(f"{directory}: config.json lacks {key!r}")
        model_config = ModelConfig.from_dict(config["model"])
        model = VAE(model_config)

        def read_weights(path):
            from safetensors.torch import load_file

            state = load_file(str(path))
            model.load_state_dict(state, strict=True)
            return state

        part("model.safetensors", read_weights)
        normalizer = part("normalizer.json", lambda p: _normalizer_from_dict(read_json(p)))
        split = part("split.csv", _read_split)
        latents = part("latents.npz", lambda p: _read_latents(p, model_config.latent_dim))
        if not np.array_equal(latents["note_id"].to_numpy(str), split["note_id"].to_numpy(str)):
            raise SpaceError(f"{directory}: split.csv and latents.npz list different notes")
        target = part("target.csv", lambda p: pd.read_csv(p, index_col=0))
        curves = part("curves.csv", pd.read_csv)
        metrics = part("metrics.json", read_json)
        return cls(directory, config, model, normalizer, latents, split, target,
                   metrics, curves, device)

    # -- saving ------------------------------------------------------------------
    def save(self, directory: str | os.PathLike | None = None) -> Path:
        """Write the space to ``directory`` (default: its own), ``config.json`` last.

        ``format_version`` and ``vts_version`` are filled into the config.
        """
        d = Path(directory) if directory is not None else self.directory
        d.mkdir(parents=True, exist_ok=True)
        if (d / "config.json").exists():          # not complete while being rewritten
            (d / "config.json").unlink()
        save_weights(self.model, d / "model.safetensors")
        write_json(d / "normalizer.json", self.normalizer.to_dict())
        write_csv(d / "split.csv", self.split)
        meta = self.latents.drop(columns=self.z_columns)
        save_latents(d / "latents.npz", self.latents[self.z_columns].to_numpy(), meta)
        write_csv(d / "target.csv", self.target, index=True)
        write_csv(d / "curves.csv", self.curves)
        write_json(d / "metrics.json", self.metrics)
        config = dict(self.config, format_version=FORMAT_VERSION, vts_version=__version__,
                      model=self.model.config.to_dict())
        write_json(d / "config.json", config)
        self.config = config
        return d

    # -- description -----------------------------------------------------------
    @property
    def name(self) -> str:
        return self.directory.name

    @property
    def transform_name(self) -> str:
        return self.config["transform"]

    @property
    def transform(self):
        """The spectral transform object (built on first use)."""
        if self._transform is None:
            self._transform = _get_transform(self.transform_name)
        return self._transform

    @property
    def regularized(self) -> bool:
        return bool(self.config.get("regularized", False))

    @property
    def latent_dim(self) -> int:
        return self.model.config.latent_dim

    @property
    def n_bins(self) -> int:
        return self.model.config.input_dim

    @property
    def z_columns(self) -> list[str]:
        return [f"z{i}" for i in range(self.latent_dim)]

    def codes(self, split: str | None = "train") -> np.ndarray:
        """Posterior means ``(n, latent_dim)`` of the corpus notes of ``split`` (None: all)."""
        rows = self.latents if split is None else self.latents[self.latents["split"] == split]
        return rows[self.z_columns].to_numpy(dtype=np.float32)

    @property
    def instruments(self) -> list[str]:
        """Instruments of the training notes, sorted."""
        train = self.latents[self.latents["split"] == "train"]
        return sorted(str(i) for i in train["instrument"].unique())

    @property
    def centroids(self) -> pd.DataFrame:
        """Mean training code of each instrument: ``instrument x z0..z{d-1}``."""
        train = self.latents[self.latents["split"] == "train"]
        return train.groupby("instrument")[self.z_columns].mean().loc[self.instruments]

    # -- PCA for display ----------------------------------------------------------
    @property
    def pca(self):
        """A 3-D :class:`sklearn.decomposition.PCA` fitted on the training codes."""
        if self._pca is None:
            from sklearn.decomposition import PCA

            z = self.codes("train").astype(np.float64)
            self._pca = PCA(n_components=min(3, z.shape[1], z.shape[0]),
                            svd_solver="full").fit(z)
        return self._pca

    def to_pca(self, z) -> np.ndarray:
        """Codes ``(n, d)`` or ``(d,)`` -> PCA coordinates ``(n, 3)`` or ``(3,)``."""
        z = np.asarray(z, dtype=np.float64)
        out = self.pca.transform(np.atleast_2d(z))
        return out[0] if z.ndim == 1 else out

    def from_pca(self, p) -> np.ndarray:
        """PCA coordinates ``(n, 3)`` or ``(3,)`` -> codes on the PCA plane (mean + p @ components)."""
        p = np.asarray(p, dtype=np.float64)
        out = self.pca.inverse_transform(np.atleast_2d(p)).astype(np.float32)
        return out[0] if p.ndim == 1 else out

    # -- analysis ---------------------------------------------------------------
    @torch.no_grad()
    def encode_frames(self, frames) -> np.ndarray:
        """Posterior means ``(n, latent_dim)`` of normalised frames ``(n, n_bins)``
        (a single ``(n_bins,)`` frame gives ``(latent_dim,)``)."""
        x = np.asarray(frames, dtype=np.float32)
        single = x.ndim == 1
        x = np.atleast_2d(x)
        if x.shape[1] != self.n_bins:
            raise ValueError(f"frames have {x.shape[1]} bins, the space expects {self.n_bins}")
        mu, _ = self.model.encode(torch.tensor(x, device=self.device))
        out = mu.cpu().numpy()
        return out[0] if single else out

    def normalize(self, magnitude) -> np.ndarray:
        """Linear magnitudes ``(n_bins,)`` or ``(n_bins, n_frames)`` -> normalised frames
        ``(n_bins,)`` or ``(n_frames, n_bins)`` (the normaliser acts element-wise)."""
        mag = np.asarray(magnitude, dtype=np.float64)
        if mag.ndim not in (1, 2) or mag.shape[0] != self.n_bins:
            raise ValueError(f"magnitude of shape {mag.shape}: expected ({self.n_bins},) or "
                             f"({self.n_bins}, n_frames)")
        return np.asarray(self.normalizer.transform(mag.T), dtype=np.float32)

    def encode_magnitude(self, magnitude) -> np.ndarray:
        """Codes of linear magnitude frames ``(n_bins,)`` -> ``(latent_dim,)``, or
        ``(n_bins, n_frames)`` -> ``(n_frames, latent_dim)``."""
        return self.encode_frames(self.normalize(magnitude))

    def encode_audio(self, audio, sample_rate: int | None = None) -> np.ndarray:
        """Code of the sustained frame of a sound.

        Parameters
        ----------
        audio : path, array or list of paths/arrays
            A sound file, a mono signal, or several of them.
        sample_rate : int, optional
            Sample rate (Hz) of array input (default: ``config.SAMPLE_RATE``);
            ignored for files, which are resampled on reading.

        Returns
        -------
        np.ndarray
            ``(latent_dim,)`` posterior mean, or ``(n, latent_dim)`` for a list.
        """
        if isinstance(audio, (list, tuple)):
            return np.stack([self.encode_audio(a, sample_rate) for a in audio])
        signal = self._load(audio, sample_rate)
        frame = _transforms_module().sustained_frame(signal, self.transform)
        return self.encode_magnitude(np.asarray(frame))

    @staticmethod
    def _load(audio, sample_rate: int | None) -> np.ndarray:
        from .audio import load_audio, resample

        if isinstance(audio, (str, os.PathLike)):
            return load_audio(audio, SAMPLE_RATE)
        signal = np.asarray(audio, dtype=np.float32)
        if signal.ndim != 1:
            raise ValueError(f"expected a mono signal (n_samples,), got shape {signal.shape}")
        return resample(signal, int(sample_rate or SAMPLE_RATE), SAMPLE_RATE)

    # -- synthesis ----------------------------------------------------------------
    @torch.no_grad()
    def decode(self, z) -> np.ndarray:
        """Normalised frames: codes ``(n, latent_dim)`` -> ``(n, n_bins)``, ``(latent_dim,)`` -> ``(n_bins,)``."""
        z = np.asarray(z, dtype=np.float32)
        single = z.ndim == 1
        z = np.atleast_2d(z)
        if z.shape[1] != self.latent_dim:
            raise ValueError(f"codes have {z.shape[1]} dims, the space has {self.latent_dim}")
        out = self.model.decode(torch.tensor(z, device=self.device)).cpu().numpy()
        return out[0] if single else out

    def decode_magnitude(self, z) -> np.ndarray:
        """Linear magnitudes: codes ``(n, latent_dim)`` -> ``(n, n_bins)``, ``(latent_dim,)`` -> ``(n_bins,)``."""
        return np.asarray(self.normalizer.inverse(self.decode(z)), dtype=np.float32)

    def synthesize(self, z_or_path, seconds: float = 1.0, n_iter: int = 100) -> np.ndarray:
        """Audio (float32, ``config.SAMPLE_RATE``) from a code, a path of codes or a sound.

        Parameters
        ----------
        z_or_path : array or path
            ``(latent_dim,)``: one decoded frame held for ``seconds``
            (:func:`vts.transforms.render_frame`); ``(n, latent_dim)``: a latent
            path, decoded frame by frame, spread evenly over ``seconds`` (linear
            interpolation of magnitudes between codes) and phase-reconstructed
            with :func:`vts.transforms.griffin_lim`; a path / signal: encoded
            with :meth:`encode_audio` first (re-synthesis of its sustained frame).
        seconds : float
            Duration in seconds.
        n_iter : int
            Phase-retrieval (fast Griffin-Lim) iterations.
        """
        tr = _transforms_module()
        if isinstance(z_or_path, (str, os.PathLike)):
            z = self.encode_audio(z_or_path)
        else:
            z = np.asarray(z_or_path, dtype=np.float32)
            if z.ndim == 1 and z.shape[0] != self.latent_dim:   # a signal, not a code
                z = self.encode_audio(z)
        if z.ndim == 1:
            return np.asarray(tr.render_frame(self.decode_magnitude(z), self.transform, seconds,
                                              n_iter=n_iter), dtype=np.float32)
        mags = self.decode_magnitude(z)                          # (n, n_bins)
        length = max(1, round(seconds * SAMPLE_RATE))
        n_frames = int(self.transform.n_frames(length))
        pos = np.linspace(0.0, len(mags) - 1, n_frames)
        lo = np.floor(pos).astype(int)
        hi = np.minimum(lo + 1, len(mags) - 1)
        w = (pos - lo)[:, None]
        frames = (1 - w) * mags[lo] + w * mags[hi]               # (n_frames, n_bins)
        audio = tr.griffin_lim(frames.T, self.transform, n_iter=n_iter, length=length)
        return np.asarray(audio, dtype=np.float32)

    def __repr__(self) -> str:
        kind = "regularized" if self.regularized else "vanilla"
        return (f"TimbreSpace({self.transform_name}, {kind}, latent_dim={self.latent_dim}, "
                f"n_bins={self.n_bins}, dir={str(self.directory)!r})")


def _read_split(path: Path) -> pd.DataFrame:
    split = pd.read_csv(path, dtype={"note_id": str, "instrument": str, "split": str})
    if not {"note_id", "split"} <= set(split.columns):
        raise SpaceError(f"{path}: needs columns note_id and split, has {list(split.columns)}")
    if not split["split"].isin(["train", "test"]).all():
        raise SpaceError(f"{path}: split values other than train / test")
    return split


def _read_latents(path: Path, latent_dim: int) -> pd.DataFrame:
    with np.load(path, allow_pickle=False) as data:
        z = data["z"]
        if z.ndim != 2 or z.shape[1] != latent_dim:
            raise SpaceError(f"{path}: codes of shape {z.shape}, expected (n, {latent_dim})")
        meta = {k: data[k] for k in data.files if k != "z"}
    for key in ("note_id", "instrument", "split"):
        if key not in meta:
            raise SpaceError(f"{path}: no {key!r} array")
    frame = pd.DataFrame({k: (v.astype(str) if v.dtype.kind == "U" else v)
                          for k, v in meta.items()})
    codes = pd.DataFrame(z, columns=[f"z{i}" for i in range(latent_dim)])
    return pd.concat([frame, codes], axis=1)


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
    from scipy.stats import pearsonr, spearmanr

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
    from .model import SIGMA, perceptual_regularizer

    sigma = SIGMA if sigma is None else sigma
    labels = [str(l) for l in labels]
    names = [str(n) for n in target.index if str(n) in set(labels)]
    r = perceptual_regularizer(torch.from_numpy(np.asarray(codes, np.float64)), labels,
                               target, sigma)
    return float(r), regularizer_floor(target.loc[names].to_numpy(np.float64))


def linear_probe_accuracy(train_codes, train_labels, test_codes, test_labels,
                          seed: int = 0) -> float:
    """Instrument accuracy of a logistic regression fitted on train codes, scored on test codes."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler
    from threadpoolctl import threadpool_limits

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


@torch.no_grad()
def evaluate_space(space: TimbreSpace, features, target: pd.DataFrame | None = None,
                   dissimilarity: pd.DataFrame | None = None,
                   iwae_samples: int = IWAE_SAMPLES, seed: int = 0) -> dict:
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
        on test codes.
    """
    if target is None:
        target = space.target
    if dissimilarity is None:
        dissimilarity = _perception_module().combined_dissimilarity()
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
        "n_octaves": int(len(bands)),
        "probe_accuracy": linear_probe_accuracy(z_train, instruments[train], z_test,
                                                instruments[test], seed),
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

TABLE1_COLUMNS = ["model", "transform", "regularized", "test_loglik", "test_mse", "kl_timbre",
                  "spearman", "pearson", "probe_accuracy", "kl_timbre_excess", "kl_timbre_floor",
                  "kl_timbre_train", "kl_timbre_excess_train", "spearman_test", "pearson_test",
                  "spearman_test_wellsampled", "spearman_octave",
                  "test_loglik_per_bin", "test_elbo",
                  "n_pairs", "n_train", "n_test", "n_bins"]


def collect_metrics(models_root: str | os.PathLike) -> pd.DataFrame:
    """One row per complete space under ``models_root`` (its ``metrics.json``)."""
    root = Path(models_root)
    rows = []
    for d in sorted(p for p in root.iterdir() if p.is_dir()) if root.is_dir() else []:
        if not (d / "metrics.json").is_file() or not (d / "config.json").is_file():
            continue
        metrics = read_json(d / "metrics.json")
        config = read_json(d / "config.json")
        metrics.update(model=d.name, transform=config.get("transform", metrics.get("transform")),
                       regularized=bool(config.get("regularized", metrics.get("regularized"))))
        rows.append(metrics)
    table = pd.DataFrame(rows)
    for col in TABLE1_COLUMNS:
        if col not in table:
            table[col] = np.nan
    return table[TABLE1_COLUMNS + [c for c in table.columns if c not in TABLE1_COLUMNS]]


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


def write_table1(models_root: str | os.PathLike | None = None,
                 out_dir: str | os.PathLike | None = None) -> pd.DataFrame:
    """Write ``table1.csv`` and ``table1.md`` (ours beside the paper's values).

    Parameters
    ----------
    models_root : path, default ``config.models_dir()``
        Folder of space directories (``<transform>-<vanilla|regularized>``).
    out_dir : path, default ``config.figures_dir()``

    Returns
    -------
    pandas.DataFrame
        The rows written to ``table1.csv``.
    """
    from . import config as cfg

    models_root = Path(models_root) if models_root is not None else cfg.models_dir()
    out_dir = Path(out_dir) if out_dir is not None else cfg.figures_dir()
    table = collect_metrics(models_root)
    if len(table):
        order = {t: i for i, t in enumerate(cfg.TRANSFORMS)}
        table = table.assign(_o=table["transform"].map(order).fillna(len(order)),
                             _r=table["regularized"].astype(int), _m=table["model"])
        table = table.sort_values(["_o", "_r", "_m"], ascending=[True, True, False]) \
            .drop(columns=["_o", "_r", "_m"]).reset_index(drop=True)
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
         "'-banded' models (beyond the paper) apply R within pitch bands."),
        "",
        ("| model | log p(x) ours | log p(x) paper | MSE ours | MSE paper | R | R - floor "
         "| Fig. 3 paper | rho space | rho test | rho test, well-sampled | rho octave "
         "| Pearson space | probe acc. |"),
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
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
            f"{_fmt(row['test_mse'])} | {_fmt(p_mse)} | {_fmt(row['kl_timbre'])} | "
            f"{_fmt(row['kl_timbre_excess'])} | {_fmt(p_kl)} | {_fmt(row['spearman'], 3)} | "
            f"{_fmt(row['spearman_test'], 3)} | {_fmt(row['spearman_test_wellsampled'], 3)} | "
            f"{_fmt(row['spearman_octave'], 3)} | {_fmt(row['pearson'], 3)} | "
            f"{_fmt(row['probe_accuracy'], 3)} |")
    lines += ["", (f"Paper's unlabelled 'NSGT unregularised' row: log p(x) {PAPER_NSGT_ROW[0]}, "
                   f"MSE {PAPER_NSGT_ROW[1]}."), ""]
    with atomic_path(out_dir / "table1.md") as tmp:
        tmp.write_text("\n".join(lines))
    return table
