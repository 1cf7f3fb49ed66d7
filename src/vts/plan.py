"""The spaces a profile trains, their names and order, and training them all (``make train``).

Per transform the vanilla space comes first: every regularised kind of that
transform starts from its end-of-stage-1 checkpoint (:mod:`vts.train`). For
:data:`vts.config.DEFAULT_TRANSFORM` the profile's every kind is trained, for
the other transforms vanilla and the showcase kind; with rated studies in the
data root the listener space follows (:mod:`vts.listener_space`). Table 1 is
written at the end (:func:`vts.metrics.write_table1`).
"""
from __future__ import annotations

import dataclasses
import os
import shutil
import time
import warnings
from collections.abc import Iterable
from pathlib import Path

import pandas as pd
from tqdm.auto import tqdm

from . import config as cfg
from . import perception
from .checkpoints import CHECKPOINT, STAGE1_CHECKPOINT, space_is_current, stage1_checkpoint_valid
from .features import novel_features, training_features
from .io import atomic_path, folder_lock
from .listener_space import build_listener_space
from .metrics import write_table1
from .profiles import PROFILES, Profile, TrainConfig
from .train import load_target, train_space


def _say(progress: bool, message: str) -> None:
    if progress:
        tqdm.write(message)


def start_from_stage1(directory: Path, stage1: Path, config: TrainConfig, features) -> bool:
    """Give a regularised space that has no checkpoint of its own the vanilla twin's
    end-of-stage-1 checkpoint ``stage1`` (when it is valid for ``config`` and
    ``features``), so that its training starts at stage 2; returns whether it did."""
    if (directory / CHECKPOINT).is_file() or not stage1_checkpoint_valid(stage1, config, features):
        return False
    directory.mkdir(parents=True, exist_ok=True)
    with atomic_path(directory / CHECKPOINT) as tmp:
        shutil.copyfile(stage1, tmp)
    return True


def model_name(transform: str, kind: str) -> str:
    """Directory name of a space under ``models/``: ``<transform>-<kind>``."""
    return f"{transform}-{kind}"


def space_kinds(transform: str, profile: Profile | str) -> list[str]:
    """Kinds of space :func:`train_all` makes for ``transform``: vanilla and every
    kind of the profile for :data:`vts.config.DEFAULT_TRANSFORM`, vanilla and the
    showcase kind for the others."""
    profile = PROFILES[profile] if isinstance(profile, str) else profile
    kinds = list(profile.kinds) if transform == cfg.DEFAULT_TRANSFORM else [profile.showcase]
    return ["vanilla", *kinds]


def model_plan(transforms: Iterable[str], profile: Profile | str,
               **overrides) -> list[tuple[str, str, bool, TrainConfig]]:
    """The spaces :func:`train_all` makes: ``(name, transform, regularized, config)``,
    per transform the vanilla space first (its stage 1 is shared by the others);
    ``overrides`` replace fields of every config."""
    profile = PROFILES[profile] if isinstance(profile, str) else profile
    plan = []
    for t in transforms:
        for kind in space_kinds(t, profile):
            config = dataclasses.replace(profile.config(kind), **overrides)
            plan.append((model_name(t, kind), t, kind != "vanilla", config))
    return plan


def train_all(profile: str = "default", transforms: Iterable[str] | None = None,
              out_root: str | os.PathLike | None = None, progress: bool = True, *,
              table_dir: str | os.PathLike | None = None, **overrides) -> pd.DataFrame:
    """Train the spaces of :func:`model_plan` for every transform, then write Table 1.

    With rated studies in the data root, ``<default transform>-listener`` is also
    written: its vanilla space with the distance recipe fitted on the studies
    (:func:`vts.listener_space.build_listener_space`; not a row of Table 1).

    Complete, current spaces are skipped, partial ones resumed; the regularised
    spaces start from the vanilla twin's end-of-stage-1 checkpoint when there
    is one (identical to training them from scratch). One writer per models
    folder: a second ``train_all`` on the same folder stops at once with
    :class:`vts.io.LockError` naming the first.

    Parameters
    ----------
    profile : str
        Key of :data:`vts.profiles.PROFILES`; ``overrides`` replace fields of
        every space's config.
    transforms : iterable of str, default ``config.TRANSFORMS``
    out_root : path, default ``config.models_dir()``
    table_dir : path, default ``config.figures_dir()``
        Where Table 1 is written.

    Returns
    -------
    pandas.DataFrame
        The metrics table written by :func:`vts.metrics.write_table1`.
    """
    transforms = tuple(cfg.TRANSFORMS if transforms is None else transforms)
    out_root = Path(out_root) if out_root is not None else cfg.models_dir()
    plan = model_plan(transforms, profile, **overrides)
    out_root.mkdir(parents=True, exist_ok=True)
    with folder_lock(out_root, f"vts train --profile {profile}"):
        target = load_target(plan[0][3])
        dissimilarity = perception.combined_dissimilarity()
        pairs = perception.pair_summary()
        studies = perception.list_studies()
        for name in transforms:
            features = training_features(name, progress)
            novel = novel_features(name, progress=False)
            stage1 = out_root / model_name(name, "vanilla") / STAGE1_CHECKPOINT
            spaces = [(out_root / m, reg, c) for m, t, reg, c in plan if t == name]
            for directory, regularized, config_k in spaces:
                if space_is_current(directory, features, config_k, regularized):
                    _say(progress, f"{directory.name}: up to date")
                    continue
                if regularized:
                    start_from_stage1(directory, stage1, config_k, features)
                t0 = time.perf_counter()
                space = train_space(features, target, config_k, directory, regularized, progress,
                                    dissimilarity=dissimilarity, pairs=pairs, novel=novel,
                                    studies=studies, save_stage1=not regularized)
                m = space.metrics
                _say(progress, f"{directory.name}: {time.perf_counter() - t0:.0f} s, test MSE "
                               f"{m['test_mse']:.4f}, silhouette (PCA) "
                               f"{m.get('silhouette_pca', float('nan')):.2f}, nearest-centroid "
                               f"{m.get('centroid_accuracy', float('nan')):.0%}, Spearman (test) "
                               f"{m['spearman_test']:.3f}")
            if all(space_is_current(d, features, c, r) for d, r, c in spaces):
                stage1.unlink(missing_ok=True)
            if name == cfg.DEFAULT_TRANSFORM and studies:
                _listener_space(out_root, name, studies, progress)
        return write_table1(out_root, table_dir)


def _listener_space(out_root: Path, transform: str, studies, progress: bool) -> None:
    """The "listener" space: the vanilla space with the distance recipe fitted on the
    rated studies (:func:`vts.listener_space.build_listener_space`). A study that
    cannot be read is reported and the trained spaces are kept."""
    vanilla = out_root / model_name(transform, "vanilla")
    out = out_root / model_name(transform, "listener")
    t0 = time.perf_counter()
    try:
        build_listener_space(vanilla, out, studies, progress=progress)
    except (OSError, ValueError) as error:
        warnings.warn(f"{out}: listener space not built ({error})", stacklevel=2)
        return
    _say(progress, f"{out.name}: {time.perf_counter() - t0:.0f} s, recipe fitted on "
                   f"{len(studies)} studies")
