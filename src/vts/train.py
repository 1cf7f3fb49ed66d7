"""Two-stage training of the perceptually regularised VAE, resumable from checkpoints.

Schedule (paper): stage 1 trains the plain beta-VAE (alpha = 0; beta warmed up
linearly); stage 2 adds the perceptual regulariser weighted by alpha. A
*vanilla* space keeps alpha = 0 for the same number of epochs, so all spaces of
a transform share stage 1 exactly (same seed, data and random stream):
:func:`vts.plan.train_all` trains the vanilla space first, keeps its end-of-stage-1
checkpoint and starts every regularised kind from it -- bit for bit what
training it from scratch would give.

Loss per step (minimised)::

    mean_batch[-log p(x|z)] + beta(t) * mean_batch[KL(q(z|x) || prior)] + alpha * R

R depends on the kind (:mod:`vts.regularizers`): the paper's class R on the
centroids of a class-balanced batch (``reg_notes_per_class`` notes of every
rated instrument per step, so that rare classes enter every step; ``banded``
also per octave), the note-level ``l2`` / ``gaussian`` / ``student`` terms on
every pair of rated notes of the minibatch (the released code) or, with
``reg_notes_per_class > 0``, of a class-balanced draw encoded for R alone, or,
for ``prior``, no R and a class-conditional prior in the KL. The sizes of a run come from
:data:`vts.profiles.PROFILES`.

Determinism: every random draw (split, shuffling, reparameterisation noise,
regulariser batches) comes from one seeded generator whose state is saved in
the checkpoints, with ``torch.use_deterministic_algorithms`` on: the same seed
on the same machine and thread count gives identical weights, and so does a
run interrupted and resumed from its last checkpoint.
"""
from __future__ import annotations

import json
import math
import os
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from tqdm.auto import tqdm

from . import __version__, perception
from . import config as cfg
from .checkpoints import (
    CHECKPOINT,
    STAGE1_CHECKPOINT,
    fingerprint,
    load_checkpoint,
    save_checkpoint,
    space_is_current,
)
from .data import note_labels, note_pitches, pitch_bands
from .metrics import class_regularizer, evaluate_space
from .model import VAE, beta_schedule
from .profiles import TrainConfig
from .regularizers import (
    NOTE_KINDS,
    class_prior_kl,
    note_penalty,
    pair_targets,
    perceptual_regularizer,
    prior_parameters,
    regularizer_from_points,
    select_dims,
)
from .space import FORMAT_VERSION, TimbreSpace, latents_table

#: Pitch bands with fewer rated classes than this are left out of a banded R.
MIN_CLASSES_PER_BAND = 3


# -- data split -----------------------------------------------------------------
def stratified_split(catalog: pd.DataFrame, test_fraction: float = 0.1,
                     seed: int = cfg.DEFAULT_SEED, by: str = "instrument") -> np.ndarray:
    """Assign every note to ``"train"`` or ``"test"``, per instrument.

    Each instrument with at least two notes gets ``round(test_fraction * n)``
    test notes, at least one and never all; an instrument with a single note
    is kept for training. The result does not depend on the row order.

    Returns
    -------
    np.ndarray of str, shape (len(catalog),)
    """
    ids = catalog["note_id"].astype(str).to_numpy()
    groups = catalog[by].astype(str).to_numpy()
    split = np.full(len(catalog), "train", dtype="<U5")
    rng = np.random.default_rng(seed)
    for name in sorted(set(groups)):
        idx = np.flatnonzero(groups == name)
        idx = idx[np.argsort(ids[idx], kind="stable")]
        n = len(idx)
        n_test = 0 if n < 2 else min(max(round(test_fraction * n), 1), n - 1)
        split[idx[rng.permutation(n)[:n_test]]] = "test"
    return split


