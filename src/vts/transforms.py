"""The five invertible spectral transforms of the paper, log/normalisation,
sustained-frame selection and phase reconstruction.

Transforms
----------
Every transform works on mono audio at ``sample_rate`` Hz (default
:data:`vts.config.SAMPLE_RATE`) and shares one interface
(:class:`Transform`): ``forward(audio) -> (n_bins, n_frames)`` coefficients,
``inverse(coeffs, length) -> audio``, ``magnitude(audio)``, ``frequencies``
(Hz per bin), ``n_bins`` and ``hop_seconds`` (frame period, s).

``stft``
    Hamming window of :data:`~vts.config.WINDOW_SECONDS` (882 samples), hop of
    :data:`~vts.config.HOP_SECONDS` rounded to whole samples (220 samples =
    9.98 ms), FFT size = window length, all 442 bins from 0 Hz to Nyquist.
    Frames are centred (frame ``j`` is centred on sample ``j * hop``; the
    signal is zero-padded by half a window on both sides). Inverse: weighted
    overlap-add divided by the summed squared window (exact: the Hamming window
    never vanishes).
``dct``
    Same framing; each Hamming-windowed frame goes through an orthonormal
    DCT-II (882 real coefficients, bin ``k`` at ``k * sr / (2 * 882)`` Hz);
    inverse by IDCT, windowing and the same normalised overlap-add.
``nsgt-cqt``, ``nsgt-mel``, ``nsgt-erb``
    Non-stationary Gabor transforms computed by the :mod:`nsgt` package on a
    constant-Q scale (:class:`nsgt.LogScale` with exactly 24 bins/octave from
    64 Hz: the 168 bins ``64 * 2**(k/24)`` Hz, k = 0..167, up to 7959 Hz, the
    last one below 8000 Hz), a Mel scale (:class:`nsgt.MelScale`, 168 bins,
    64-8000 Hz) and an ERB scale (:class:`ErbScale`, 168 bins, 64-8000 Hz,
    Glasberg & Moore ERB-rate).

NSGT time grid
--------------
nsgt's non-sliced transform gives band ``k`` a Hann window spanning its two
neighbours on the frequency axis (``f[k-1]..f[k+1]``) and, by default,
``M_k`` time samples of its own. To get one regular grid of frames we fix
``M_k = n_frames`` for every band (like nsgt's ``matrixform``, but with our
own ``n_frames``) and a frame period ``hop = floor(sr / max_k(f[k+1] -
f[k-1]))`` samples: because ``n_frames *
hop`` equals the analysed length, ``M_k`` is then at least the window length
of every band, which keeps the frame *painless* and the dual frame (computed
by :func:`nsgt.nsdual.nsdual`) exact. The frame period depends on the scale
only (CQT 45 samples = 2.04 ms, Mel 84 samples = 3.81 ms, ERB 64 samples =
2.90 ms at 22,050 Hz), never on the signal length: coefficient column ``j`` is
the band signal at time ``j * hop`` samples.

The scales are built with one extra band below 64 Hz and above 8000 Hz
(nsgt's ``beyond=1``) and the transform runs with ``reducedform=2``, which
drops those two bands together with nsgt's DC and Nyquist bands: the
coefficients hold exactly the scale's 168 bins (64 Hz up to 8000 Hz), and
the dropped bands only enter the dual frame. Consequently forward→inverse is
exact (to machine precision, ~5e-16) for any signal band-limited to about
95 Hz - top bin (nsgt's lowest band always spans 0 Hz to its upper
neighbour, so the dropped band below 64 Hz reaches up to ~95 Hz); outside,
it acts as a smooth band-pass (e.g. 2 % error on noise band-limited to
64-7000 Hz).

The hop is rounded down to a 7-smooth number and a signal of ``n`` samples
is zero-padded to ``Ls = n_frames * hop`` samples with ``n_frames`` the
smallest 7-smooth number >= ``max(ceil(n / hop), NSGT_MIN_FRAMES)``, so that
every FFT inside nsgt has a fast size (3x faster than prime sizes); the
transform is circular over ``Ls``. :meth:`Transform.inverse` accepts any
number of frames >= ``NSGT_MIN_FRAMES``. Building an NSGT object costs about 10-20 ms, so the
objects are cached per (scale, sample rate, ``Ls``) (:func:`_nsgt_engine`),
and the feature pipeline analyses every note on a fixed length
(:data:`ANALYSIS_SECONDS`, see :func:`analysis_window`) so that a single
object serves the whole corpus.

nsgt and numpy >= 2
-------------------
nsgt 0.19 calls ``np.clip(M, min_win, np.inf, out=M)`` on an integer array
``M`` in :mod:`nsgt.nsgfwin_sl`, which numpy >= 2 refuses (the float result
cannot be cast into ``out`` under the ``same_kind`` rule), so every NSGT
constructor raises. :func:`ensure_nsgt_compat`, run once at import, probes the
constructor and, only if that exact failure occurs, replaces the module-level
``np`` of the affected nsgt modules by :class:`ClipCastingNumpy`, a proxy
that performs the clip and casts the result into the integer ``out`` array
(the behaviour of numpy < 2) and delegates everything else to numpy. If nsgt
works as installed, nothing is patched. nsgt's import-time warning "nsgt.fft
falling back to numpy.fft" is silenced.
"""
from __future__ import annotations

import functools
import importlib
import math
import warnings
from abc import ABC, abstractmethod
from dataclasses import dataclass

import numpy as np
import scipy.fft

from . import config

# --------------------------------------------------------------------------
# nsgt import and numpy >= 2 compatibility shim
# --------------------------------------------------------------------------
with warnings.catch_warnings():
    warnings.filterwarnings("ignore", message=r"nsgt\.fft falling back", category=UserWarning)
    warnings.filterwarnings("ignore", message=r"Audio IO routines", category=UserWarning)
    import nsgt
    import nsgt.fscale
    import nsgt.nsdual
    import nsgt.nsgfwin_sl

#: nsgt modules that call ``np.clip(..., out=<int array>)`` (nsgt 0.19).
NSGT_PATCHED_MODULES = ("nsgt.nsgfwin_sl",)


