"""A trained, saved timbre space: load it, analyse sounds into it, synthesize from it.

On disk a space is one directory (``models/<transform>-<kind>/``):

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
``metrics.json``       test-set metrics (:func:`vts.metrics.evaluate_space`).
=====================  =========================================================

:class:`TimbreSpace` gives the encoder / decoder in the project's units: frames
are normalised log-magnitude rows ``(n, n_bins)``, magnitudes linear rows
``(n, n_bins)`` (one frame: ``(n_bins,)``), codes ``(n, latent_dim)``.
"""
from __future__ import annotations

import math
import os
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from safetensors import safe_open
from safetensors.torch import load_file, save_file
from sklearn.decomposition import PCA

from . import __version__
from .dsp import Normalizer, get_transform, render, sustained_frame
from .dsp.render import N_ITER
from .io import as_signal, atomic_path, read_json, write_json
from .model import VAE, ModelConfig

#: Version of the on-disk layout; bump when files or their meaning change.
FORMAT_VERSION = 1
#: Every file a complete space directory holds.
SPACE_FILES = ("config.json", "model.safetensors", "normalizer.json", "split.csv",
               "latents.npz", "target.csv", "curves.csv", "metrics.json")
#: Catalogue columns carried into ``latents.npz`` (those present are kept).
LATENT_META = ("note_id", "instrument", "perceptual_label", "pitch", "dynamics")


class SpaceError(RuntimeError):
    """A space directory that cannot be loaded; the message names the directory and the cause."""


# -- writing -------------------------------------------------------------------
def space_kind(config: Mapping) -> str:
    """The kind of a saved space from its ``config.json``: ``vanilla``, a regulariser's
    kind (``class``, ``banded``, ``l2`` ...) or ``listener`` (a vanilla model with the
    distance recipe of :mod:`vts.listener_space`). Spaces written before kinds were
    recorded: ``vanilla``, or their ``training.reg_kind``."""
    if config.get("kind"):
        return str(config["kind"])
    if not config.get("regularized"):
        return "vanilla"
    return str(config.get("training", {}).get("reg_kind", "class"))


def _state_dict_cpu(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().to("cpu").contiguous() for k, v in model.state_dict().items()}


def save_weights(model: torch.nn.Module, path: str | os.PathLike) -> Path:
    """Write a model's ``state_dict`` to a safetensors file, atomically."""
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
            If the directory or one of its files is missing or unreadable, if
            it was written in another format version, if ``config.json``'s
            model sizes are not positive integers or disagree with the tensor
            shapes in ``model.safetensors`` (checked from its header, before
            anything is allocated), or if weights or codes hold NaN / inf;
            the message names the directory and the file.
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
        model_config = _model_config(directory, config["model"])
        _check_weight_shapes(directory, model_config)
        model = VAE(model_config)

        def read_weights(path):
            state = load_file(str(path))
            bad = [name for name, tensor in state.items()
                   if tensor.is_floating_point() and not bool(torch.isfinite(tensor).all())]
            if bad:
                raise SpaceError(f"{directory}: model.safetensors holds NaN or infinite weights "
                                 f"(in {', '.join(bad[:3])}{', ...' if len(bad) > 3 else ''}); "
                                 "the space is damaged, retrain it")
            model.load_state_dict(state, strict=True)
            return state

        part("model.safetensors", read_weights)
        normalizer = part("normalizer.json", lambda p: Normalizer.from_dict(read_json(p)))
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
            self._transform = get_transform(self.transform_name)
        return self._transform

    @property
    def regularized(self) -> bool:
        return bool(self.config.get("regularized", False))

    @property
    def kind(self) -> str:
        """:func:`space_kind` of this space."""
        return space_kind(self.config)

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
        """Linear magnitude frames ``(n_bins,)`` or ``(n_frames, n_bins)`` -> normalised frames
        of the same shape (the normaliser acts element-wise)."""
        mag = np.asarray(magnitude, dtype=np.float64)
        if mag.ndim not in (1, 2) or mag.shape[-1] != self.n_bins:
            raise ValueError(f"magnitude of shape {mag.shape}: expected ({self.n_bins},) or "
                             f"(n_frames, {self.n_bins})")
        return np.asarray(self.normalizer.transform(mag), dtype=np.float32)

    def encode_magnitude(self, magnitude) -> np.ndarray:
        """Codes of linear magnitude frames ``(n_bins,)`` -> ``(latent_dim,)``, or
        ``(n_frames, n_bins)`` -> ``(n_frames, latent_dim)``."""
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
        frame = sustained_frame(as_signal(audio, sample_rate), self.transform)
        return self.encode_magnitude(np.asarray(frame))

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

    def synthesize(self, z, seconds: float = 1.0, *, method: str = "griffin-lim",
                   n_iter: int = N_ITER, seed: int = 0, renderer=None) -> np.ndarray:
        """Audio (float32, at the transform's sample rate) of one code or of several.

        Parameters
        ----------
        z : np.ndarray, shape (latent_dim,) or (n, latent_dim)
            One code, whose decoded frame is held for ``seconds``, or ``n`` codes
            whose decoded frames are spread evenly over ``seconds``
            (:func:`vts.dsp.render`). For a sound that glides through the
            latent space pass one code per output frame
            (:func:`vts.paths.path_audio` does).
        seconds : float
            Duration (s).
        method, n_iter, seed, renderer
            Passed to :func:`vts.dsp.render`.
        """
        z = np.asarray(z, dtype=np.float32)
        if z.ndim not in (1, 2) or z.shape[-1] != self.latent_dim:
            raise ValueError(f"synthesize takes codes ({self.latent_dim},) or (n, "
                             f"{self.latent_dim}), got shape {z.shape}")
        return render(self.decode_magnitude(z), self.transform, seconds, method=method,
                      n_iter=n_iter, seed=seed, renderer=renderer)

    def __repr__(self) -> str:
        kind = "regularized" if self.regularized else "vanilla"
        return (f"TimbreSpace({self.transform_name}, {kind}, latent_dim={self.latent_dim}, "
                f"n_bins={self.n_bins}, dir={str(self.directory)!r})")


