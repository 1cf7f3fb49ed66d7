"""Spectral descriptors of magnitude frames on arbitrary (non-uniform) frequency grids.

Every function takes linear magnitudes ``mag`` of shape ``(n_bins,)`` (one
frame) or ``(n_frames, n_bins)`` (frames as **rows**, the layout of decoded
codes ``space.decode_magnitude(z)``), plus the centre frequency of each bin,
``frequencies`` of shape ``(n_bins,)`` in Hz (e.g. ``transform.frequencies``),
and returns a float64 scalar-per-frame result: a 0-d array for one frame,
``(n_frames,)`` for a matrix. Everything is vectorised over frames (no python
loop), so a 50x50 grid of decoded frames is one matrix operation.

Non-uniform grids
-----------------
The NSGT bins (constant-Q, Mel, ERB) are not evenly spaced. The descriptors
treat each bin as a point mass located at its centre frequency, weighted by its
magnitude (power for :func:`flatness` and :func:`loudness`); bins are *not*
weighted by their bandwidth. The descriptors are thus those of the discrete
distribution over the transform's bins; on a linear STFT grid they coincide
with librosa's ``spectral_centroid``, ``spectral_bandwidth`` (``p=2``),
``spectral_flatness`` and ``spectral_rolloff``. On a log-spaced grid the same
spectrum gives lower centroids than an integral over Hz would, because low
frequencies get more bins; compare descriptor values only between spectra on the
same grid (same transform).

Silent frames
-------------
A frame whose magnitudes are all zero has no centroid, spread or roll-off: those
descriptors are ``nan`` for it. :func:`flatness` and :func:`loudness` use an
``amin`` floor and stay finite.
"""
from __future__ import annotations

from collections.abc import Callable

import numpy as np

#: The descriptors of the paper's descriptor-topology figures, in its order.
DESCRIPTORS = ("centroid", "flatness", "bandwidth", "loudness", "rolloff")
#: Unit of each descriptor (for axis labels).
UNITS = {"centroid": "Hz", "flatness": "", "bandwidth": "Hz", "loudness": "dB", "rolloff": "Hz"}
#: Floor of the power used by :func:`flatness` and :func:`loudness` (as librosa's ``amin``).
AMIN = 1e-10


# -- validation ------------------------------------------------------------------
def _check(mag, frequencies=None) -> tuple[np.ndarray, np.ndarray | None, bool]:
    """Validated ``(mag as (n, n_bins) float64, frequencies (n_bins,) float64, single)``."""
    m = np.asarray(mag, dtype=np.float64)
    if m.ndim not in (1, 2):
        raise ValueError(f"magnitudes must be (n_bins,) or (n_frames, n_bins) with frames as rows, "
                         f"got an array of shape {m.shape}")
    single = m.ndim == 1
    m = np.atleast_2d(m)
    if m.shape[1] == 0:
        raise ValueError(f"magnitudes have no frequency bins (shape {m.shape})")
    if not np.all(np.isfinite(m)):
        raise ValueError("magnitudes contain nan or inf")
    if np.any(m < 0):
        raise ValueError("magnitudes must be non-negative (linear magnitudes, not log / dB)")
    f = None
    if frequencies is not None:
        f = np.asarray(frequencies, dtype=np.float64)
        if f.ndim != 1:
            raise ValueError(f"frequencies must be 1-D (n_bins,) in Hz, got shape {f.shape}")
        if f.shape[0] != m.shape[1]:
            raise ValueError(
                f"magnitudes have {m.shape[1]} bins on their last axis but frequencies has "
                f"{f.shape[0]} values; frames must be rows: (n_frames, n_bins) — "
                "transpose a (n_bins, n_frames) spectrogram")
        if not np.all(np.isfinite(f)) or np.any(f < 0):
            raise ValueError("frequencies must be finite and non-negative (Hz)")
        if f.shape[0] > 1 and np.any(np.diff(f) <= 0):
            raise ValueError("frequencies must be strictly increasing (bin centres in Hz)")
    return m, f, single


