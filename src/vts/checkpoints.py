"""Checkpoints of a training run, and whether a saved space is current.

A checkpoint holds the model, the optimiser, the random stream and the curves
so far, with a *fingerprint* of everything the run depends on (settings, data,
target); a checkpoint whose fingerprint differs is ignored, never resumed.
"""
from __future__ import annotations

import hashlib
import json
import os
import pickle
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from . import __version__
from .io import atomic_path, read_json
from .profiles import TrainConfig
from .space import FORMAT_VERSION, SPACE_FILES

#: Version of the checkpoint layout (a checkpoint of another version is ignored).
CHECKPOINT_VERSION = 1
CHECKPOINT = "checkpoint.pt"
STAGE1_CHECKPOINT = "stage1.pt"
_STAGE2_FIELDS = ("alpha", "reg_notes_per_class", "reg_band_semitones", "reg_kind", "reg_dims",
                  "reg_n_dims", "reg_scale", "reg_within")


def frame_hash(df: pd.DataFrame) -> str:
    data = df.to_csv(float_format="%.9g").encode()
    return hashlib.sha256(data).hexdigest()[:16]


def fingerprint(config: TrainConfig, features, regularized: bool, target: pd.DataFrame | None,
                 epoch: int) -> str:
    """What a checkpoint at ``epoch`` depends on. Up to the end of stage 1, the
    vanilla and regularised twins are the same run, so ``regularized`` and the
    target only enter after it."""
    fields = config.result_fields()
    if epoch <= config.stage1_epochs:
        fields = {k: v for k, v in fields.items() if k not in _STAGE2_FIELDS}
    fp = {"checkpoint_version": CHECKPOINT_VERSION, "data_key": getattr(features, "key", None),
          "shape": list(np.shape(features.frames)), "train": fields}
    if epoch > config.stage1_epochs:
        fp["regularized"] = bool(regularized)
        fp["target"] = frame_hash(target) if regularized and target is not None else None
    return json.dumps(fp, sort_keys=True)


def save_checkpoint(path: Path, *, fingerprint: str, epoch: int, model, optimizer,
                     generator: torch.Generator, curves: list[dict], elapsed: float,
                     reg_dims=None) -> None:
    state = {
        "fingerprint": fingerprint, "epoch": int(epoch),
        "model": {k: v.detach().cpu() for k, v in model.state_dict().items()},
        "optimizer": optimizer.state_dict(), "rng": generator.get_state(),
        "torch_rng": torch.get_rng_state(), "curves": json.dumps(curves),
        "elapsed": float(elapsed), "vts_version": __version__,
    }
    if reg_dims is not None:
        state["reg_dims"] = [int(d) for d in reg_dims]
    with atomic_path(path) as tmp:
        torch.save(state, tmp)


def load_checkpoint(path: Path, device) -> dict | None:
    try:
        return torch.load(path, map_location=device, weights_only=True)
    except (OSError, RuntimeError, ValueError, EOFError, pickle.UnpicklingError) as error:
        warnings.warn(f"{path}: unreadable checkpoint ignored ({error})", stacklevel=3)
        return None


def stage1_checkpoint_valid(path: Path, config: TrainConfig, features) -> bool:
    if not path.is_file():
        return False
    state = load_checkpoint(path, "cpu")
    return bool(state) and state.get("epoch") == config.stage1_epochs and \
        state.get("fingerprint") == fingerprint(config, features, False, None,
                                                 config.stage1_epochs)


def space_is_current(directory: str | os.PathLike, features, config: TrainConfig,
                     regularized: bool) -> bool:
    """Whether ``directory`` holds a complete space trained with these settings on these data."""
    d = Path(directory)
    if not (d / "config.json").is_file():
        return False
    try:
        saved = read_json(d / "config.json")
    except (OSError, ValueError):
        return False
    return (saved.get("format_version") == FORMAT_VERSION
            and saved.get("data_key") == getattr(features, "key", None)
            and bool(saved.get("regularized")) == bool(regularized)
            and TrainConfig.from_dict(saved.get("training", {})).result_fields()
            == config.result_fields()
            and all((d / f).is_file() for f in SPACE_FILES))