#: Integer fields of a space's model configuration, and the others.
_INT_FIELDS = ("input_dim", "hidden_units", "n_hidden_layers", "latent_dim")


def _model_config(directory: Path, raw) -> ModelConfig:
    """The ``model`` section of ``config.json`` as a :class:`ModelConfig`, every field checked."""
    where = f"{directory}: config.json"
    if not isinstance(raw, dict):
        raise SpaceError(f"{where}: 'model' must be an object, got {type(raw).__name__}")
    missing = [k for k in _INT_FIELDS if k not in raw]
    if missing:
        raise SpaceError(f"{where}: model lacks {', '.join(missing)}")
    for key in _INT_FIELDS:
        value = raw[key]
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise SpaceError(f"{where}: model.{key} must be a positive integer, got {value!r}")
    likelihood = raw.get("likelihood", "learned")
    if likelihood not in ("learned", "fixed"):
        raise SpaceError(f"{where}: model.likelihood must be 'learned' or 'fixed', "
                         f"got {likelihood!r}")
    logvar = raw.get("fixed_logvar", 0.0)
    if isinstance(logvar, bool) or not isinstance(logvar, (int, float)) \
            or not math.isfinite(logvar):
        raise SpaceError(f"{where}: model.fixed_logvar must be a finite number, got {logvar!r}")
    try:
        return ModelConfig.from_dict(raw)
    except (TypeError, ValueError) as error:
        raise SpaceError(f"{where}: {error}") from error


def _check_weight_shapes(directory: Path, model_config: ModelConfig) -> None:
    """Compare the tensor names and shapes of ``model.safetensors`` (its header only) with
    those ``model_config`` gives, before the model is built: a tampered size (``hidden_units``
    of 10**7) is refused without allocating anything."""
    path = directory / "model.safetensors"
    try:
        with safe_open(str(path), framework="pt") as handle:
            names = list(handle.keys())           # safe_open is no mapping
            stored = {name: tuple(handle.get_slice(name).get_shape()) for name in names}
    except Exception as error:
        raise SpaceError(f"{directory}: cannot read model.safetensors: {error}") from error
    where = f"{directory}: config.json and model.safetensors disagree"
    if model_config.n_hidden_layers > len(stored):          # cheap bound before the meta model
        raise SpaceError(f"{where}: {model_config.n_hidden_layers} hidden layers in the config, "
                         f"{len(stored)} tensors in the weights")
    with torch.device("meta"):                               # shapes only, no memory
        expected = {name: tuple(t.shape) for name, t in VAE(model_config).state_dict().items()}
    missing = sorted(set(expected) - set(stored))
    extra = sorted(set(stored) - set(expected))
    if missing or extra:
        problems = ([f"missing tensors {', '.join(missing[:3])}"] if missing else []) \
            + ([f"unexpected tensors {', '.join(extra[:3])}"] if extra else [])
        raise SpaceError(f"{where}: {'; '.join(problems)}")
    for name, shape in expected.items():
        if stored[name] != shape:
            raise SpaceError(f"{where}: {name} has shape {stored[name]} in the weights, the "
                             f"config's sizes give {shape}")


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
        if not np.all(np.isfinite(z)):
            raise SpaceError(f"{path}: codes hold NaN or infinite values")
        meta = {k: data[k] for k in data.files if k != "z"}
    for key in ("note_id", "instrument", "split"):
        if key not in meta:
            raise SpaceError(f"{path}: no {key!r} array")
    frame = pd.DataFrame({k: (v.astype(str) if v.dtype.kind == "U" else v)
                          for k, v in meta.items()})
    codes = pd.DataFrame(z, columns=[f"z{i}" for i in range(latent_dim)])
    return pd.concat([frame, codes], axis=1)