# -- helpers ----------------------------------------------------------------------
def resolve_device(name: str) -> torch.device:
    """The torch device of a config's ``device`` (``"auto"``: CUDA when available)."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)


class _Determinism:
    """Deterministic algorithms and a thread count, restored on exit."""

    def __init__(self, threads: int):
        self.threads = threads

    def __enter__(self):
        self.prev = (torch.are_deterministic_algorithms_enabled(), torch.get_num_threads())
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
        torch.use_deterministic_algorithms(True, warn_only=True)
        torch.set_num_threads(self.threads)
        return self

    def __exit__(self, *exc):
        torch.use_deterministic_algorithms(self.prev[0])
        torch.set_num_threads(self.prev[1])


def load_target(config: TrainConfig) -> pd.DataFrame:
    """The listeners' timbre space the regularisers fit: ``config.target_components``
    MDS dimensions of the rated instruments (:func:`vts.perception.timbre_space`)."""
    return perception.timbre_space(n_components=config.target_components,
                                             seed=config.seed)


# -- training -----------------------------------------------------------------------
def train_space(features, target: pd.DataFrame | None, config: TrainConfig,
                out_dir: str | os.PathLike, regularized: bool, progress: bool = True, *,
                dissimilarity: pd.DataFrame | None = None, pairs: pd.DataFrame | None = None,
                novel=None, studies=(), stop_after: int | None = None, save_stage1: bool = False,
                force: bool = False) -> TimbreSpace | None:
    """Train one timbre space and save it to ``out_dir``.

    Parameters
    ----------
    features : FeatureSet
        ``frames (n_notes, n_bins)`` normalised log-magnitudes, ``catalog``
        (``note_id``, ``instrument``, ``perceptual_label``, ...), ``normalizer``,
        ``transform``, ``key``.
    target : DataFrame or None
        Perceptual target space T indexed by instrument (rows) x dims; None:
        :func:`vts.perception.timbre_space` with ``config.target_components``.
        Multiplied by ``config.target_scale``, then saved with the space (the
        vanilla model uses it for its metrics only).
    config : TrainConfig
    out_dir : path
        The space directory (created).
    regularized : bool
        Stage 2 with ``alpha = config.alpha`` (True) or 0 (vanilla).
    progress : bool
        Show a tqdm bar.
    dissimilarity : DataFrame, optional
        Perceptual dissimilarities for the metrics (default
        :func:`vts.perception.combined_dissimilarity`).
    pairs : DataFrame, optional
        Per instrument pair mean and std of the ratings, the note-level
        kinds' target (default :func:`vts.perception.pair_summary`).
    novel : FeatureSet, optional
        Notes of instruments kept out of training, placed in the space by the
        metrics (:func:`vts.metrics.novel_placement`).
    studies : sequence of str
        Listening studies the metrics score the space on
        (:func:`vts.metrics.listener_agreement`).
    stop_after : int, optional
        Stop once this many epochs in total are done, write a checkpoint and
        return None (simulates an interruption; run again to resume).
    save_stage1 : bool
        Keep the end-of-stage-1 checkpoint as ``stage1.pt`` (for a twin).
    force : bool
        Retrain from scratch even if ``out_dir`` holds a current complete space
        or a checkpoint.

    Returns
    -------
    TimbreSpace or None
        The loaded space, or None when stopped by ``stop_after``.

    A complete, current space in ``out_dir`` is loaded and returned without
    training (unless ``force``); a compatible ``checkpoint.pt`` is resumed.
    """
    out_dir = Path(out_dir)
    frames = np.asarray(features.frames, dtype=np.float32)
    catalog = features.catalog.reset_index(drop=True)
    if frames.ndim != 2 or len(catalog) != frames.shape[0]:
        raise ValueError(f"features: frames {frames.shape} do not match {len(catalog)} "
                         "catalogue rows")
    if not np.isfinite(frames).all():
        raise ValueError("features: frames contain NaN or inf")
    if not force and space_is_current(out_dir, features, config, regularized):
        return TimbreSpace.load(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    if (out_dir / "config.json").exists():  # stale or forced: no longer a complete space
        (out_dir / "config.json").unlink()
    if force:
        (out_dir / CHECKPOINT).unlink(missing_ok=True)
    if target is None:
        target = load_target(config)
    target = target.astype(float) * config.target_scale
    target.index = target.index.astype(str)

    device = resolve_device(config.device)
    threads = config.num_threads or cfg.available_cores()
    note_level = regularized and config.reg_kind in NOTE_KINDS
    if note_level and pairs is None:
        pairs = perception.pair_summary()
    with _Determinism(threads):
        run = _Run(features, frames, catalog, target, config, regularized, device,
                   pairs if note_level else None)
        finished = run.fit(out_dir, progress=progress, stop_after=stop_after,
                           save_stage1=save_stage1)
    if not finished:
        return None
    return _write_space(out_dir, run.model, features, frames, catalog, run.split, target,
                        run.curves, config, regularized, run.elapsed, dissimilarity, device,
                        novel, studies)


class _Run:
    """One training run: the split, the model, its optimiser and random stream,
    the learning curves; resumable from a checkpoint."""

    def __init__(self, features, frames, catalog, target, config, regularized, device, pairs):
        self.features, self.target, self.config = features, target, config
        self.regularized, self.device = regularized, device
        self.split = stratified_split(catalog, config.test_fraction, config.seed)
        train_idx = np.flatnonzero(self.split == "train")
        test_idx = np.flatnonzero(self.split == "test")
        labels = note_labels(catalog)
        self.rated = [c for c in target.index if c and (labels[train_idx] == c).any()]
        self.target_t = torch.tensor(target.loc[self.rated].to_numpy(np.float32),
                                     device=device) if self.rated else None
        self.groups = regulariser_groups(labels[train_idx], note_pitches(catalog)[train_idx],
                                         self.rated, config.reg_band_semitones)
        torch.manual_seed(config.seed)
        self.model = VAE(config.model_config(frames.shape[1])).to(device)
        self.optimizer = torch.optim.Adam(self.model.parameters(), lr=config.lr)
        self.gen = torch.Generator().manual_seed(config.seed)
        x_all = torch.from_numpy(frames).to(device)
        self.x_train = x_all[torch.as_tensor(train_idx)]
        self.x_test = x_all[torch.as_tensor(test_idx)]
        self.labels_train, self.labels_test = labels[train_idx], labels[test_idx]
        self.notes = _NoteTargets(pairs, self.rated, self.labels_train, target, config,
                                  device) if pairs is not None else None
        self.start, self.curves, self.elapsed = 0, [], 0.0

    def fingerprint(self, epoch: int) -> str:
        return fingerprint(self.config, self.features, self.regularized, self.target, epoch)

    def resume(self, path: Path) -> None:
        """Continue from ``path`` if it is a checkpoint of this very run."""
        if not path.is_file():
            return
        state = load_checkpoint(path, self.device)
        if state is None:
            return
        if state.get("fingerprint") != self.fingerprint(int(state.get("epoch", -1))) \
                or int(state["epoch"]) > self.config.total_epochs:
            warnings.warn(f"{path}: checkpoint from other settings or data; "
                          "training from scratch", stacklevel=4)
            return
        self.model.load_state_dict(state["model"])
        if self.notes is not None and state.get("reg_dims") is not None:
            self.notes.set_dims(state["reg_dims"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.gen.set_state(state["rng"])
        torch.set_rng_state(state["torch_rng"])
        self.start, self.curves = int(state["epoch"]), json.loads(state["curves"])
        self.elapsed = float(state.get("elapsed", 0.0))

    def save(self, path: Path, epoch: int) -> None:
        save_checkpoint(path, fingerprint=self.fingerprint(epoch), epoch=epoch,
                         model=self.model, optimizer=self.optimizer, generator=self.gen,
                         curves=self.curves, elapsed=self.elapsed,
                         reg_dims=None if self.notes is None else self.notes.dims)

    def fit(self, out_dir: Path, *, progress: bool, stop_after: int | None,
            save_stage1: bool) -> bool:
        """Train up to the end (or ``stop_after`` epochs); True when training is complete."""
        config = self.config
        ckpt_path = out_dir / CHECKPOINT
        self.resume(ckpt_path)
        end = config.total_epochs if stop_after is None else min(config.total_epochs, stop_after)
        kind = "regularized" if self.regularized else "vanilla"
        bar = tqdm(total=config.total_epochs, initial=self.start,
                   desc=f"{self.features.transform}-{kind}", disable=not progress, leave=False)
        for epoch in range(self.start, end):
            t0 = time.perf_counter()
            row = self.epoch(epoch)
            self.elapsed += time.perf_counter() - t0
            row["time_s"] = self.elapsed
            self.curves.append(row)
            done = epoch + 1
            bar.update(1)
            bar.set_postfix(loss=f"{row['total']:.3g}", mse=f"{row['test_mse']:.3g}",
                            R=f"{row['test_R']:.3g}")
            if save_stage1 and done == config.stage1_epochs and config.stage2_epochs > 0:
                self.save(out_dir / STAGE1_CHECKPOINT, done)
            if done % max(1, config.checkpoint_every) == 0 or done == end:
                self.save(ckpt_path, done)
        bar.close()
        return end >= config.total_epochs

    def epoch(self, epoch: int) -> dict:
        """One pass over the training notes; the epoch's row of the learning curves."""
        config, model, notes, gen = self.config, self.model, self.notes, self.gen
        alpha = config.alpha_at(epoch, self.regularized)
        if notes is not None and alpha > 0 and notes.dims is None:
            notes.choose_dims(model, self.x_train)
        model.train()
        n_train = len(self.x_train)
        steps = max(1, math.ceil(n_train / config.batch_size))
        perm = torch.randperm(n_train, generator=gen)
        sums = np.zeros(4)   # total, recon, kl, R
        n_r = 0
        for step in range(steps):
            idx = perm[step * config.batch_size:(step + 1) * config.batch_size]
            x = self.x_train[idx.to(self.device)]
            eps = torch.randn((len(idx), config.latent_dim), generator=gen).to(self.device)
            out = model(x, eps)
            recon = -model.log_likelihood(x, out.x_mean).mean()
            if notes is not None and alpha > 0 and config.reg_kind == "prior":
                kl = notes.prior_kl(out.mu, out.logvar, idx).mean()
            else:
                kl = model.kl_divergence(out.mu, out.logvar).mean()
            beta = beta_schedule(epoch + step / steps, config.beta, config.warmup_epochs)
            loss = recon + beta * kl
            r_val = float("nan")
            if notes is not None and alpha > 0 and config.reg_kind != "prior":
                r = self.step_penalty(out.z, idx)
                loss = loss + alpha * r
                r_val = float(r.detach())
            elif notes is None and alpha > 0 and len(self.rated) >= 2:
                r = _regulariser_step(model, self.x_train, out.mu, idx, self.labels_train,
                                      self.groups, self.rated, self.target, self.target_t,
                                      config, gen, self.device)
                loss = loss + alpha * r
                r_val = float(r.detach())
            self.optimizer.zero_grad(set_to_none=True)
            loss.backward()
            self.optimizer.step()
            w = len(idx)
            sums += w * np.array([float(loss.detach()), float(recon.detach()),
                                  float(kl.detach()), 0.0])
            if not math.isnan(r_val):
                sums[3] += w * r_val
                n_r += w
        row = {"epoch": epoch + 1, "stage": 1 if epoch < config.stage1_epochs else 2,
               "beta": beta_schedule(epoch + 1, config.beta, config.warmup_epochs),
               "alpha": alpha, "total": sums[0] / n_train, "recon": sums[1] / n_train,
               "kl": sums[2] / n_train, "R": sums[3] / n_r if n_r else float("nan")}
        row.update(_test_curves(model, self.x_test, self.labels_test, self.target, config))
        return row

    def step_penalty(self, z_batch: torch.Tensor, idx: torch.Tensor) -> torch.Tensor:
        """The note-level R of this step: on the minibatch's sampled codes, or with
        ``reg_notes_per_class > 0`` on the sampled codes of a class-balanced draw of
        training notes (every rated instrument in every step, however few its notes)."""
        per_class = self.config.reg_notes_per_class
        if per_class <= 0:
            return self.notes.penalty(z_batch, idx, self.gen)
        pick = torch.cat(_draw_per_class(self.notes.members, per_class, self.gen))
        mu, logvar = self.model.encode(self.x_train[pick.to(self.device)])
        eps = torch.randn(mu.shape, generator=self.gen).to(self.device)
        return self.notes.penalty(mu + torch.exp(0.5 * logvar) * eps, pick, self.gen)


