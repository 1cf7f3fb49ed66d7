"""Files in and out: atomic writes, JSON, sound files, folder locks.

Every output is written to a temporary file beside its destination and renamed
onto it, so a crash never leaves a half-written file. Decoding goes through
:mod:`soundfile` (libsndfile reads WAV, FLAC, AIFF, OGG and MP3) and resampling
through :mod:`soxr`; :func:`check_usable` is the one rule for "usable audio"
(not empty, finite, not silent, long enough) of ``vts data``, ``vts features``,
``vts embed`` and :meth:`vts.TimbreSpace.encode_audio`.

Leftovers of a crash
    The temporary file of :func:`atomic_path` is ``.<name>.<pid>-<random><suffix>``
    beside its destination. A process killed with ``kill -9`` cannot remove it,
    so every :func:`atomic_path` first removes, in the destination's folder, the
    temporaries of *other* writers that are stale: the process of ``<pid>`` is
    gone **and** the file was last modified more than :data:`STALE_TEMP_SECONDS`
    ago. Temporaries of the same destination written by an older ``vts`` (no pid
    in the name, ``.<name>.<random><suffix>``) are removed once older than
    :data:`STALE_UNTAGGED_SECONDS`. A live writer's file is never touched (its
    pid exists); on a folder shared by several machines a writer of another
    machine is protected by the age rule only.
Concurrent writers
    :func:`folder_lock` gives one writer per folder (``<folder>/.lock``).
Worker processes
    :func:`exit_with_parent` makes a worker process exit when the process that
    started it dies (the joblib pools of ``vts data`` / ``vts features``).
    :func:`run_in_workers` runs tasks side by side in such processes (the
    spaces of ``vts train``, the notebooks of ``vts figures``).
"""
from __future__ import annotations

import contextlib
import datetime
import fcntl
import json
import os
import re
import socket
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from multiprocessing import get_context
from pathlib import Path

import numpy as np
import soundfile as sf
import soxr

from .config import MIN_DURATION_SECONDS, SAMPLE_RATE, SILENCE_PEAK

#: A stale temporary file of a writer whose process is gone is removed once it
#: is older than this (s); see the module docstring.
STALE_TEMP_SECONDS = 60.0
#: Same, for the temporaries (no pid in the name) written by an older vts (s).
STALE_UNTAGGED_SECONDS = 3600.0
#: Name of the lock file :func:`folder_lock` takes in a folder.
LOCK_NAME = ".lock"


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


# -- temporary files of a crash ----------------------------------------------------------
#: ``.<name>.<pid>-<8 random chars><rest>`` (pid optional: temporaries of older versions).
_TEMP_NAME = re.compile(r"\.(?P<name>.+)\.(?:(?P<pid>\d+)-)?[a-z0-9_]{8}(?P<rest>.*)")


def _pid_alive(pid: int) -> bool:
    """Whether a process ``pid`` exists (a process of another user counts)."""
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def clean_stale_temporaries(path: str | os.PathLike, now: float | None = None) -> list[Path]:
    """Remove the stale hidden temporaries that crashed writers left beside ``path``.

    The rule (module docstring): in ``path``'s folder, a ``.<name>.<pid>-<random><suffix>``
    file whose process is gone and that is older than :data:`STALE_TEMP_SECONDS`;
    and a ``.<path name>.<random><suffix>`` file of an older vts older than
    :data:`STALE_UNTAGGED_SECONDS`. Returns the files removed.
    """
    path = Path(path)
    now = time.time() if now is None else now
    removed = []
    try:
        entries = list(os.scandir(path.parent))
    except OSError:
        return removed
    for entry in entries:
        match = _TEMP_NAME.fullmatch(entry.name)
        if match is None or match["rest"] != Path(match["name"]).suffix:
            continue
        pid = match["pid"]
        if pid is None and match["name"] != path.name:
            continue                          # untagged: only those of this destination
        try:
            if not entry.is_file(follow_symlinks=False):
                continue
            age = now - entry.stat(follow_symlinks=False).st_mtime
        except OSError:
            continue
        if pid is not None:
            if age < STALE_TEMP_SECONDS or int(pid) == os.getpid() or _pid_alive(int(pid)):
                continue
        elif age < STALE_UNTAGGED_SECONDS:
            continue
        try:
            os.unlink(entry.path)
        except OSError:
            continue
        removed.append(Path(entry.path))
    return removed


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path next to ``path``; rename it onto ``path`` on success.

    A crash or an exception leaves any previous ``path`` untouched and removes
    the temporary file, so readers never see a half-written output. The
    temporary is ``.<name>.<pid>-<random><suffix>``; the stale ones of killed
    writers are removed first (:func:`clean_stale_temporaries`).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    clean_stale_temporaries(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.{os.getpid()}-", suffix=path.suffix,
                               dir=path.parent)
    os.close(fd)
    try:
        yield Path(tmp)
        # mkstemp makes the file owner-only; give it the mode of a normal new file
        os.chmod(tmp, 0o666 & ~_umask())
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def write_json(path: str | os.PathLike, obj) -> Path:
    """Write ``obj`` as indented JSON, atomically."""
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(obj, indent=2, default=_jsonable) + "\n")
    return Path(path)


