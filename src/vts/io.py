"""Files in and out: atomic writes, JSON, and sound files.

Every output is written to a temporary file beside its destination and renamed
onto it, so a crash never leaves a half-written file. Decoding goes through
:mod:`soundfile` (libsndfile reads WAV, FLAC, AIFF, OGG and MP3) and resampling
through :mod:`soxr`.
"""
from __future__ import annotations

import contextlib
import json
import os
import tempfile
from pathlib import Path
from typing import Iterator

import numpy as np
import soundfile as sf
import soxr

from .config import SAMPLE_RATE


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path next to ``path``; rename it onto ``path`` on success.

    A crash or an exception leaves any previous ``path`` untouched and removes
    the temporary file, so readers never see a half-written output.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=path.suffix, dir=path.parent)
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
    """A sound file that cannot be used, with the file named in the message."""


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
    if not path.is_file():
        raise AudioError(f"{path}: no such audio file")
    if path.stat().st_size == 0:
        raise AudioError(f"{path}: empty file (0 bytes)")
    try:
        audio, sr = sf.read(str(path), dtype="float32", always_2d=False)
    except Exception as error:
        raise AudioError(f"{path}: cannot decode audio ({error})") from error
    return to_mono(audio), int(sr)


def load_audio(path: str | os.PathLike, sample_rate: int = SAMPLE_RATE) -> np.ndarray:
    """Load a sound file as mono float32 at ``sample_rate`` Hz.

    Parameters
    ----------
    path : path-like
        Any format libsndfile reads (WAV, FLAC, AIFF, OGG, MP3).
    sample_rate : int
        Target sample rate in Hz (default: the project's 22,050 Hz).
    """
    audio, sr = read_audio(path)
    return resample(audio, sr, sample_rate)


def as_signal(audio, sample_rate: int | None = None) -> np.ndarray:
    """A sound file or a mono array as float32 at the project's sample rate.

    Parameters
    ----------
    audio : path-like or np.ndarray, shape (n_samples,)
        A file (read and resampled by :func:`load_audio`) or a mono signal.
    sample_rate : int, optional
        Sample rate (Hz) of an array (default :data:`vts.config.SAMPLE_RATE`);
        ignored for files.
    """
    if isinstance(audio, (str, os.PathLike)):
        return load_audio(audio, SAMPLE_RATE)
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