class ClipCastingNumpy:
    """Stand-in for the :mod:`numpy` module inside nsgt modules.

    Every attribute is numpy's own, except :meth:`clip`: when ``out`` is an
    integer array and the clipped values are not (e.g. ``a_max=np.inf``),
    numpy >= 2 raises a casting error where numpy 1.x cast silently. This
    proxy clips into a temporary array and copies it into ``out`` with
    ``casting="unsafe"`` (truncation toward zero, as numpy 1.x did), which is
    what nsgt intends: integer window lengths bounded below by ``min_win``.
    """

    def __init__(self, numpy_module=np):
        self._numpy = numpy_module

    def __getattr__(self, name):
        return getattr(self._numpy, name)

    def clip(self, a, a_min=None, a_max=None, out=None, **kwargs):
        if out is not None and np.issubdtype(np.asarray(out).dtype, np.integer):
            clipped = self._numpy.clip(a, a_min, a_max, **kwargs)
            self._numpy.copyto(out, clipped, casting="unsafe")
            return out
        return self._numpy.clip(a, a_min, a_max, out=out, **kwargs)

    def __repr__(self):
        return f"<ClipCastingNumpy proxy of numpy {self._numpy.__version__}>"


def _probe_nsgt_windows() -> None:
    """Build tiny nsgt windows; raises what the installed nsgt raises."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        nsgt.nsgfwin_sl.nsgfwin(np.array([100.0, 200.0, 400.0]), np.array([2.0, 2.0, 2.0]),
                                 1000.0, 64, sliced=False, dowarn=False)


def _is_clip_casting_error(error: Exception) -> bool:
    return isinstance(error, TypeError) and "clip" in str(error) and "cast" in str(error)


def ensure_nsgt_compat() -> bool:
    """Make nsgt's constructors work on this numpy; idempotent.

    Returns
    -------
    bool
        True when the shim is in place (applied now or earlier), False when
        nsgt works unpatched and nothing was changed.

    Raises
    ------
    RuntimeError
        If nsgt fails for another reason, or still fails after patching.
    """
    try:
        _probe_nsgt_windows()
        return any(isinstance(getattr(importlib.import_module(m), "np", None), ClipCastingNumpy)
                   for m in NSGT_PATCHED_MODULES)
    except Exception as error:
        if not _is_clip_casting_error(error):
            raise RuntimeError(f"nsgt cannot build its windows: {error!r}") from error
    for name in NSGT_PATCHED_MODULES:
        module = importlib.import_module(name)
        if getattr(module, "np", None) is np:
            module.np = ClipCastingNumpy(np)
    try:
        _probe_nsgt_windows()
    except Exception as error:
        raise RuntimeError(f"nsgt still fails after the numpy compatibility shim: {error!r}") from error
    return True


NSGT_SHIM_ACTIVE = ensure_nsgt_compat()

# --------------------------------------------------------------------------
# ERB scale (Glasberg & Moore 1990)
# --------------------------------------------------------------------------
#: Constants of the ERB-rate formula E(f) = 21.4 log10(1 + 0.00437 f), f in Hz.
_ERB_A = 21.4
_ERB_B = 0.00437


def hz_to_erb_rate(freq_hz):
    """ERB-rate (number of ERBs below ``freq_hz``), Glasberg & Moore (1990).

    ``E(f) = 21.4 * log10(1 + 0.00437 * f)`` with ``f`` in Hz.
    """
    return _ERB_A * np.log10(1.0 + _ERB_B * np.asarray(freq_hz, dtype=float))


def erb_rate_to_hz(erb_rate):
    """Inverse of :func:`hz_to_erb_rate`: frequency (Hz) at ERB-rate ``erb_rate``."""
    return (np.power(10.0, np.asarray(erb_rate, dtype=float) / _ERB_A) - 1.0) / _ERB_B


def erb_bandwidth_hz(freq_hz):
    """Equivalent rectangular bandwidth (Hz) of the auditory filter at ``freq_hz``.

    ``ERB(f) = 24.7 * (4.37 * f / 1000 + 1)``, Glasberg & Moore (1990).
    """
    return 24.7 * (4.37e-3 * np.asarray(freq_hz, dtype=float) + 1.0)


class ErbScale(nsgt.fscale.Scale):
    """Frequency scale uniform on the ERB-rate axis, for :class:`nsgt.NSGT`.

    Implements nsgt's :class:`nsgt.fscale.Scale` interface (``len``, ``F``,
    ``Q``, ``__call__ -> (frequencies, q)``), like nsgt's own ``MelScale``.

    Parameters
    ----------
    fmin_hz, fmax_hz : float
        Centre frequencies (Hz) of the first and last band, ``0 < fmin < fmax``.
    n_bins : int
        Number of bands between them (inclusive), >= 2.
    beyond : int
        Extra bands below ``fmin_hz`` and above ``fmax_hz`` (same ERB spacing).
    """

    def __init__(self, fmin_hz: float, fmax_hz: float, n_bins: int, beyond: int = 0):
        if not 0 < fmin_hz < fmax_hz:
            raise ValueError(f"ErbScale needs 0 < fmin_hz < fmax_hz, got {fmin_hz}, {fmax_hz}")
        if int(n_bins) != n_bins or n_bins < 2:
            raise ValueError(f"ErbScale needs an integer n_bins >= 2, got {n_bins}")
        if int(beyond) != beyond or beyond < 0:
            raise ValueError(f"ErbScale needs an integer beyond >= 0, got {beyond}")
        n_bins, beyond = int(n_bins), int(beyond)
        erb_min, erb_max = float(hz_to_erb_rate(fmin_hz)), float(hz_to_erb_rate(fmax_hz))
        self.erb_per_band = (erb_max - erb_min) / (n_bins - 1)
        self.erb_min = erb_min - beyond * self.erb_per_band
        if self.erb_min <= 0:
            raise ValueError(f"ErbScale: {beyond} band(s) below {fmin_hz} Hz would reach 0 Hz")
        super().__init__(n_bins + 2 * beyond)
        self.fmin = float(erb_rate_to_hz(self.erb_min))
        self.fmax = float(erb_rate_to_hz(self.erb_min + (self.bnds - 1) * self.erb_per_band))

    def F(self, bnd=None):
        """Centre frequency (Hz) of band(s) ``bnd`` (all bands when None)."""
        bnd = np.arange(self.bnds) if bnd is None else bnd
        return erb_rate_to_hz(self.erb_min + np.asarray(bnd, dtype=float) * self.erb_per_band)

    def Q(self, bnd=None):
        """Q-factor ``f / (2 * spacing_hz)`` (nsgt's convention: a band spans two spacings).

        The local spacing is ``erb_per_band * dF/dE`` with
        ``dF/dE = ln(10) / 21.4 * (f + 1 / 0.00437)`` Hz per ERB.
        """
        freq = self.F(bnd)
        spacing_hz = self.erb_per_band * np.log(10.0) / _ERB_A * (freq + 1.0 / _ERB_B)
        return freq / (2.0 * spacing_hz)


# --------------------------------------------------------------------------
# Transforms
# --------------------------------------------------------------------------
#: Valid transform names, in the paper's order.
TRANSFORM_NAMES = tuple(config.TRANSFORMS)
#: Fewest frames an NSGT analyses (every nsgt window spans at least 4 samples).
NSGT_MIN_FRAMES = 4
#: Fixed analysis length (s) of the feature pipeline: the first 2 s of each
#: note, zero-padded when shorter (see :func:`analysis_window`).
ANALYSIS_SECONDS = 2.0


def _as_signal(audio, what: str = "audio") -> np.ndarray:
    x = np.asarray(audio)
    if x.ndim != 1:
        raise ValueError(f"{what} must be 1-D (mono samples), got shape {x.shape}")
    if x.size == 0:
        raise ValueError(f"{what} is empty")
    if not np.issubdtype(x.dtype, np.number) or np.iscomplexobj(x):
        raise ValueError(f"{what} must be real-valued, got dtype {x.dtype}")
    x = x.astype(np.float64, copy=False)
    if not np.all(np.isfinite(x)):
        raise ValueError(f"{what} contains NaN or infinite samples")
    return x


def _check_length(length) -> int:
    if length is None or int(length) != length or int(length) < 1:
        raise ValueError(f"length must be a positive integer number of samples, got {length!r}")
    return int(length)


class Transform(ABC):
    """An invertible time-frequency transform with a regular frame grid.

    Attributes
    ----------
    name : str
    sample_rate : int
        Hz.
    n_bins : int
    frequencies : np.ndarray, shape (n_bins,)
        Centre frequency of each bin, Hz.
    hop_samples : int
        Frame period in samples; ``hop_seconds = hop_samples / sample_rate``.
    is_complex : bool
        Whether :meth:`forward` returns complex coefficients (else real).
    """

    name: str
    sample_rate: int
    frequencies: np.ndarray
    hop_samples: int
    is_complex: bool = True

    @property
    def n_bins(self) -> int:
        return int(self.frequencies.shape[0])

    @property
    def hop_seconds(self) -> float:
        """Frame period (s)."""
        return self.hop_samples / self.sample_rate

    @abstractmethod
    def n_frames(self, length: int) -> int:
        """Number of frames :meth:`forward` returns for ``length`` samples."""

    @abstractmethod
    def length_for_frames(self, n_frames: int) -> int:
        """Signal length (samples) whose analysis has exactly ``n_frames`` frames."""

    @abstractmethod
    def max_length(self, n_frames: int) -> int:
        """Most samples that ``n_frames`` frames cover (longest ``inverse`` output)."""

    @abstractmethod
    def _analyse(self, x: np.ndarray, n_frames: int) -> np.ndarray:
        """Coefficients of a validated float64 signal on exactly ``n_frames`` frames.

        ``x`` (at most ``max_length(n_frames)`` samples) is zero-padded as needed.
        """

    def _forward(self, x: np.ndarray) -> np.ndarray:
        return self._analyse(x, self.n_frames(x.shape[0]))

    @abstractmethod
    def _inverse(self, coeffs: np.ndarray, length: int) -> np.ndarray:
        """Inverse transform of validated coefficients, float64 signal of ``length``."""

    def forward(self, audio) -> np.ndarray:
        """Coefficients of ``audio``.

        Parameters
        ----------
        audio : array-like, shape (n_samples,)
            Mono signal at :attr:`sample_rate` Hz.

        Returns
        -------
        np.ndarray, shape (n_bins, n_frames)
            complex128 (``is_complex``) or float64; ``n_frames = self.n_frames(n_samples)``.
        """
        return self._forward(_as_signal(audio))

    def inverse(self, coeffs, length: int) -> np.ndarray:
        """Signal of ``length`` samples whose coefficients are ``coeffs``.

        Parameters
        ----------
        coeffs : array-like, shape (n_bins, n_frames)
        length : int
            Number of samples to return (e.g. the length given to :meth:`forward`);
            at most ``max_length(n_frames)``.

        Returns
        -------
        np.ndarray, float32, shape (length,)
        """
        return self._inverse(self._check_coeffs(coeffs), _check_length(length)).astype(np.float32)

    def magnitude(self, audio) -> np.ndarray:
        """``|forward(audio)|``, float64, shape (n_bins, n_frames)."""
        return np.abs(self.forward(audio))

    def frame_times(self, n_frames: int) -> np.ndarray:
        """Time (s) of each frame's centre, shape (n_frames,)."""
        return np.arange(int(n_frames)) * self.hop_seconds

    def settings(self) -> dict:
        """Every parameter that determines the coefficients (JSON-able; used in cache keys)."""
        return {"name": self.name, "sample_rate": int(self.sample_rate), "n_bins": self.n_bins,
                "hop_samples": int(self.hop_samples), "fmin_hz": float(self.frequencies[0]),
                "fmax_hz": float(self.frequencies[-1])}

    def _check_coeffs(self, coeffs) -> np.ndarray:
        c = np.asarray(coeffs)
        if c.ndim != 2 or c.shape[0] != self.n_bins:
            raise ValueError(f"{self.name}: coefficients must have shape ({self.n_bins}, n_frames), "
                             f"got {c.shape}")
        if c.shape[1] < 1:
            raise ValueError(f"{self.name}: coefficients have no frame")
        if not np.all(np.isfinite(c)):
            raise ValueError(f"{self.name}: coefficients contain NaN or infinite values")
        return c.astype(np.complex128 if self.is_complex else np.float64, copy=False)

    def __repr__(self):
        return (f"<{type(self).__name__} {self.name!r}: {self.n_bins} bins "
                f"{self.frequencies[0]:.0f}-{self.frequencies[-1]:.0f} Hz, "
                f"hop {1e3 * self.hop_seconds:.2f} ms @ {self.sample_rate} Hz>")


class FramedTransform(Transform):
    """Short-time transform: Hamming window, centred frames, normalised overlap-add.

    Frame ``j`` covers samples ``j*hop - window//2 ... j*hop + window - window//2 - 1``
    (zero outside the signal); ``n_frames(n) = 1 + n // hop``.
    """

    def __init__(self, sample_rate: int = config.SAMPLE_RATE):
        self.sample_rate = int(sample_rate)
        self.window_samples = round(config.WINDOW_SECONDS * self.sample_rate)
        self.hop_samples = round(config.HOP_SECONDS * self.sample_rate)
        if not 0 < self.hop_samples <= self.window_samples:
            raise ValueError(f"{self.name}: invalid framing at {sample_rate} Hz")
        n = np.arange(self.window_samples)
        #: Periodic Hamming window.
        self.window = 0.54 - 0.46 * np.cos(2.0 * np.pi * n / self.window_samples)
        self._pad = self.window_samples // 2

    def n_frames(self, length: int) -> int:
        return 1 + _check_length(length) // self.hop_samples

    def length_for_frames(self, n_frames: int) -> int:
        if int(n_frames) < 1:
            raise ValueError(f"n_frames must be >= 1, got {n_frames}")
        return max((int(n_frames) - 1) * self.hop_samples, 1)

    def max_length(self, n_frames: int) -> int:
        return self._padded_length(int(n_frames)) - self._pad

    def _padded_length(self, n_frames: int) -> int:
        return (n_frames - 1) * self.hop_samples + self.window_samples

    def _frames(self, x: np.ndarray, n_frames: int) -> np.ndarray:
        """Windowed frames, shape (n_frames, window_samples)."""
        if x.shape[0] > self.max_length(n_frames):
            raise ValueError(f"{self.name}: {n_frames} frames cover at most "
                             f"{self.max_length(n_frames)} samples, got {x.shape[0]}")
        padded = np.zeros(self._padded_length(n_frames))
        padded[self._pad:self._pad + x.shape[0]] = x
        frames = np.lib.stride_tricks.sliding_window_view(padded, self.window_samples)
        return frames[::self.hop_samples] * self.window

    def _overlap_add(self, frames: np.ndarray) -> np.ndarray:
        """Sum of frames placed every ``hop`` samples, shape (padded_length,)."""
        n_frames, win = frames.shape
        hop = self.hop_samples
        n_blocks = -(-win // hop)
        blocks = np.zeros((n_frames, n_blocks * hop))
        blocks[:, :win] = frames
        blocks = blocks.reshape(n_frames, n_blocks, hop)
        out = np.zeros((n_frames + n_blocks - 1, hop))
        for b in range(n_blocks):
            out[b:b + n_frames] += blocks[:, b, :]
        return out.ravel()[:self._padded_length(n_frames)]

    @functools.lru_cache(maxsize=64)  # noqa: B019 - few transforms, bounded cache
    def _window_power(self, n_frames: int) -> np.ndarray:
        return self._overlap_add(np.broadcast_to(self.window ** 2, (n_frames, self.window_samples)))

    def _synthesize(self, frames: np.ndarray, length: int) -> np.ndarray:
        n_frames = frames.shape[0]
        available = self.max_length(n_frames)
        if length > available:
            raise ValueError(f"{self.name}: {n_frames} frames cover at most {available} samples, "
                             f"asked for length={length}")
        signal = self._overlap_add(frames * self.window) / self._window_power(n_frames)
        return signal[self._pad:self._pad + length]


class STFT(FramedTransform):
    """Short-time Fourier transform (Hamming 40 ms, hop 10 ms), bins 0 Hz..Nyquist."""

    name = "stft"
    is_complex = True

    def __init__(self, sample_rate: int = config.SAMPLE_RATE):
        super().__init__(sample_rate)
        self.frequencies = np.fft.rfftfreq(self.window_samples, 1.0 / self.sample_rate)

    def _analyse(self, x, n_frames):
        return scipy.fft.rfft(self._frames(x, n_frames), axis=1).T

    def _inverse(self, coeffs, length):
        frames = scipy.fft.irfft(coeffs.T, n=self.window_samples, axis=1)
        return self._synthesize(frames, length)


class DCT(FramedTransform):
    """Short-time orthonormal DCT-II (Hamming 40 ms, hop 10 ms), real coefficients."""

    name = "dct"
    is_complex = False

    def __init__(self, sample_rate: int = config.SAMPLE_RATE):
        super().__init__(sample_rate)
        self.frequencies = np.arange(self.window_samples) * self.sample_rate / (2.0 * self.window_samples)

    def _analyse(self, x, n_frames):
        return scipy.fft.dct(self._frames(x, n_frames), type=2, norm="ortho", axis=1).T

    def _inverse(self, coeffs, length):
        frames = scipy.fft.idct(coeffs.T, type=2, norm="ortho", axis=1)
        return self._synthesize(frames, length)


def _is_smooth(n: int, primes=(2, 3, 5, 7)) -> bool:
    """Whether ``n`` has no prime factor above 7 (a fast FFT size)."""
    for p in primes:
        while n % p == 0:
            n //= p
    return n == 1


def _next_smooth(n: int) -> int:
    n = max(int(n), 1)
    while not _is_smooth(n):
        n += 1
    return n


def _previous_smooth(n: int) -> int:
    n = int(n)
    if n < 1:
        raise ValueError(f"no positive 7-smooth number <= {n}")
    while not _is_smooth(n):
        n -= 1
    return n


def _cqt_n_bins() -> int:
    """Bins of exactly CQT_BINS_PER_OCTAVE per octave from FMIN_HZ that fit below FMAX_HZ (168)."""
    octaves = math.log2(config.FMAX_HZ / config.FMIN_HZ)
    return math.floor(octaves * config.CQT_BINS_PER_OCTAVE + 1e-9) + 1


def _cqt_fmax_hz() -> float:
    """Centre (Hz) of the top constant-Q bin: FMIN_HZ * 2**((n_bins - 1) / bins_per_octave)."""
    return config.FMIN_HZ * 2.0 ** ((_cqt_n_bins() - 1) / config.CQT_BINS_PER_OCTAVE)


def _nsgt_scale(name: str):
    """nsgt scale of transform ``name`` with one extra band on each side (``beyond=1``)."""
    if name == "nsgt-cqt":
        return nsgt.LogScale(config.FMIN_HZ, _cqt_fmax_hz(), _cqt_n_bins(), beyond=1)
    if name == "nsgt-mel":
        return nsgt.MelScale(config.FMIN_HZ, config.FMAX_HZ, config.MEL_BINS, beyond=1)
    if name == "nsgt-erb":
        return ErbScale(config.FMIN_HZ, config.FMAX_HZ, config.ERB_BINS, beyond=1)
    raise ValueError(f"no NSGT scale named {name!r}")


@functools.lru_cache(maxsize=32)
def _nsgt_engine(name: str, sample_rate: int, n_samples: int, n_frames: int) -> nsgt.NSGT:
    """nsgt object analysing ``n_samples`` with ``n_frames`` coefficients in every band.

    Built by :class:`nsgt.NSGT` (non-sliced, real, ``reducedform=2``); then
    every band is given ``n_frames`` time samples (matrix form on our own
    regular grid) and the dual windows are recomputed for those by
    :func:`nsgt.nsdual.nsdual`. Cached: one object per (scale, rate, length).
    """
    with warnings.catch_warnings():
        # "Q-factor too high" concerns nsgt's sliced windows; non-sliced ones do not use Q.
        warnings.filterwarnings("ignore", message="Q-factor too high", category=UserWarning)
        engine = nsgt.NSGT(_nsgt_scale(name), sample_rate, n_samples, real=True,
                           matrixform=False, reducedform=2)
    kept = engine.M[2:len(engine.M) // 2 - 1]
    if kept.max() > n_frames:
        raise RuntimeError(f"{name}: {n_frames} frames cannot hold windows of {kept.max()} samples")
    engine.M[:] = n_frames
    engine.gd = nsgt.nsdual.nsdual(engine.g, engine.wins, engine.nn, engine.M)
    return engine


class NSGTransform(Transform):
    """Non-stationary Gabor transform on an nsgt frequency scale (see module docstring)."""

    is_complex = True

    def __init__(self, name: str, sample_rate: int = config.SAMPLE_RATE):
        self.name = name
        self.sample_rate = int(sample_rate)
        if config.FMAX_HZ >= self.sample_rate / 2:
            raise ValueError(f"{name}: FMAX_HZ={config.FMAX_HZ} Hz is not below the Nyquist "
                             f"frequency of {self.sample_rate} Hz")
        all_freqs, _ = _nsgt_scale(name)()
        #: Centre frequencies (Hz) of the kept bands (the ``beyond`` bands are dropped).
        self.frequencies = np.asarray(all_freqs[1:-1], dtype=float)
        widest_window_hz = float(np.max(all_freqs[2:] - all_freqs[:-2]))
        #: Frame period (samples): the largest 7-smooth number <= sr / widest window.
        self.hop_samples = _previous_smooth(math.floor(self.sample_rate / widest_window_hz))

    def n_frames(self, length: int) -> int:
        """Frames for ``length`` samples: the smallest 7-smooth number >= ceil(length / hop)
        (and >= NSGT_MIN_FRAMES), so that nsgt's FFTs have fast sizes."""
        return _next_smooth(max(-(-_check_length(length) // self.hop_samples), NSGT_MIN_FRAMES))

    def max_length(self, n_frames: int) -> int:
        return self.length_for_frames(n_frames)

    def length_for_frames(self, n_frames: int) -> int:
        if int(n_frames) < NSGT_MIN_FRAMES:
            raise ValueError(f"{self.name} needs at least {NSGT_MIN_FRAMES} frames, got {n_frames}")
        return int(n_frames) * self.hop_samples

    def engine(self, n_frames: int) -> nsgt.NSGT:
        """The (cached) nsgt object for ``n_frames`` frames (``n_frames * hop`` samples)."""
        n_samples = self.length_for_frames(n_frames)
        return _nsgt_engine(self.name, self.sample_rate, n_samples, int(n_frames))

    def _analyse(self, x, n_frames):
        n_samples = self.length_for_frames(n_frames)
        if x.shape[0] > n_samples:
            raise ValueError(f"{self.name}: {n_frames} frames cover {n_samples} samples, "
                             f"got {x.shape[0]}")
        padded = np.zeros(n_samples)
        padded[:x.shape[0]] = x
        return np.asarray(self.engine(n_frames).forward(padded))

    def _inverse(self, coeffs, length):
        n_frames = coeffs.shape[1]
        if n_frames < NSGT_MIN_FRAMES:
            raise ValueError(f"{self.name} needs at least {NSGT_MIN_FRAMES} frames, got {n_frames}")
        n_samples = self.length_for_frames(n_frames)
        if length > n_samples:
            raise ValueError(f"{self.name}: {n_frames} frames cover {n_samples} samples, "
                             f"asked for length={length}")
        signal = np.asarray(self.engine(n_frames).backward(coeffs))
        return np.real(signal[:length])


@functools.cache
def _make_transform(name: str, sample_rate: int) -> Transform:
    if name == "stft":
        return STFT(sample_rate)
    if name == "dct":
        return DCT(sample_rate)
    return NSGTransform(name, sample_rate)


def get_transform(name: str, sample_rate: int = config.SAMPLE_RATE) -> Transform:
    """The transform called ``name`` (one of :data:`TRANSFORM_NAMES`) at ``sample_rate`` Hz.

    Transforms are immutable and cached: the same object is returned for the
    same arguments.

    Raises
    ------
    ValueError
        For an unknown name (the message lists the valid ones) or a sample rate
        whose Nyquist frequency is not above :data:`vts.config.FMAX_HZ`.
    """
    if isinstance(name, Transform):
        return name
    if name not in TRANSFORM_NAMES:
        raise ValueError(f"unknown transform {name!r}; valid names: {', '.join(TRANSFORM_NAMES)}")
    if int(sample_rate) != sample_rate or sample_rate <= 0:
        raise ValueError(f"sample_rate must be a positive integer (Hz), got {sample_rate!r}")
    return _make_transform(name, int(sample_rate))


# --------------------------------------------------------------------------
# Log-compression and corpus-wide normalisation
# --------------------------------------------------------------------------
@dataclass(frozen=True)
class Normalizer:
    """Log-compression plus one corpus-wide affine map; keeps relative loudness.

    ``transform(mag) = (log1p(mag / ref) - offset) / scale`` and
    ``inverse(x) = ref * expm1(x * scale + offset)`` (clipped at 0).

    ``ref`` (same unit as the magnitudes) sets where compression turns from
    linear to logarithmic: ``ref = max(corpus magnitudes) * 10**(-floor_db/20)``,
    so the corpus' loudest bin maps to ``log1p(10**(floor_db/20))`` and
    anything ``floor_db`` below it is compressed toward 0. ``offset`` and
    ``scale`` are the mean and standard deviation of the log-compressed corpus
    values. All three are single numbers for the whole corpus (no per-note or
    per-bin normalisation), so the map is the same strictly increasing
    function for every note and bin: a louder note stays louder.

    The map is exactly invertible on its image (magnitudes >= 0).
    """

    ref: float
    offset: float
    scale: float
    floor_db: float = 80.0

    KIND = "log1p-affine"

    def __post_init__(self):
        for field in ("ref", "scale"):
            value = getattr(self, field)
            if not (np.isfinite(value) and value > 0):
                raise ValueError(f"Normalizer.{field} must be a positive finite number, got {value!r}")
        if not np.isfinite(self.offset):
            raise ValueError(f"Normalizer.offset must be finite, got {self.offset!r}")

    @classmethod
    def fit(cls, magnitudes, floor_db: float = 80.0) -> Normalizer:
        """Fit on a corpus of magnitude frames (any shape, e.g. (n_frames, n_bins)).

        Parameters
        ----------
        magnitudes : array-like
            Non-negative linear magnitudes of the whole corpus.
        floor_db : float
            Dynamic range (dB below the corpus maximum) kept on the log scale.
        """
        mags = np.asarray(magnitudes, dtype=np.float64)
        if mags.size == 0:
            raise ValueError("Normalizer.fit: no magnitudes given")
        if not np.all(np.isfinite(mags)) or np.any(mags < 0):
            raise ValueError("Normalizer.fit: magnitudes must be finite and non-negative")
        if not floor_db > 0:
            raise ValueError(f"Normalizer.fit: floor_db must be > 0 dB, got {floor_db}")
        peak = float(mags.max())
        if peak <= 0:
            raise ValueError("Normalizer.fit: every magnitude is 0 (silent corpus)")
        ref = peak * 10.0 ** (-floor_db / 20.0)
        logs = np.log1p(mags / ref)
        std = float(logs.std())
        return cls(ref=ref, offset=float(logs.mean()), scale=std if std > 0 else 1.0,
                   floor_db=float(floor_db))

    def transform(self, magnitude) -> np.ndarray:
        """Normalised log-magnitude of linear magnitudes ``magnitude`` (same shape, float64)."""
        mag = np.asarray(magnitude, dtype=np.float64)
        if np.any(mag < 0):
            raise ValueError("Normalizer.transform: magnitudes must be non-negative")
        return (np.log1p(mag / self.ref) - self.offset) / self.scale

    def inverse(self, x) -> np.ndarray:
        """Linear magnitudes of normalised values ``x`` (same shape, float64, >= 0)."""
        x = np.asarray(x, dtype=np.float64)
        return np.maximum(self.ref * np.expm1(x * self.scale + self.offset), 0.0)

    @property
    def silence(self) -> float:
        """Normalised value of a zero magnitude."""
        return -self.offset / self.scale

    def to_dict(self) -> dict:
        """JSON-able description; :meth:`from_dict` restores the same object."""
        return {"kind": self.KIND, "ref": float(self.ref), "offset": float(self.offset),
                "scale": float(self.scale), "floor_db": float(self.floor_db)}

    @classmethod
    def from_dict(cls, data: dict) -> Normalizer:
        if data.get("kind", cls.KIND) != cls.KIND:
            raise ValueError(f"not a {cls.KIND} normalizer: kind={data.get('kind')!r}")
        missing = [k for k in ("ref", "offset", "scale") if k not in data]
        if missing:
            raise ValueError(f"Normalizer.from_dict: missing {', '.join(missing)}")
        return cls(ref=float(data["ref"]), offset=float(data["offset"]), scale=float(data["scale"]),
                   floor_db=float(data.get("floor_db", 80.0)))


# --------------------------------------------------------------------------
# Sustained-frame selection
# --------------------------------------------------------------------------
#: The attack ends at the first frame whose smoothed energy is within this
#: many dB of the note's maximum.
ATTACK_DB = 3.0
#: The sustain is looked for from the end of the attack while the smoothed
#: energy stays within this many dB of the maximum.
SUSTAIN_DB = 20.0
#: Length (s) of the moving averages applied to the energy and to the flux.
SMOOTH_SECONDS = 0.05
#: Fraction of the sustain trimmed at each end (transitions from attack / to release).
EDGE_FRACTION = 0.1
#: Smoothed-flux values within this fraction of the region's flux range above
#: its minimum count as steady (see :func:`sustained_frame_index`).
FLUX_TIE_FRACTION = 0.05
_TINY = 1e-30


def _check_magnitude(magnitude) -> np.ndarray:
    mag = np.asarray(magnitude, dtype=np.float64)
    if mag.ndim != 2 or mag.shape[0] < 1 or mag.shape[1] < 1:
        raise ValueError(f"magnitude must have shape (n_bins, n_frames), got {mag.shape}")
    if not np.all(np.isfinite(mag)) or np.any(mag < 0):
        raise ValueError("magnitude must be finite and non-negative")
    return mag


def _moving_average(x: np.ndarray, n: int) -> np.ndarray:
    if n <= 1 or x.shape[0] < 2:
        return x
    left = (n - 1) // 2
    padded = np.pad(x, (left, n - 1 - left), mode="edge")
    return np.convolve(padded, np.full(n, 1.0 / n), mode="valid")


def frame_energy_db(magnitude) -> np.ndarray:
    """Energy of each frame, ``10 log10(sum_k |X_k|^2)`` in dB (arbitrary reference), (n_frames,)."""
    mag = _check_magnitude(magnitude)
    return 10.0 * np.log10(np.sum(mag ** 2, axis=0) + _TINY)


def spectral_flux(magnitude) -> np.ndarray:
    """Change of spectral *shape* between consecutive frames, (n_frames,).

    ``flux[j] = || u_j - u_{j-1} ||_2`` with ``u_j`` the frame ``j`` scaled to
    unit Euclidean norm (so a pure level change gives 0); ``flux[0] = flux[1]``.
    Dimensionless, in [0, 2].
    """
    mag = _check_magnitude(magnitude)
    unit = mag / np.maximum(np.linalg.norm(mag, axis=0), _TINY)
    if mag.shape[1] == 1:
        return np.zeros(1)
    flux = np.linalg.norm(np.diff(unit, axis=1), axis=0)
    return np.concatenate([flux[:1], flux])


def _smoothed_energy_db(mag: np.ndarray, hop: float) -> np.ndarray:
    power = np.sum(mag ** 2, axis=0)
    if not np.any(power > 0):
        raise ValueError("cannot find a sustained frame: every frame is silent")
    smooth = max(1, round(SMOOTH_SECONDS / hop))
    return 10.0 * np.log10(_moving_average(power, smooth) + _TINY)


def _check_hop(hop_seconds) -> float:
    hop = config.HOP_SECONDS if hop_seconds is None else float(hop_seconds)
    if not hop > 0:
        raise ValueError(f"hop_seconds must be > 0 s, got {hop_seconds}")
    return hop


def sustained_region(magnitude, hop_seconds: float | None = None, *, attack_db: float = ATTACK_DB,
                     sustain_db: float = SUSTAIN_DB) -> tuple[int, int]:
    """Frames ``[start, stop)`` where the sustain is looked for (after the attack, before the release).

    The frame energy (:func:`frame_energy_db`, moving average over
    :data:`SMOOTH_SECONDS` s) has its maximum ``P`` dB; the region starts at
    the first frame within ``attack_db`` dB of ``P`` and runs while the
    energy stays within ``sustain_db`` dB of ``P``.

    Parameters
    ----------
    magnitude : array-like, shape (n_bins, n_frames)
    hop_seconds : float, optional
        Frame period (s); default :data:`vts.config.HOP_SECONDS`.

    Raises
    ------
    ValueError
        If every frame is silent.
    """
    mag = _check_magnitude(magnitude)
    hop = _check_hop(hop_seconds)
    if not 0 <= attack_db <= sustain_db:
        raise ValueError(f"need 0 <= attack_db <= sustain_db (dB), got {attack_db}, {sustain_db}")
    energy_db = _smoothed_energy_db(mag, hop)
    peak_db = energy_db.max()
    start = int(np.argmax(energy_db >= peak_db - attack_db))
    below = np.flatnonzero(energy_db[start:] < peak_db - sustain_db)
    stop = start + int(below[0]) if below.size else energy_db.shape[0]
    return start, stop


def sustained_frame_index(magnitude, hop_seconds: float | None = None, *,
                          attack_db: float = ATTACK_DB, sustain_db: float = SUSTAIN_DB) -> int:
    """Index of the most stable, loudest frame of a note's sustain.

    Rule
    ----
    1. Search region ``[start, stop)`` by :func:`sustained_region`: from the
       first frame whose energy (moving average over :data:`SMOOTH_SECONDS` =
       50 ms) is within ``attack_db`` (3 dB) of its maximum, while it stays
       within ``sustain_db`` (20 dB) of that maximum.
    2. Trim :data:`EDGE_FRACTION` (10 %) of the region at each end.
    3. In what remains, compute the spectral flux (:func:`spectral_flux`,
       moving average over 50 ms); the *steady* frames are those within
       :data:`FLUX_TIE_FRACTION` (5 %) of the flux range above its minimum.
    4. Keep the steady frames whose smoothed energy is within ``attack_db``
       (3 dB) of the loudest steady frame, and return the one nearest to the
       centre of their span (a perfectly steady note gives its middle frame).

    A noisy attack louder than the sustain has a high flux and is skipped; a
    decaying (plucked, struck) note gives a frame early in its decay.

    Parameters
    ----------
    magnitude : array-like, shape (n_bins, n_frames)
        Linear magnitudes of one note.
    hop_seconds : float, optional
        Frame period (s) of ``magnitude``; default :data:`vts.config.HOP_SECONDS`.

    Returns
    -------
    int
        Frame index in ``[0, n_frames)``.
    """
    mag = _check_magnitude(magnitude)
    hop = _check_hop(hop_seconds)
    start, stop = sustained_region(mag, hop, attack_db=attack_db, sustain_db=sustain_db)
    trim = int(EDGE_FRACTION * (stop - start))
    lo, hi = start + trim, max(stop - trim, start + trim + 1)
    smooth = max(1, round(SMOOTH_SECONDS / hop))
    flux = _moving_average(spectral_flux(mag), smooth)[lo:hi]
    threshold = flux.min() + FLUX_TIE_FRACTION * (flux.max() - flux.min())
    steady = lo + np.flatnonzero(flux <= threshold)
    energy_db = _smoothed_energy_db(mag, hop)[steady]
    loud = steady[energy_db >= energy_db.max() - attack_db]
    centre = (loud[0] + loud[-1]) / 2.0
    return int(loud[np.argmin(np.abs(loud - centre))])


def analysis_window(audio, sample_rate: int = config.SAMPLE_RATE,
                    seconds: float = ANALYSIS_SECONDS) -> np.ndarray:
    """The fixed-length excerpt of a note that the feature pipeline analyses.

    Rule: the first ``seconds`` s (default :data:`ANALYSIS_SECONDS` = 2 s) of
    the note, zero-padded at the end when the note is shorter. Every note then
    has the same length, so one NSGT object serves the whole corpus.
    """
    x = _as_signal(audio)
    n = round(seconds * sample_rate)
    if n < 1:
        raise ValueError(f"analysis window of {seconds} s is empty at {sample_rate} Hz")
    out = np.zeros(n, dtype=np.float64)
    out[:min(n, x.shape[0])] = x[:n]
    return out


def note_frames(audio, transform) -> np.ndarray:
    """Every magnitude frame of a whole note (no cropping), shape (n_bins, n_frames).

    For the "expressive" paths, which follow a note frame by frame.
    """
    return get_transform(transform).magnitude(audio)


def sustained_frame(audio, transform, *, analysis_seconds: float = ANALYSIS_SECONDS,
                    return_index: bool = False):
    """Magnitude frame of a note's sustain, the model input before normalisation.

    The note is cut to its :func:`analysis_window` (first ``analysis_seconds`` s),
    analysed by ``transform`` and the frame chosen by :func:`sustained_frame_index`.

    Returns
    -------
    np.ndarray, shape (n_bins,)
        Linear magnitudes (float64). With ``return_index``, ``(frame, index)``.
    """
    tr = get_transform(transform)
    mag = tr.magnitude(analysis_window(audio, tr.sample_rate, analysis_seconds))
    index = sustained_frame_index(mag, tr.hop_seconds)
    return (mag[:, index], index) if return_index else mag[:, index]


# --------------------------------------------------------------------------
# Phase reconstruction
# --------------------------------------------------------------------------
def _unit_phase(coeffs: np.ndarray) -> np.ndarray:
    """Phase factors of ``coeffs``: ``c/|c|`` (complex) or the sign (real); 1 where c == 0."""
    if np.iscomplexobj(coeffs):
        size = np.abs(coeffs)
        return np.where(size > 0, coeffs / np.maximum(size, _TINY), 1.0)
    return np.where(coeffs < 0, -1.0, 1.0)


def griffin_lim(magnitude, transform, n_iter: int = 100, momentum: float = 0.99,
                length: int | None = None, seed: int = config.DEFAULT_SEED) -> np.ndarray:
    """Audio whose transform magnitude approximates ``magnitude`` (fast Griffin-Lim).

    Fast Griffin-Lim of Perraudin, Balazs & Søndergaard (2013) through the
    transform's own forward/inverse: with ``P(c) = forward(inverse(c))`` and
    ``A(t) = magnitude * t / |t|``, iterate ``c_n = P(A(t_{n-1}))``,
    ``t_n = c_n + momentum * (c_n - c_{n-1})``, from random phases. For the
    real DCT the "phase" is the sign.

    Parameters
    ----------
    magnitude : array-like, shape (n_bins, n_frames)
        Target linear magnitudes, any number of frames (NSGTs: >= 4).
    transform : str or Transform
    n_iter : int
        Iterations (>= 0; 0 returns the random-phase inversion).
    momentum : float
        Perraudin's alpha in [0, 1]; 0 gives the classic Griffin-Lim.
    length : int, optional
        Output samples; default ``transform.length_for_frames(n_frames)``; at
        most ``transform.max_length(n_frames)``.
    seed : int
        Seed of the initial random phases.

    Returns
    -------
    np.ndarray, float32, shape (length,)
    """
    tr = get_transform(transform)
    target = _check_magnitude(magnitude)
    if target.shape[0] != tr.n_bins:
        raise ValueError(f"griffin_lim: magnitude must have shape ({tr.n_bins}, n_frames) for "
                         f"{tr.name}, got {target.shape}")
    if int(n_iter) != n_iter or n_iter < 0:
        raise ValueError(f"griffin_lim: n_iter must be an integer >= 0, got {n_iter}")
    if not 0.0 <= momentum <= 1.0:
        raise ValueError(f"griffin_lim: momentum must be in [0, 1], got {momentum}")
    n_frames = target.shape[1]
    length = tr.length_for_frames(n_frames) if length is None else _check_length(length)
    if length > tr.max_length(n_frames):
        raise ValueError(f"griffin_lim: {n_frames} {tr.name} frames cover at most "
                         f"{tr.max_length(n_frames)} samples, asked for length={length}")
    rng = np.random.default_rng(seed)
    if tr.is_complex:
        t = np.exp(2j * np.pi * rng.random(target.shape))
    else:
        t = np.where(rng.random(target.shape) < 0.5, -1.0, 1.0)
    previous = None
    for _ in range(int(n_iter)):
        projected = tr._analyse(tr._inverse(target * _unit_phase(t), length), n_frames)
        t = projected if previous is None else projected + momentum * (projected - previous)
        previous = projected
    return tr._inverse(target * _unit_phase(t), length).astype(np.float32)


def render_frame(magnitude_frame, transform, seconds: float, *, n_iter: int = 100,
                 momentum: float = 0.99, seed: int = config.DEFAULT_SEED) -> np.ndarray:
    """Audio of one magnitude frame held for ``seconds`` s.

    The column is repeated over every frame of ``seconds`` s and the phase
    retrieved by :func:`griffin_lim`.

    Parameters
    ----------
    magnitude_frame : array-like, shape (n_bins,)
        Linear magnitudes (e.g. ``normalizer.inverse(decoded)``).
    seconds : float
        Duration (s), > 0.

    Returns
    -------
    np.ndarray, float32, shape (round(seconds * sample_rate),)
    """
    tr = get_transform(transform)
    frame = np.asarray(magnitude_frame, dtype=np.float64)
    if frame.shape != (tr.n_bins,):
        raise ValueError(f"render_frame: expected a frame of shape ({tr.n_bins},), got {frame.shape}")
    if not seconds > 0:
        raise ValueError(f"render_frame: seconds must be > 0 s, got {seconds}")
    length = max(1, round(seconds * tr.sample_rate))
    n_frames = tr.n_frames(length)
    held = np.repeat(frame[:, None], n_frames, axis=1)
    return griffin_lim(held, tr, n_iter=n_iter, momentum=momentum, length=length, seed=seed)


def spectral_convergence(target_mag, audio, transform) -> float:
    """``||S - |F(x)|||_F / ||S||_F`` between a target magnitude and the analysis of ``audio``.

    Dimensionless (0 = perfect). ``audio`` is analysed on the target's number
    of frames, so it must fit in them (at most ``transform.max_length(n_frames)``
    samples, e.g. the output of :func:`griffin_lim`).
    """
    tr = get_transform(transform)
    target = _check_magnitude(target_mag)
    if target.shape[0] != tr.n_bins:
        raise ValueError(f"spectral_convergence: target must have {tr.n_bins} bins for {tr.name}, "
                         f"got shape {target.shape}")
    x = _as_signal(audio)
    if x.shape[0] > tr.max_length(target.shape[1]):
        raise ValueError(f"spectral_convergence: {x.shape[0]} samples do not fit in the target's "
                         f"{target.shape[1]} {tr.name} frames")
    norm = np.linalg.norm(target)
    if norm == 0:
        raise ValueError("spectral_convergence: target magnitude is all zero")
    got = np.abs(tr._analyse(x, target.shape[1]))
    return float(np.linalg.norm(target - got) / norm)