def _draw_per_class(members, per_class: int, gen) -> list[torch.Tensor]:
    """``per_class`` positions drawn without replacement from each tensor of
    ``members`` (all of a smaller one)."""
    return [pos[torch.randperm(len(pos), generator=gen)[:per_class]] for pos in members]


class _NoteTargets:
    """What the note-level kinds need during stage 2: each training note's class
    index (-1: unrated), the positions of each class's notes (``members``, for
    a class-balanced draw), the normalised pair matrices, the regularised
    dimensions and, for ``prior``, the class-conditional priors."""

    def __init__(self, pairs, rated, labels_train, target, config, device):
        mu, sigma = pair_targets(pairs, rated)
        index = {c: i for i, c in enumerate(rated)}
        self.y = torch.tensor([index.get(str(c), -1) for c in labels_train])
        self.members = [torch.nonzero(self.y == k).flatten() for k in range(len(rated))]
        self.mu = torch.as_tensor(mu, dtype=torch.float32, device=device)
        self.sigma = torch.as_tensor(sigma, dtype=torch.float32, device=device)
        self.sigma_np, self.positions = sigma, target.loc[rated].to_numpy(np.float64)
        self.config, self.device = config, device
        self.spec = config.regularizer
        self.dims = None
        self._prior = None

    def set_dims(self, dims) -> None:
        self.dims = [int(d) for d in dims]
        if self.spec.kind == "prior":
            # the k-D target sits on the first k regularised dimensions
            k = self.positions.shape[1]
            if len(self.dims) < k:
                raise ValueError(f"reg_kind 'prior' places the {k}-D target on the regularised "
                                 f"dims: need reg_n_dims >= {k}, got {len(self.dims)} dims")
            self.dims = self.dims[:k]
            means, logvars = prior_parameters(self.positions, self.sigma_np, self.dims,
                                              self.config.latent_dim)
            self._prior = (torch.as_tensor(means, dtype=torch.float32, device=self.device),
                           torch.as_tensor(logvars, dtype=torch.float32, device=self.device))

    @torch.no_grad()
    def choose_dims(self, model, x_train) -> None:
        """Select the regularised dimensions from the codes at the end of stage 1."""
        model.eval()
        codes = torch.cat([model.encode(x_train[i:i + 4096])[0]
                           for i in range(0, len(x_train), 4096)]).cpu().numpy()
        model.train()
        self.set_dims(select_dims(codes, self.spec.dims, self.spec.n_dims))

    def penalty(self, z, idx, gen) -> torch.Tensor:
        return note_penalty(self.spec, z, self.y[idx].to(z.device), self.mu, self.sigma,
                            self.dims, gen)

    def prior_kl(self, mu, logvar, idx) -> torch.Tensor:
        return class_prior_kl(mu, logvar, self.y[idx].to(mu.device), *self._prior)


