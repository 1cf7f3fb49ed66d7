"""The spaces a profile trains, their names and order, and training them all (``make train``).

Per transform the vanilla space comes first: every regularised kind of that
transform starts from its end-of-stage-1 checkpoint (:mod:`vts.train`). On the
CPU the spaces train side by side, one process and one thread each, as many as
there are cores (:func:`training_jobs`). For
:data:`vts.config.DEFAULT_TRANSFORM` the profile's every kind is trained, for
the other transforms vanilla and the showcase kind; with rated studies in the
data root the listener space follows (:mod:`vts.listener_space`). Table 1 is
written at the end (:func:`vts.metrics.write_table1`).
"""
from __future__ import annotations

import dataclasses
import functools
import os
import shutil
import sys
import time
import warnings
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
from threadpoolctl import threadpool_limits
from tqdm.auto import tqdm

from . import config as cfg
from . import perception
from .checkpoints import (
    CHECKPOINT,
    STAGE1_CHECKPOINT,
    space_is_current,
    stage1_checkpoint_valid,
)
from .features import novel_features, training_features
from .io import atomic_path, folder_lock, run_in_workers
from .listener_space import build_listener_space
from .metrics import write_table1
from .profiles import PROFILES, Profile, TrainConfig
from .train import load_target, resolve_device, train_space


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
              table_dir: str | os.PathLike | None = None, jobs: int | None = None,
              **overrides) -> pd.DataFrame:
    """Train the spaces of :func:`model_plan` for every transform, then write Table 1.

    With rated studies in the data root, ``<default transform>-listener`` is also
    written: its vanilla space with the distance recipe fitted on the studies
    (:func:`vts.listener_space.build_listener_space`; not a row of Table 1).

    Complete, current spaces are skipped, partial ones resumed; the regularised
    spaces start from the vanilla twin's end-of-stage-1 checkpoint when there
    is one (identical to training them from scratch). The listener space and
    Table 1 follow once every space is trained. One writer per models
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
    jobs : int, optional
        Spaces trained at once, each in its own process on one thread
        (default :func:`training_jobs`: the CPU cores, one on a GPU). A space's
        weights do not depend on ``jobs`` beyond the last bits that a different
        thread count can change.

    Returns
    -------
    pandas.DataFrame
        The metrics table written by :func:`vts.metrics.write_table1`.
    """
    cfg.worker_count(jobs, 1)                      # a bad jobs fails before any work
    transforms = tuple(dict.fromkeys(cfg.TRANSFORMS if transforms is None else transforms))
    out_root = Path(out_root) if out_root is not None else cfg.models_dir()
    plan = model_plan(transforms, profile, **overrides)
    out_root.mkdir(parents=True, exist_ok=True)
    with train_lock(out_root, profile):
        inputs = _Inputs(load_target(plan[0][3]), perception.combined_dissimilarity(),
                         perception.pair_summary(), perception.list_studies())
        features = {name: training_features(name, progress) for name in transforms}
        todo = []
        for m, t, regularized, config_k in plan:
            if space_is_current(out_root / m, features[t], config_k, regularized):
                _say(progress, f"{m}: up to date")
            else:
                todo.append(_Job(t, out_root / m, regularized, config_k))
        jobs = training_jobs(jobs, todo)
        if jobs == 1:
            novel = {}
            for job in todo:
                if job.transform not in novel:
                    novel[job.transform] = novel_features(job.transform, progress=False)
                _say(progress, _train_job(job, inputs, features[job.transform],
                                          novel[job.transform], progress))
        else:
            _train_in_parallel(todo, inputs, jobs, progress)
        for name in transforms:
            spaces = [(out_root / m, reg, c) for m, t, reg, c in plan if t == name]
            if all(space_is_current(d, features[name], c, r) for d, r, c in spaces):
                (out_root / model_name(name, "vanilla") / STAGE1_CHECKPOINT).unlink(
                    missing_ok=True)
        if cfg.DEFAULT_TRANSFORM in transforms and inputs.studies:
            _listener_space(out_root, cfg.DEFAULT_TRANSFORM, inputs.studies, progress)
        return write_table1(out_root, table_dir)