def read_json(path: str | os.PathLike):
    return json.loads(Path(path).read_text())


def _jsonable(value):
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


# -- sound files ------------------------------------------------------------

class AudioError(ValueError):
    """A sound file that cannot be used, with the file named in the message.

    ``reason`` is the message without the file name (``"silent (peak ...)"``).
    """

    def __init__(self, message: str, reason: str | None = None):
        super().__init__(message)
        self.reason = reason if reason is not None else message


def check_usable(audio: np.ndarray, sample_rate: int, path: str | os.PathLike | None = None,
                 *, min_seconds: float = MIN_DURATION_SECONDS,
                 silence_peak: float = SILENCE_PEAK) -> np.ndarray:
    """The one rule for usable audio: raise :class:`AudioError` if ``audio`` is not.

    ``vts data`` (:func:`vts.data.inspect_audio`), ``vts features``,
    ``vts embed`` / ``vts synth`` and :meth:`vts.TimbreSpace.encode_audio` of a
    file all apply it.

    Parameters
    ----------
    audio : np.ndarray, shape (n_samples,)
        Decoded mono signal.
    sample_rate : int
        Its sample rate (Hz).
    path : path-like, optional
        The file, named in the message.
    min_seconds, silence_peak
        Shortest usable duration (s, default :data:`vts.config.MIN_DURATION_SECONDS`)
        and the peak under which a sound is silent (default :data:`vts.config.SILENCE_PEAK`).

    Returns
    -------
    np.ndarray
        ``audio``, unchanged.

    Raises
    ------
    AudioError
        ``<path>: <reason>``, reason (also ``error.reason``) one of ``empty``,
        ``unreadable: non-finite samples``, ``silent (peak ... < ...)``,
        ``too short (... s < ... s)``.
    """
    audio = np.asarray(audio)
    reason = None
    duration_s = len(audio) / sample_rate if sample_rate else 0.0
    if audio.size == 0:
        reason = "empty"
    elif not np.all(np.isfinite(audio)):
        reason = "unreadable: non-finite samples"
    else:
        peak = float(np.max(np.abs(audio)))
        if peak < silence_peak:
            reason = f"silent (peak {peak:.1e} < {silence_peak:.0e})"
        elif duration_s < min_seconds:
            reason = f"too short ({duration_s:.3f} s < {min_seconds} s)"
    if reason is not None:
        raise AudioError(f"{path if path is not None else 'audio'}: {reason}", reason)
    return audio


def resample(audio: np.ndarray, orig_sr: int, target_sr: int) -> np.ndarray:
    """Resample a mono signal with soxr (high quality).

    Parameters
    ----------
    audio : np.ndarray, shape (n_samples,)
    orig_sr, target_sr : int
        Sample rates in Hz.
    """
    if orig_sr == target_sr:
        return np.asarray(audio, dtype=np.float32)
    return soxr.resample(np.asarray(audio, dtype=np.float32), orig_sr, target_sr).astype(np.float32)