def regulariser_groups(labels, pitches, classes, band_semitones: int = 0,
                       min_classes: int = MIN_CLASSES_PER_BAND):
    """The note groups R is computed on: ``[(class indices, [positions per class])]``.

    Parameters
    ----------
    labels : array of str, shape (n,)
        Perceptual class of each training note (``''``: unrated).
    pitches : array of float, shape (n,)
        MIDI pitch of each note (NaN: unknown).
    classes : sequence of str
        The rated classes, in the order of the target rows.
    band_semitones : int
        0: one group holding every class's notes. ``> 0``: also one group per
        pitch band ``pitch // band_semitones`` in which at least
        ``min_classes`` classes play (notes of unknown pitch are left out).

    Returns
    -------
    list of (torch.Tensor, list of torch.Tensor)
        For each group, the indices (into ``classes``) of its classes and the
        positions (rows of the training arrays) of each class's notes in it.
    """
    labels = np.asarray(labels)
    members = [torch.as_tensor(np.flatnonzero(labels == c)) for c in classes]
    groups = [(torch.arange(len(classes)), members)]
    if band_semitones <= 0:
        return groups
    bands = pitch_bands(pitches, band_semitones)
    for band in np.unique(bands[bands >= 0]):
        keep, members = [], []
        for i, c in enumerate(classes):
            pos = np.flatnonzero((labels == c) & (bands == band))
            if len(pos):
                keep.append(i)
                members.append(torch.as_tensor(pos))
        if len(keep) >= min_classes:
            groups.append((torch.as_tensor(keep), members))
    return groups