@dataclass(frozen=True)
class _Inputs:
    """What every space of a run is trained and scored with (the same for all)."""

    target: pd.DataFrame
    dissimilarity: pd.DataFrame
    pairs: pd.DataFrame
    studies: list


@dataclass(frozen=True)
class _Job:
    """One space to train: its transform, folder, whether it is regularised, its config."""

    transform: str
    directory: Path
    regularized: bool
    config: TrainConfig


def train_lock(models_dir: str | os.PathLike, profile: str, wait: bool = False):
    """The one-writer lock of a models folder (:func:`vts.io.folder_lock`), held by
    :func:`train_all`; ``wait``: wait for another writer instead of refusing."""
    return folder_lock(models_dir, f"vts train --profile {profile}", wait=wait)


def training_jobs(jobs: int | None, todo) -> int:
    """How many spaces :func:`train_all` trains at once.

    ``None``: one per available CPU core on the CPU (each on one thread: a space
    of the ``default`` size does not use two cores well, and two at once finish
    sooner than one after the other on two threads), one on a GPU. Never more
    than there are spaces to train.
    """
    if jobs is None and any(resolve_device(job.config.device).type == "cuda" for job in todo):
        jobs = 1
    return cfg.worker_count(jobs, len(todo))


def _train_job(job: _Job, inputs: _Inputs, features=None, novel=None,
               progress: bool = False) -> str:
    """Train one space (its regularised kinds from the vanilla twin's stage 1) and
    return its one-line summary; loads its features when not given (a worker)."""
    if features is None:
        features = training_features(job.transform, progress=False)
        novel = novel_features(job.transform, progress=False)
    if job.regularized:
        stage1 = job.directory.parent / model_name(job.transform, "vanilla") / STAGE1_CHECKPOINT
        start_from_stage1(job.directory, stage1, job.config, features)
    t0 = time.perf_counter()
    space = train_space(features, inputs.target, job.config, job.directory, job.regularized,
                        progress, dissimilarity=inputs.dissimilarity, pairs=inputs.pairs,
                        novel=novel, studies=inputs.studies, save_stage1=not job.regularized)
    m = space.metrics
    return (f"{job.directory.name}: {time.perf_counter() - t0:.0f} s, test MSE "
            f"{m['test_mse']:.4f}, silhouette (PCA) "
            f"{m.get('silhouette_pca', float('nan')):.2f}, nearest-centroid "
            f"{m.get('centroid_accuracy', float('nan')):.0%}, Spearman (test) "
            f"{m['spearman_test']:.3f}")


def _train_in_worker(job: _Job, inputs: _Inputs) -> str:
    """:func:`_train_job` in a worker process: one thread for torch and for BLAS."""
    if job.config.num_threads is None:
        job = dataclasses.replace(job, config=dataclasses.replace(job.config, num_threads=1))
    with threadpool_limits(limits=1):
        return _train_job(job, inputs)


def _train_in_parallel(todo: list[_Job], inputs: _Inputs, jobs: int, progress: bool) -> None:
    """Train ``todo`` in ``jobs`` worker processes: the vanilla spaces first, then the
    regularised ones in plan order, each once its vanilla twin is done (it starts
    from that twin's stage 1).

    A space that fails is named at once; the spaces in training are let finish
    (nothing already computed is lost), then its error is raised.
    """
    bar = tqdm(total=len(todo), desc="spaces", unit="space", disable=not progress)

    def twin_done(job: _Job, unfinished: list[_Job]) -> bool:
        return not job.regularized or not any(
            j.transform == job.transform and not j.regularized for j in unfinished)

    def done(job: _Job, summary: str) -> None:
        bar.update(1)
        _say(progress, summary)

    def failure(job: _Job, error: Exception) -> Exception:
        bar.update(1)
        tqdm.write(f"{job.directory.name}: training failed ({error}); letting the spaces "
                   "in training finish", file=sys.stderr)
        return error

    try:
        # vanilla spaces first: each one lets its twins start
        run_in_workers(functools.partial(_train_in_worker, inputs=inputs),
                       sorted(todo, key=lambda j: j.regularized), jobs, done=done,
                       failure=failure, ready=twin_done,
                       show=lambda running: bar.set_postfix_str(
                           ", ".join(j.directory.name for j in running)))
    finally:
        bar.close()


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