def to_mono(audio: np.ndarray) -> np.ndarray:
    """Average the channels of a ``(n_samples, n_channels)`` array (mono input is returned)."""
    audio = np.asarray(audio, dtype=np.float32)
    return audio.mean(axis=1) if audio.ndim == 2 else audio


def read_audio(path: str | os.PathLike) -> tuple[np.ndarray, int]:
    """Decode a file at its own sample rate, mixed down to mono.

    Returns
    -------
    audio : np.ndarray, float32, shape (n_samples,)
    sample_rate : int, Hz

    Raises
    ------
    AudioError
        If the file is missing or cannot be decoded; the message names the file.
    """
    path = Path(path)
    if path.is_dir():
        raise AudioError(f"{path}: a folder, not an audio file", "a folder, not an audio file")
    if not path.is_file():
        raise AudioError(f"{path}: no such audio file", "no such audio file")
    if path.stat().st_size == 0:
        raise AudioError(f"{path}: empty file (0 bytes)", "empty file (0 bytes)")
    try:
        with _quiet_decoder():
            audio, sr = sf.read(str(path), dtype="float32", always_2d=False)
    except sf.LibsndfileError as error:
        reason = f"cannot decode audio ({_decoder_reason(error)})"
        raise AudioError(f"{path}: {reason}", reason) from None
    except Exception as error:
        reason = f"cannot decode audio ({type(error).__name__}: {error})"
        raise AudioError(f"{path}: {reason}", reason) from error
    return to_mono(audio), int(sr)


_FORMATS = "WAV, FLAC, AIFF, OGG, MP3"


def _decoder_reason(error: sf.LibsndfileError) -> str:
    """libsndfile's error in one clause; its "(possibly a pipe?)" on a file that is
    there means the format was not recognised."""
    text = str(getattr(error, "error_string", "") or error).strip().rstrip(".")
    if "possibly a pipe" in text or "ormat not recognised" in text:
        return f"not a sound file in a known format ({_FORMATS}), or a damaged one"
    return text


_DECODER_LOCK = threading.Lock()


@contextlib.contextmanager
def _quiet_decoder() -> Iterator[None]:
    """Silence what C decoders print on file descriptor 2 while a file is decoded
    (mpg123's "Note: Illegal Audio-MPEG-Header ..."); the error, if any, is raised."""
    with _DECODER_LOCK:
        try:
            saved = os.dup(2)
        except OSError:            # no stderr at all
            yield
            return
        try:
            null = os.open(os.devnull, os.O_WRONLY)
            try:
                os.dup2(null, 2)
            finally:
                os.close(null)
            yield
        finally:
            os.dup2(saved, 2)
            os.close(saved)


def load_audio(path: str | os.PathLike, sample_rate: int = SAMPLE_RATE,
               check: bool = False) -> np.ndarray:
    """Load a sound file as mono float32 at ``sample_rate`` Hz.

    Parameters
    ----------
    path : path-like
        Any format libsndfile reads (WAV, FLAC, AIFF, OGG, MP3).
    sample_rate : int
        Target sample rate in Hz (default: the project's 22,050 Hz).
    check : bool
        Apply :func:`check_usable` (at the file's own rate) before resampling.
    """
    audio, sr = read_audio(path)
    if check:
        check_usable(audio, sr, path)
    return resample(audio, sr, sample_rate)


def as_signal(audio, sample_rate: int | None = None) -> np.ndarray:
    """A sound file or a mono array as float32 at the project's sample rate.

    Parameters
    ----------
    audio : path-like or np.ndarray, shape (n_samples,)
        A file (read and resampled by :func:`load_audio`; it must pass
        :func:`check_usable`, else :class:`AudioError`) or a mono signal.
    sample_rate : int, optional
        Sample rate (Hz) of an array (default :data:`vts.config.SAMPLE_RATE`);
        ignored for files.
    """
    if isinstance(audio, (str, os.PathLike)):
        return load_audio(audio, SAMPLE_RATE, check=True)
    signal = np.asarray(audio, dtype=np.float32)
    if signal.ndim != 1:
        raise ValueError(f"expected a mono signal (n_samples,), got shape {signal.shape}")
    return resample(signal, int(sample_rate or SAMPLE_RATE), SAMPLE_RATE)


