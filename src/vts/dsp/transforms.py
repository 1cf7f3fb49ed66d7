"""The five invertible spectral transforms of the paper.

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
(:data:`ANALYSIS_SECONDS`, see :func:`vts.dsp.frames.analysis_window`) so that a single
object serves the whole corpus.

nsgt 0.19 needs a small shim on numpy >= 2: :mod:`vts.dsp.nsgt_compat`.
"""
from __future__ import annotations

import functools
import math
import warnings
from abc import ABC, abstractmethod

import numpy as np
import scipy.fft

from .. import config
from .nsgt_compat import nsgt

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
#: note, zero-padded when shorter (see :func:`vts.dsp.frames.analysis_window`).
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
