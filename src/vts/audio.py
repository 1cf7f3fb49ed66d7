"""Reading and writing sound files.

Decoding goes through :mod:`soundfile` (libsndfile reads WAV, FLAC, AIFF, OGG
and MP3 in about a millisecond per note) and resampling through :mod:`soxr`.
"""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import soundfile as sf

from ._io import atomic_path
from .config import SAMPLE_RATE


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
    import soxr

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