def _regulariser_step(model, x_train, mu_batch, idx, labels_train, groups, rated,
                      target, target_t, config, gen, device):
    """R on the class centroids of this step's regulariser batch (see module docstring);
    with pitch bands, the mean of R over the bands."""
    if config.reg_notes_per_class <= 0:
        return perceptual_regularizer(mu_batch, labels_train[idx.numpy()], target.loc[rated],
                                      config.sigma)
    if not groups:
        return mu_batch.sum() * 0.0
    picks = _draw_per_class([pos for _, members in groups for pos in members],
                            config.reg_notes_per_class, gen)
    mu, _ = model.encode(x_train[torch.cat(picks).to(device)])
    centroids = iter(torch.split(mu, [len(p) for p in picks]))
    r = [regularizer_from_points(torch.stack([next(centroids).mean(0) for _ in members]),
                                 target_t[keep.to(device)], config.sigma)
         for keep, members in groups]
    return torch.stack(r).mean()


@torch.no_grad()
def _test_curves(model, x_test, labels_test, target, config) -> dict:
    if len(x_test) == 0:
        return {"test_recon": float("nan"), "test_mse": float("nan"), "test_R": float("nan")}
    model.eval()
    mu, logvar = model.encode(x_test)
    x_mean = model.decode(mu)
    recon = float(-model.log_likelihood(x_test, x_mean).mean())
    mse = float(((x_mean - x_test) ** 2).mean())
    r, _ = class_regularizer(mu.cpu().numpy().astype(np.float64), labels_test, target,
                             config.sigma)
    model.train()
    return {"test_recon": recon, "test_mse": mse,
            "test_kl": float(model.kl_divergence(mu, logvar).mean()), "test_R": r}


