"""Cached sustained-frame features of the note catalogue, one set per transform.

For every note of a catalogue (``note_id``, ``path``, ...) the audio is
decoded at :data:`vts.config.SAMPLE_RATE`, cut to its analysis window (the
first :data:`vts.dsp.ANALYSIS_SECONDS` s, zero-padded) and the
magnitude frame of its sustain is taken (:func:`vts.dsp.sustained_frame`).
A :class:`~vts.dsp.Normalizer` fitted on all those frames turns them
into the model input (normalised log-magnitudes).

Cache layout (``<root>`` = ``cache_dir`` or :func:`vts.config.features_dir`)::

    <root>/<transform>-<key>/
        shards/shard-00000.npz   per-chunk results (written atomically, resumable)
        features.npz             note_id, magnitude, frames, frame_index, frequencies_hz
        normalizer.json          Normalizer.to_dict()
        failed.csv               note_id, path, reason of every note that could not be analysed
        meta.json                settings and counts; written last = the cache is complete

``key`` hashes the transform's settings, the feature rule and the catalogue's
content (``note_id``, ``path``, file size and modification time), so editing
any of them computes a new set. An interrupted run restarts from its finished
shards; a damaged ``features.npz`` / ``normalizer.json`` (a truncated copy, a
full disk) is reported and assembled again from the shards (any damaged shard
is recomputed). The worker processes exit when their parent dies
(:func:`vts.io.exit_with_parent`), so ``kill -9`` leaves none behind.
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import os
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from joblib import Parallel, delayed
from tqdm.auto import tqdm

from . import config
from .data import load_catalog
from .dsp import ANALYSIS_SECONDS, Normalizer, get_transform, sustained_frame
from .dsp.frames import ATTACK_DB, EDGE_FRACTION, FLUX_TIE_FRACTION, SMOOTH_SECONDS, SUSTAIN_DB
from .instruments import HELD_OUT_INSTRUMENTS
from .io import (
    atomic_path,
    check_usable,
    exit_with_parent,
    read_audio,
    read_json,
    resample,
    write_json,
)

log = logging.getLogger(__name__)

#: Bumped whenever the feature rule changes (part of the cache key).
FEATURE_VERSION = 1
#: Notes per shard (unit of parallel work, of progress and of resumption).
SHARD_SIZE = 64
REQUIRED_COLUMNS = ("note_id", "path")


@dataclass
class FeatureSet:
    """Sustained frames of a corpus for one transform.

    Attributes
    ----------
    transform : str
        Transform name.
    frames : np.ndarray, float32, shape (n_notes, n_bins)
        Normalised log-magnitude sustained frames (the model input).
    catalog : pd.DataFrame
        Catalogue rows of the notes that succeeded, aligned with ``frames``,
        index reset; has ``note_id`` plus ``frame_index`` (sustained frame
        within the analysis window) and ``frame_time_s`` (its time, s).
    normalizer : Normalizer
        Fitted on this corpus; ``normalizer.inverse(frames)`` gives magnitudes.
    frequencies : np.ndarray, shape (n_bins,)
        Hz.
    key : str
        Cache key.
    """

    transform: str
    frames: np.ndarray
    catalog: pd.DataFrame
    normalizer: Normalizer
    frequencies: np.ndarray
    key: str

    @property
    def magnitudes(self) -> np.ndarray:
        """Linear magnitude frames, float64, shape (n_notes, n_bins)."""
        return self.normalizer.inverse(self.frames)

    def without(self, instruments) -> FeatureSet:
        """The same features minus the notes of ``instruments`` (a new cache key).

        The normaliser is kept: it describes the whole corpus, so frames of
        the removed notes can still be encoded with it.
        """
        drop = self.catalog["instrument"].isin(list(instruments)).to_numpy()
        if not drop.any():
            return self
        removed = ",".join(sorted(set(self.catalog.loc[drop, "instrument"])))
        digest = hashlib.sha1(removed.encode()).hexdigest()[:8]
        return dataclasses.replace(
            self, frames=self.frames[~drop], key=f"{self.key}-without-{digest}",
            catalog=self.catalog.loc[~drop].reset_index(drop=True))

    @property
    def n_notes(self) -> int:
        return int(self.frames.shape[0])

    @property
    def n_bins(self) -> int:
        return int(self.frames.shape[1])

    def __repr__(self):
        return (f"<FeatureSet {self.transform!r}: {self.n_notes} notes x {self.n_bins} bins, "
                f"key {self.key}>")


# --------------------------------------------------------------------------
# One note
# --------------------------------------------------------------------------
def extract_note(path: str | os.PathLike, transform) -> tuple[np.ndarray, int]:
    """Sustained magnitude frame of the sound file at ``path``.

    Returns
    -------
    frame : np.ndarray, float32, shape (n_bins,)
        Linear magnitudes.
    index : int
        Frame index within the analysis window.

    Raises
    ------
    vts.io.AudioError
        If the file cannot be decoded or is not usable (:func:`vts.io.check_usable`:
        empty, not finite, silent, shorter than :data:`vts.config.MIN_DURATION_SECONDS`).
    """
    tr = get_transform(transform)
    audio, sample_rate = read_audio(path)
    check_usable(audio, sample_rate, path)
    audio = resample(audio, sample_rate, tr.sample_rate)
    frame, index = sustained_frame(audio, tr, return_index=True)
    return frame.astype(np.float32), int(index)


def _process_shard(shard_path: str, note_ids: list[str], paths: list[str], transform: str,
                   sample_rate: int) -> tuple[str, int]:
    """Analyse one chunk of notes and write its shard atomically; returns (path, n_notes)."""
    tr = get_transform(transform, sample_rate)
    ok_ids, mags, indices, bad_ids, bad_paths, reasons = [], [], [], [], [], []
    for note_id, path in zip(note_ids, paths):
        try:
            frame, index = extract_note(path, tr)
        except Exception as error:  # noqa: BLE001 - any failure of one file is reported, not fatal
            bad_ids.append(note_id)
            bad_paths.append(path)
            reasons.append(f"{type(error).__name__}: {error}")
            continue
        ok_ids.append(note_id)
        mags.append(frame)
        indices.append(index)
    magnitude = np.stack(mags) if mags else np.zeros((0, tr.n_bins), dtype=np.float32)
    with atomic_path(shard_path) as tmp, open(tmp, "wb") as handle:
        np.savez(handle, note_id=np.array(ok_ids, dtype=str), magnitude=magnitude,
                 frame_index=np.array(indices, dtype=np.int64),
                 failed_note_id=np.array(bad_ids, dtype=str),
                 failed_path=np.array(bad_paths, dtype=str),
                 failed_reason=np.array(reasons, dtype=str))
    return shard_path, len(note_ids)


# --------------------------------------------------------------------------
# Cache key and layout
# --------------------------------------------------------------------------
def _check_catalog(catalog: pd.DataFrame) -> pd.DataFrame:
    if not isinstance(catalog, pd.DataFrame):
        raise TypeError(f"catalog must be a pandas DataFrame, got {type(catalog).__name__}")
    missing = [c for c in REQUIRED_COLUMNS if c not in catalog.columns]
    if missing:
        raise ValueError(f"catalog lacks column(s) {', '.join(missing)}")
    if catalog.empty:
        raise ValueError("catalog has no note")
    ids = catalog["note_id"].astype(str)
    duplicated = ids[ids.duplicated()].unique()
    if duplicated.size:
        raise ValueError(f"catalog note_id values are not unique: {', '.join(duplicated[:5])}")
    return catalog.reset_index(drop=True)


def _file_signature(path: str) -> list:
    try:
        stat = os.stat(path)
    except OSError:
        return [-1, -1]
    return [int(stat.st_size), int(stat.st_mtime_ns)]


def feature_settings(transform) -> dict:
    """Everything besides the catalogue that determines the features (JSON-able)."""
    tr = get_transform(transform)
    return {"transform": tr.settings(), "feature_version": FEATURE_VERSION,
            "analysis_seconds": ANALYSIS_SECONDS, "attack_db": ATTACK_DB,
            "sustain_db": SUSTAIN_DB, "smooth_seconds": SMOOTH_SECONDS,
            "edge_fraction": EDGE_FRACTION, "flux_tie_fraction": FLUX_TIE_FRACTION,
            "min_duration_s": config.MIN_DURATION_SECONDS, "silence_peak": config.SILENCE_PEAK}


def cache_key(catalog: pd.DataFrame, transform) -> str:
    """16-hex-digit hash of the feature settings and the catalogue's content.

    The content is, in catalogue order, each note's ``note_id``, ``path``,
    file size (bytes) and modification time (ns).
    """
    catalog = _check_catalog(catalog)
    notes = [[str(i), str(p), *_file_signature(str(p))]
             for i, p in zip(catalog["note_id"], catalog["path"])]
    blob = json.dumps({"settings": feature_settings(transform), "notes": notes}, sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def cache_path(transform: str, key: str, cache_dir: str | os.PathLike | None = None) -> Path:
    """Directory of the feature set ``transform``/``key`` under ``cache_dir`` (default features_dir())."""
    root = config.features_dir() if cache_dir is None else Path(cache_dir)
    return root / f"{transform}-{key}"


def _shard_name(index: int) -> str:
    return f"shard-{index:05d}.npz"


# --------------------------------------------------------------------------
# Compute / load
# --------------------------------------------------------------------------
def _run_shards(tasks: list[tuple], n_jobs: int, progress_bar) -> None:
    """Run ``_process_shard`` on every task, serially or with joblib, updating the bar."""
    if n_jobs == 1:
        for task in tasks:
            _, n_notes = _process_shard(*task)
            progress_bar.update(n_notes)
        return

    parallel = Parallel(n_jobs=n_jobs, return_as="generator_unordered",
                        initializer=exit_with_parent, initargs=(os.getpid(),))
    for _, n_notes in parallel(delayed(_process_shard)(*task) for task in tasks):
        progress_bar.update(n_notes)


def _shard_is_complete(path: Path, expected_ids: list[str]) -> bool:
    """Whether the shard at ``path`` exists, is readable and holds exactly ``expected_ids``."""
    if not path.is_file():
        return False
    try:
        with np.load(path, allow_pickle=False) as shard:
            ids = shard["note_id"].tolist() + shard["failed_note_id"].tolist()
    except Exception as error:  # noqa: BLE001 - an unreadable shard is simply recomputed
        log.warning("recomputing unreadable shard %s (%s)", path, error)
        return False
    if sorted(ids) != sorted(expected_ids):
        log.warning("recomputing shard %s: it holds other notes than expected", path)
        return False
    return True


def _assemble(directory: Path, n_shards: int) -> tuple[dict, pd.DataFrame]:
    parts = {"note_id": [], "magnitude": [], "frame_index": []}
    failed = []
    for index in range(n_shards):
        with np.load(directory / "shards" / _shard_name(index), allow_pickle=False) as shard:
            for name, values in parts.items():
                values.append(shard[name])
            failed.extend(zip(shard["failed_note_id"].tolist(), shard["failed_path"].tolist(),
                              shard["failed_reason"].tolist()))
    arrays = {name: np.concatenate(values) for name, values in parts.items()}
    return arrays, pd.DataFrame(failed, columns=["note_id", "path", "reason"])


def _report_failures(failed: pd.DataFrame, transform: str, directory: Path) -> None:
    for row in failed.itertuples(index=False):
        log.warning("%s: skipped %s (%s)", transform, row.path, row.reason)
    if len(failed):
        warnings.warn(f"{transform}: {len(failed)} file(s) could not be analysed and were skipped, "
                      f"e.g. {failed.path.iloc[0]} ({failed.reason.iloc[0]}); "
                      f"list in {directory / 'failed.csv'}", UserWarning, stacklevel=3)


class _DamagedCache(Exception):
    """A complete-looking cache whose ``features.npz`` or ``normalizer.json`` cannot be read."""


def _read_complete(directory: Path, catalog: pd.DataFrame):
    """The arrays and the normaliser of a complete cache, checked; :class:`_DamagedCache` if not."""
    path = directory / "features.npz"
    try:
        with np.load(path, allow_pickle=False) as data:
            note_ids = data["note_id"].tolist()
            frames = data["frames"].astype(np.float32)
            frame_index = data["frame_index"]
            frequencies = data["frequencies_hz"]
    except Exception as error:  # BadZipFile, EOFError, KeyError, ValueError, OSError ...
        raise _DamagedCache(f"{path}: {type(error).__name__}: {error}") from error
    n = len(note_ids)
    if frames.ndim != 2 or frames.shape[0] != n or frame_index.shape != (n,) \
            or frequencies.shape != (frames.shape[1],) or not np.all(np.isfinite(frames)):
        raise _DamagedCache(f"{path}: arrays of inconsistent shapes or non-finite frames")
    missing = set(note_ids) - set(catalog["note_id"].astype(str))
    if missing:
        raise _DamagedCache(f"{path}: notes not in the catalogue, e.g. {min(missing)!r}")
    try:
        normalizer = Normalizer.from_dict(read_json(directory / "normalizer.json"))
    except Exception as error:  # any unreadable normaliser is recomputed
        raise _DamagedCache(f"{directory / 'normalizer.json'}: {type(error).__name__}: "
                            f"{error}") from error
    return note_ids, frames, frame_index, frequencies, normalizer


def _load_complete(directory: Path, catalog: pd.DataFrame, transform: str, key: str) -> FeatureSet:
    note_ids, frames, frame_index, frequencies, normalizer = _read_complete(directory, catalog)
    by_id = catalog.assign(_id=catalog["note_id"].astype(str)).set_index("_id")
    aligned = by_id.loc[note_ids].reset_index(drop=True)
    tr = get_transform(transform)
    aligned["frame_index"] = frame_index
    aligned["frame_time_s"] = frame_index * tr.hop_seconds
    return FeatureSet(transform=tr.name, frames=frames, catalog=aligned, normalizer=normalizer,
                      frequencies=frequencies, key=key)


def compute_features(catalog: pd.DataFrame, transform: str, *, cache_dir=None,
                     n_jobs: int | None = None, progress: bool = True) -> FeatureSet:
    """Sustained frames of every note of ``catalog`` for ``transform``, cached on disk.

    Parameters
    ----------
    catalog : pd.DataFrame
        Needs columns ``note_id`` (unique) and ``path`` (sound file).
    transform : str
        One of :data:`vts.dsp.TRANSFORM_NAMES`.
    cache_dir : path-like, optional
        Root of the cache (default :func:`vts.config.features_dir`).
    n_jobs : int, optional
        Worker processes (None or -1: every available core; 1: in this process).
    progress : bool
        Show a tqdm progress bar (notes).

    Returns
    -------
    FeatureSet
        Loaded from the cache when complete; otherwise the missing shards are
        computed (in parallel) and the set assembled. Notes that fail (decode
        error, too short, silent) are logged, warned about, listed in
        ``failed.csv`` and left out.

    Raises
    ------
    ValueError
        On an invalid catalogue or transform, or if no note at all could be analysed.
    """
    catalog = _check_catalog(catalog)
    tr = get_transform(transform)
    key = cache_key(catalog, tr)
    directory = cache_path(tr.name, key, cache_dir)
    if (directory / "meta.json").is_file():
        log.info("%s: loading cached features from %s", tr.name, directory)
        try:
            return _load_complete(directory, catalog, tr.name, key)
        except _DamagedCache as error:
            log.warning("%s: damaged feature cache, recomputing it: %s", tr.name, error)
            warnings.warn(f"{tr.name}: the cached features are damaged ({error}); recomputing "
                          f"them from the shards in {directory / 'shards'}", UserWarning,
                          stacklevel=2)
            (directory / "meta.json").unlink(missing_ok=True)

    note_ids = catalog["note_id"].astype(str).tolist()
    paths = catalog["path"].astype(str).tolist()
    n_shards = -(-len(note_ids) // SHARD_SIZE)
    (directory / "shards").mkdir(parents=True, exist_ok=True)
    tasks, done_notes = [], 0
    for index in range(n_shards):
        chunk = slice(index * SHARD_SIZE, (index + 1) * SHARD_SIZE)
        shard_path = directory / "shards" / _shard_name(index)
        if _shard_is_complete(shard_path, note_ids[chunk]):
            done_notes += len(note_ids[chunk])
            continue
        tasks.append((str(shard_path), note_ids[chunk], paths[chunk], tr.name, tr.sample_rate))
    if tasks:

        jobs = config.worker_count(n_jobs, len(tasks), "n_jobs")
        log.info("%s: %d note(s) to analyse in %d shard(s) on %d process(es) -> %s",
                 tr.name, len(note_ids) - done_notes, len(tasks), jobs, directory)
        with tqdm(total=len(note_ids), initial=done_notes, unit="note", disable=not progress,
                  desc=f"features {tr.name}") as bar:
            _run_shards(tasks, jobs, bar)

    arrays, failed = _assemble(directory, n_shards)
    with atomic_path(directory / "failed.csv") as tmp:
        failed.to_csv(tmp, index=False)
    _report_failures(failed, tr.name, directory)
    if arrays["note_id"].size == 0:
        raise ValueError(f"{tr.name}: no note could be analysed; see {directory / 'failed.csv'}")

    magnitude = arrays["magnitude"].astype(np.float64)
    normalizer = Normalizer.fit(magnitude)
    frames = normalizer.transform(magnitude).astype(np.float32)
    with atomic_path(directory / "features.npz") as tmp, open(tmp, "wb") as handle:
        np.savez(handle, note_id=arrays["note_id"], magnitude=arrays["magnitude"],
                 frames=frames, frame_index=arrays["frame_index"],
                 frequencies_hz=tr.frequencies)
    write_json(directory / "normalizer.json", normalizer.to_dict())
    write_json(directory / "meta.json", {
        "transform": tr.name, "key": key, "settings": feature_settings(tr),
        "n_notes": len(note_ids), "n_succeeded": int(arrays["note_id"].size),
        "n_failed": len(failed), "n_bins": tr.n_bins, "shard_size": SHARD_SIZE})
    return _load_complete(directory, catalog, tr.name, key)


def load_features(transform: str, catalog: pd.DataFrame | None = None, **kw) -> FeatureSet:
    """Feature set of ``transform`` for ``catalog`` (default: :func:`vts.data.load_catalog`).

    Computes (and caches) it when not cached; keyword arguments go to
    :func:`compute_features`.
    """
    if catalog is None:

        catalog = load_catalog()
    return compute_features(catalog, transform, **kw)


def compute_all(transforms=config.TRANSFORMS, catalog: pd.DataFrame | None = None,
                **kw) -> dict[str, FeatureSet]:
    """Feature sets of every transform (``make features`` / ``vts features``).

    Returns
    -------
    dict
        Transform name -> :class:`FeatureSet`, in the order given.
    """
    if isinstance(transforms, str):
        transforms = (transforms,)
    for name in transforms:
        get_transform(name)  # fail early on a bad name
    if catalog is None:

        catalog = load_catalog()
    return {name: compute_features(catalog, name, **kw) for name in transforms}


def training_features(transform: str, progress: bool = True):
    """The cached features of ``transform`` that spaces are trained on.

    Every note of the catalogue except those of
    :data:`vts.instruments.HELD_OUT_INSTRUMENTS`, which stay unseen so that
    they can be placed in a trained space as novel instruments.
    """
    return load_features(transform, progress=progress).without(HELD_OUT_INSTRUMENTS)


def novel_features(transform: str, progress: bool = True):
    """The notes of :data:`vts.instruments.HELD_OUT_INSTRUMENTS` (never trained on)."""
    features = load_features(transform, progress=progress)
    trained = set(features.catalog["instrument"].astype(str)) - set(HELD_OUT_INSTRUMENTS)
    return features.without(sorted(trained))