def peak_normalize(audio: np.ndarray, peak: float = 0.95) -> np.ndarray:
    """Scale ``audio`` so that its absolute peak is ``peak`` (silence is left as is)."""
    audio = np.nan_to_num(np.asarray(audio, dtype=np.float32))
    top = float(np.max(np.abs(audio))) if audio.size else 0.0
    return audio if top == 0.0 else audio * (peak / top)


def write_wav(path: str | os.PathLike, audio: np.ndarray, sample_rate: int = SAMPLE_RATE,
              normalize: bool = True) -> Path:
    """Write a mono 16-bit WAV atomically (temporary file, then rename).

    With ``normalize`` the signal is peak-normalised to 0.95, so nothing clips.
    """
    audio = peak_normalize(audio) if normalize else np.clip(audio, -1.0, 1.0)
    with atomic_path(path) as tmp:
        sf.write(str(tmp), audio, sample_rate, subtype="PCM_16", format="WAV")
    return Path(path)


# -- one writer per folder ---------------------------------------------------------------
class LockError(RuntimeError):
    """A folder is being written by another process (named in the message)."""


#: Locks this process holds: lock file -> [file descriptor, depth] (re-entrant).
_HELD_LOCKS: dict[str, list[int]] = {}
_LOCKS_GUARD = threading.Lock()


def _lock_holder(fd: int) -> dict:
    try:
        os.lseek(fd, 0, os.SEEK_SET)
        return json.loads(os.read(fd, 4096).decode() or "{}")
    except (OSError, ValueError):
        return {}


@contextlib.contextmanager
def folder_lock(path: str | os.PathLike, what: str, wait: bool = False) -> Iterator[Path]:
    """Hold the exclusive lock of folder ``path`` (``<path>/.lock``) for the ``with`` block.

    One writer per folder: a second process asking for the lock of the same
    folder gets :class:`LockError` at once (unless it asks to ``wait``), e.g. ``models/
    is being written by another vts train (pid 4242, started
    2025-01-01T10:00:00+00:00); wait for it to finish or stop it``.

    The lock is ``fcntl.flock`` on ``<path>/.lock``, which records the pid,
    start time, host and ``what`` of the holder. The kernel releases it when
    the holder exits, ``kill -9`` included, so a lock is never stale; the file
    itself stays (removing it would let two processes lock two different
    files). Re-entrant within one process: a nested ``folder_lock`` of the same
    folder (e.g. ``train_all`` then ``write_table1``) passes.

    Parameters
    ----------
    path : path-like
        The folder (created if missing).
    what : str
        Who writes, for the message of the others (``"vts train"``).
    wait : bool
        Wait for the holder to finish instead of raising :class:`LockError`
        (notebooks running side by side that each train what is missing).

    Yields
    ------
    Path
        The lock file.
    """
    folder = Path(path)
    folder.mkdir(parents=True, exist_ok=True)
    lock = folder / LOCK_NAME
    key = os.path.realpath(lock)
    with _LOCKS_GUARD:
        held = _HELD_LOCKS.get(key)
        if held is not None:
            held[1] += 1
    if held is not None:
        try:
            yield lock
        finally:
            with _LOCKS_GUARD:
                held[1] -= 1
        return
    fd = os.open(lock, os.O_RDWR | os.O_CREAT, 0o666 & ~_umask())
    try:
        fcntl.flock(fd, fcntl.LOCK_EX if wait else fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError as error:
        holder = _lock_holder(fd)
        os.close(fd)
        pid = holder.get("pid", "unknown")
        started = holder.get("started", "unknown")
        host = holder.get("host")
        where = f" on {host}" if host and host != socket.gethostname() else ""
        raise LockError(f"{str(path).rstrip(os.sep)}/ is being written by another "
                        f"{holder.get('what') or what} (pid {pid}{where}, started {started}); "
                        f"wait for it to finish or stop it") from error
    try:
        os.ftruncate(fd, 0)
        os.write(fd, json.dumps({
            "pid": os.getpid(), "what": what, "host": socket.gethostname(),
            "started": datetime.datetime.now().astimezone().isoformat(timespec="seconds"),
        }).encode())
        os.fsync(fd)
    except OSError:
        pass                               # the lock holds even if the note cannot be written
    with _LOCKS_GUARD:
        _HELD_LOCKS[key] = [fd, 1]
    try:
        yield lock
    finally:
        with _LOCKS_GUARD:
            del _HELD_LOCKS[key]
        try:
            os.ftruncate(fd, 0)
        except OSError:
            pass
        fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)