def _write_space(out_dir, model, features, frames, catalog, split, target, curves, config,
                 regularized, elapsed, dissimilarity, device, novel=None,
                 studies=()) -> TimbreSpace:
    model.eval()
    with torch.no_grad():
        z = torch.cat([model.encode(torch.from_numpy(frames[i:i + 4096]).to(device))[0]
                       for i in range(0, len(frames), 4096)]).cpu().numpy()
    meta = latents_table(catalog, split)
    latents = pd.concat([meta, pd.DataFrame(z, columns=[f"z{i}" for i in range(z.shape[1])])],
                        axis=1)
    split_df = pd.DataFrame({"note_id": catalog["note_id"].astype(str),
                             "instrument": catalog["instrument"].astype(str), "split": split})
    space_config = {
        "format_version": FORMAT_VERSION, "vts_version": __version__,
        "transform": features.transform, "regularized": bool(regularized),
        "kind": _kind(config, regularized),
        "model": model.config.to_dict(), "training": config.to_dict(),
        "data_key": getattr(features, "key", None), "n_notes": int(frames.shape[0]),
        "n_bins": int(frames.shape[1]), "train_seconds": round(float(elapsed), 3),
        "device": str(device), "torch_threads": torch.get_num_threads(),
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }
    space = TimbreSpace(out_dir, space_config, model.cpu(), features.normalizer, latents,
                        split_df, target, {}, pd.DataFrame(curves))
    metrics = evaluate_space(space, features, target, dissimilarity, config.iwae_samples,
                             config.seed, novel=novel, studies=studies)
    metrics["train_seconds"] = round(float(elapsed), 3)
    metrics["profile"] = config.profile
    space.metrics = metrics
    space.save(out_dir)
    (out_dir / CHECKPOINT).unlink(missing_ok=True)
    return TimbreSpace.load(out_dir)


def _kind(config: TrainConfig, regularized: bool) -> str:
    """The name of a space's kind: vanilla, banded, or its regulariser's kind."""
    if not regularized:
        return "vanilla"
    return "banded" if config.reg_kind == "class" and config.reg_band_semitones else config.reg_kind