def _out(values: np.ndarray, single: bool) -> np.ndarray:
    return values[0] if single else values


def _weights(m: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-frame normalised magnitudes (rows sum to 1) and the mask of silent frames."""
    total = m.sum(axis=1, keepdims=True)
    silent = total[:, 0] <= 0
    with np.errstate(invalid="ignore", divide="ignore"):
        w = m / np.where(total > 0, total, 1.0)
    return w, silent


# -- descriptors -------------------------------------------------------------------
def centroid(mag, frequencies) -> np.ndarray:
    """Spectral centroid (Hz): the magnitude-weighted mean of the bin centre frequencies.

    ``sum_k f_k m_k / sum_k m_k`` per frame.

    Parameters
    ----------
    mag : array, (n_bins,) or (n_frames, n_bins)
        Linear magnitudes, frames as rows.
    frequencies : array, (n_bins,)
        Centre frequency of each bin, Hz, strictly increasing.

    Returns
    -------
    np.ndarray
        Centroid in Hz: 0-d for one frame, ``(n_frames,)`` otherwise; ``nan`` for a
        silent frame.
    """
    m, f, single = _check(mag, frequencies)
    w, silent = _weights(m)
    c = w @ f
    c[silent] = np.nan
    return _out(c, single)


def bandwidth(mag, frequencies) -> np.ndarray:
    """Spectral bandwidth (Hz): the spread of the bin frequencies around the centroid.

    ``sqrt(sum_k w_k (f_k - centroid)^2)`` with ``w = m / sum(m)``, i.e. librosa's
    ``spectral_bandwidth(p=2, norm=True)``.

    Parameters
    ----------
    mag : array, (n_bins,) or (n_frames, n_bins)
        Linear magnitudes, frames as rows.
    frequencies : array, (n_bins,)
        Centre frequency of each bin, Hz.

    Returns
    -------
    np.ndarray
        Bandwidth in Hz (0 for a single non-zero bin, ``nan`` for a silent frame).
    """
    m, f, single = _check(mag, frequencies)
    w, silent = _weights(m)
    c = w @ f
    var = np.einsum("nk,nk->n", w, (f[None, :] - c[:, None]) ** 2)
    b = np.sqrt(np.maximum(var, 0.0))
    b[silent] = np.nan
    return _out(b, single)


def flatness(mag, amin: float = AMIN) -> np.ndarray:
    """Spectral flatness: geometric over arithmetic mean of the power ``mag**2`` (0..1).

    Powers are floored at ``amin`` first (as librosa's ``spectral_flatness(power=2)``),
    so a frame with a single non-zero bin gives a value close to 0 and a flat
    spectrum gives 1. Frequencies are not needed: every bin counts once.

    Parameters
    ----------
    mag : array, (n_bins,) or (n_frames, n_bins)
        Linear magnitudes, frames as rows.
    amin : float
        Floor of the power (> 0).

    Returns
    -------
    np.ndarray
        Flatness in [0, 1] (dimensionless).
    """
    if amin <= 0:
        raise ValueError(f"amin must be > 0, got {amin}")
    m, _, single = _check(mag)
    power = np.maximum(m ** 2, amin)
    gmean = np.exp(np.mean(np.log(power), axis=1))
    amean = np.mean(power, axis=1)
    return _out(np.minimum(gmean / amean, 1.0), single)


def rolloff(mag, frequencies, fraction: float = 0.85) -> np.ndarray:
    """Spectral roll-off (Hz): the lowest bin frequency below which ``fraction`` of the
    total magnitude lies.

    The first bin ``k`` (in frequency order) with ``sum_{j<=k} m_j >= fraction * sum_j m_j``;
    its centre frequency is returned (as librosa's ``spectral_rolloff``, which also
    accumulates magnitudes, not powers).

    Parameters
    ----------
    mag : array, (n_bins,) or (n_frames, n_bins)
        Linear magnitudes, frames as rows.
    frequencies : array, (n_bins,)
        Centre frequency of each bin, Hz, strictly increasing.
    fraction : float
        Roll-off fraction in (0, 1].

    Returns
    -------
    np.ndarray
        Roll-off frequency in Hz (``nan`` for a silent frame).
    """
    if not 0.0 < fraction <= 1.0:
        raise ValueError(f"fraction must be in (0, 1], got {fraction}")
    m, f, single = _check(mag, frequencies)
    cumulative = np.cumsum(m, axis=1)
    total = cumulative[:, -1:]
    # Small relative tolerance so that exactly-reached thresholds are not missed by rounding.
    reached = cumulative >= fraction * total * (1.0 - 1e-12)
    index = np.argmax(reached, axis=1)
    r = f[index]
    r[total[:, 0] <= 0] = np.nan
    return _out(r, single)


def a_weighting_db(frequencies, min_db: float = -80.0) -> np.ndarray:
    """A-weighting gains (dB) at ``frequencies`` (Hz), floored at ``min_db`` (librosa.A_weighting)."""
    import librosa

    f = np.asarray(frequencies, dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.asarray(librosa.A_weighting(f, min_db=min_db), dtype=np.float64)


def loudness(mag, frequencies, amin: float = AMIN) -> np.ndarray:
    """A-weighted energy in dB (a relative loudness level).

    ``10 log10(max(amin, sum_k m_k^2 10^(A(f_k)/10)))`` where ``A`` is the
    A-weighting curve (:func:`librosa.A_weighting`, floored at -80 dB). Doubling
    the magnitudes adds 20 log10(2) = 6.02 dB. The level is relative to the
    transform's magnitude units (not dB SPL) and sums over bins, so it is
    comparable between frames of the same transform only.

    Parameters
    ----------
    mag : array, (n_bins,) or (n_frames, n_bins)
        Linear magnitudes, frames as rows.
    frequencies : array, (n_bins,)
        Centre frequency of each bin, Hz.
    amin : float
        Floor of the weighted energy (> 0): silence gives ``10 log10(amin)`` dB.

    Returns
    -------
    np.ndarray
        Loudness in dB.
    """
    if amin <= 0:
        raise ValueError(f"amin must be > 0, got {amin}")
    m, f, single = _check(mag, frequencies)
    gain = 10.0 ** (a_weighting_db(f) / 10.0)
    energy = (m ** 2) @ gain
    return _out(10.0 * np.log10(np.maximum(energy, amin)), single)


_FUNCTIONS: dict[str, Callable] = {
    "centroid": centroid,
    "flatness": lambda mag, frequencies: flatness(mag),
    "bandwidth": bandwidth,
    "loudness": loudness,
    "rolloff": rolloff,
}


def compute(name: str, mag, frequencies) -> np.ndarray:
    """One descriptor by name (one of :data:`DESCRIPTORS`), with default parameters."""
    try:
        function = _FUNCTIONS[name]
    except KeyError:
        raise ValueError(f"unknown descriptor {name!r}; choose one of {', '.join(DESCRIPTORS)}") \
            from None
    return function(mag, frequencies)


def compute_all(mag, frequencies) -> dict[str, np.ndarray]:
    """Every descriptor of :data:`DESCRIPTORS` (default parameters), keyed by name.

    Parameters
    ----------
    mag : array, (n_bins,) or (n_frames, n_bins)
        Linear magnitudes, frames as rows.
    frequencies : array, (n_bins,)
        Centre frequency of each bin, Hz.

    Returns
    -------
    dict[str, np.ndarray]
        ``{name: values}``, each 0-d or ``(n_frames,)``, in :data:`DESCRIPTORS` order.
    """
    _check(mag, frequencies)
    return {name: compute(name, mag, frequencies) for name in DESCRIPTORS}