@contextlib.contextmanager
def shared_file_lock(path: str | os.PathLike) -> Iterator[Path]:
    """Hold the exclusive ``fcntl.flock`` of the lock file ``path`` for the ``with``
    block, waiting for it: for the short read-modify-write updates of a file that
    several processes share (the figures manifest, while notebooks run side by
    side). Unlike :func:`folder_lock` it waits rather than refuses."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o666 & ~_umask())
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield path
    finally:
        fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)


# -- worker processes --------------------------------------------------------------------
#: Seconds between two checks of :func:`exit_with_parent`.
PARENT_POLL_SECONDS = 0.5
_WATCHING: list[int] = []


def exit_with_parent(parent_pid: int) -> None:
    """Make this (worker) process exit as soon as process ``parent_pid`` is gone.

    The initializer of the joblib worker pools (``initializer=exit_with_parent,
    initargs=(os.getpid(),)``): a daemon thread checks every
    :data:`PARENT_POLL_SECONDS` whether the worker was re-parented (its parent
    died, ``kill -9`` included) and then ends the worker with ``os._exit``, so
    no worker outlives ``vts data`` / ``vts features``. Idempotent.
    """
    parent_pid = int(parent_pid)
    if os.getppid() != parent_pid:
        os._exit(1)
    if parent_pid in _WATCHING:
        return
    _WATCHING.append(parent_pid)

    def watch() -> None:
        while os.getppid() == parent_pid:
            time.sleep(PARENT_POLL_SECONDS)
        os._exit(1)

    threading.Thread(target=watch, name="vts-exit-with-parent", daemon=True).start()


def run_in_workers(call: Callable, tasks: Sequence, jobs: int, *, done: Callable,
                   failure: Callable, ready: Callable | None = None,
                   show: Callable | None = None) -> None:
    """Run ``call(task)`` for every task in ``jobs`` worker processes, in order.

    The workers are spawned and exit with this process (:func:`exit_with_parent`);
    ``call``, the tasks and the results must pickle. A task starts once a worker
    is free and ``ready(task, unfinished)`` is true (``unfinished``: the tasks
    waiting or running; None: always ready); ``show(running)`` is told the
    running tasks after each start. ``done(task, result)`` is called as each
    task finishes; a task that raises is passed to ``failure(task, error)``,
    which returns the exception to raise. After the first failure no task is
    started, the running ones are let finish (nothing computed is lost), then
    that exception is raised.

    Raises
    ------
    RuntimeError
        If tasks wait while none runs and none is ready (``ready`` never lets them start).
    """
    waiting, running, failed = list(tasks), {}, None
    with ProcessPoolExecutor(max_workers=jobs, mp_context=get_context("spawn"),
                             initializer=exit_with_parent, initargs=(os.getpid(),)) as pool:
        while running or (waiting and failed is None):
            for task in list(waiting):
                if len(running) >= jobs or failed is not None:
                    break
                if ready is None or ready(task, [*waiting, *running.values()]):
                    waiting.remove(task)
                    running[pool.submit(call, task)] = task
            if not running:
                raise RuntimeError(f"{len(waiting)} task(s) wait and none is ready to start")
            if show is not None:
                show(list(running.values()))
            finished, _ = wait(running, return_when=FIRST_COMPLETED)
            for future in finished:
                task = running.pop(future)
                try:
                    result = future.result()
                except Exception as error:          # noqa: BLE001 -- raised once all have finished
                    failed = failed or failure(task, error)
                else:
                    done(task, result)
    if failed is not None:
        raise failed
