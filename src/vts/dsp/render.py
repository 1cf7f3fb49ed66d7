"""The one way from magnitudes to sound.

Every sound of the project -- the CLI's, the notebooks', the explorer's and
:meth:`vts.TimbreSpace.synthesize` -- comes out of :func:`render`: magnitude
frames ``(n_frames, n_bins)`` (one frame per row, see docs/architecture.md),
spread evenly over ``seconds``, turned into audio by one of two methods, and
faded in and out over :data:`FADE_SECONDS` so that no render starts or stops on
a click.

``method="griffin-lim"``
    Fast Griffin-Lim (Perraudin, Balazs & Sondergaard 2013) through the
    transform's own forward and inverse, :data:`N_ITER` iterations by default.
``method="fast"``
    Additive rendering, one sinusoid per bin at the bin's centre frequency
    (rounded to a 1-Hz grid so that one second is exactly periodic), with
    seeded random phases. The amplitudes are calibrated against the transform:
    :func:`band_response` analyses unit sinusoids once per transform and
    :func:`sinusoid_amplitudes` inverts that, so re-analysing the sound gives
    back the magnitudes. Fast enough to follow a slider.

Memory
    Griffin-Lim holds the coefficients of the whole sound, several times over:
    about 7 MB per second of output through an NSGT (measured:
    ``benchmarks/bench_render_memory.py`` -> ``benchmarks/results/render_memory.json``).
    :func:`check_duration` therefore refuses, before any work, Griffin-Lim
    renders longer than :data:`vts.config.MAX_GRIFFIN_LIM_SECONDS` and additive renders
    longer than :data:`vts.config.MAX_FAST_SECONDS` (about 0.5 MB per second).
"""
from __future__ import annotations

import io
import math

import numpy as np
import soundfile as sf
from tqdm.auto import tqdm

from .. import config
from ..io import peak_normalize
from .frames import _TINY, _check_magnitude
from .transforms import _as_signal, _check_length, get_transform

#: Rendering methods of :func:`render`.
METHODS = ("griffin-lim", "fast")
#: Griffin-Lim iterations and momentum of every render unless a caller asks otherwise.
N_ITER = config.GRIFFIN_LIM_ITERATIONS
MOMENTUM = 0.99
#: Raised-cosine fade at both ends of every render (s).
FADE_SECONDS = 0.01
#: Floor of displayed spectra (dB re 1).
FLOOR_DB = -120.0


def check_duration(seconds, method: str = "griffin-lim") -> float:
    """``seconds`` as a float if a render of that length is allowed, else ``ValueError``.

    The guard of :func:`render` and :func:`griffin_lim`, called before any
    allocation: a duration must be finite and > 0, at most
    :data:`vts.config.MAX_GRIFFIN_LIM_SECONDS` for Griffin-Lim (the message names the
    limit and ``method="fast"``) and :data:`vts.config.MAX_FAST_SECONDS` for additive
    rendering.
    """
    try:
        value = float(seconds)
    except (TypeError, ValueError):
        raise ValueError(f"render: seconds must be a number, got {seconds!r}") from None
    if not math.isfinite(value) or not value > 0:
        raise ValueError(f"render: seconds must be finite and > 0, got {seconds}")
    if method == "fast":
        if value > config.MAX_FAST_SECONDS:
            raise ValueError(f"render: {value:g} s is longer than the "
                             f"{config.MAX_FAST_SECONDS:g} s limit of additive rendering "
                             f"(vts.config.MAX_FAST_SECONDS)")
    elif value > config.MAX_GRIFFIN_LIM_SECONDS:
        raise ValueError(f"render: {value:g} s of Griffin-Lim is longer than its "
                         f"{config.MAX_GRIFFIN_LIM_SECONDS:g} s limit "
                         f"(vts.config.MAX_GRIFFIN_LIM_SECONDS: its "
                         f"memory grows with the duration, ~7 MB/s); use method='fast' "
                         f"(additive rendering) for long sounds")
    return value


# --------------------------------------------------------------------------
# Phase reconstruction
# --------------------------------------------------------------------------
def _unit_phase(coeffs: np.ndarray) -> np.ndarray:
    """Phase factors of ``coeffs``: ``c/|c|`` (complex) or the sign (real); 1 where c == 0."""
    if np.iscomplexobj(coeffs):
        size = np.abs(coeffs)
        return np.where(size > 0, coeffs / np.maximum(size, _TINY), 1.0)
    return np.where(coeffs < 0, -1.0, 1.0)


def griffin_lim(magnitude, transform, n_iter: int = N_ITER, momentum: float = MOMENTUM,
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
    check_duration(length / tr.sample_rate, "griffin-lim")
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


def render_frame(magnitude_frame, transform, seconds: float, *, n_iter: int = N_ITER,
                 momentum: float = MOMENTUM, seed: int = config.DEFAULT_SEED) -> np.ndarray:
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


# -- additive rendering --------------------------------------------------------
def _frequency_grid(frequencies_hz, sample_rate: int) -> np.ndarray:
    """Bin centre frequencies rounded to the 1-Hz grid of a one-second period, as
    integer FFT indices (0 marks a bin that cannot be rendered: <= 0 Hz or >= Nyquist)."""
    f = np.rint(np.asarray(frequencies_hz, dtype=np.float64)).astype(np.int64)
    f[(f <= 0) | (f >= sample_rate // 2)] = 0
    return f


def _phases(n_bins: int, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).uniform(0.0, 2.0 * np.pi, n_bins)


# -- additive synthesis -------------------------------------------------------------
def additive_synthesis(amplitudes, frequencies_hz, seconds: float,
                       sample_rate: int = config.SAMPLE_RATE, seed: int = 0,
                       fade_seconds: float = FADE_SECONDS) -> np.ndarray:
    """Sum of sinusoids, one per bin, with (time-varying) amplitudes.

    Parameters
    ----------
    amplitudes : np.ndarray, shape (n_bins,) or (n_frames, n_bins)
        Peak amplitude of each sinusoid; several frames are spread evenly over
        ``seconds`` and interpolated linearly in time.
    frequencies_hz : np.ndarray, shape (n_bins,)
        Frequency of each sinusoid (Hz), rounded to 1 Hz so that one second of
        signal is periodic; bins at 0 Hz or at / above Nyquist are silent.
    seconds : float
        Duration (s).
    sample_rate : int
        Hz.
    seed : int
        Seed of the sinusoids' random initial phases.
    fade_seconds : float
        Length (s) of the raised-cosine fade in and out.

    Returns
    -------
    np.ndarray, float32, shape (round(seconds * sample_rate),)
    """
    amps = np.atleast_2d(np.asarray(amplitudes, dtype=np.float64))
    freqs = _frequency_grid(frequencies_hz, sample_rate)
    if amps.shape[1] != freqs.shape[0]:
        raise ValueError(f"amplitudes have {amps.shape[1]} bins, frequencies {freqs.shape[0]}")
    if seconds <= 0:
        raise ValueError(f"seconds must be > 0, got {seconds}")
    n_samples = round(seconds * sample_rate)
    period = int(sample_rate)                       # 1 s: every integer-Hz sinusoid is periodic
    n_lines = period // 2 + 1
    # one random phase per 1-Hz line: bins on the same line add in power
    phasors = np.exp(1j * _phases(n_lines, seed)) * (period / 2.0)
    live = freqs > 0

    def one_period(frame: np.ndarray) -> np.ndarray:
        power = np.zeros(n_lines)
        np.add.at(power, freqs[live], frame[live] ** 2)
        return np.fft.irfft(np.sqrt(power) * phasors, n=period)

    index = np.arange(n_samples) % period
    n_frames = amps.shape[0]
    if n_frames == 1:
        return _fade(one_period(amps[0])[index], fade_seconds, sample_rate)
    # same phases in every frame: a cross-fade of the periods is a linear
    # interpolation of the amplitudes; one period in memory at a time
    pos = np.linspace(0.0, n_frames - 1, n_samples)
    lo = np.minimum(np.floor(pos).astype(np.int64), n_frames - 2)
    frac = pos - lo
    starts = np.searchsorted(lo, np.arange(n_frames))        # first sample of each segment
    audio = np.empty(n_samples)
    current = one_period(amps[0])
    for m in range(n_frames - 1):
        following = one_period(amps[m + 1])
        seg = slice(starts[m], starts[m + 1])
        audio[seg] = (1.0 - frac[seg]) * current[index[seg]] + frac[seg] * following[index[seg]]
        current = following
    return _fade(audio, fade_seconds, sample_rate)


def _fade(audio: np.ndarray, fade_seconds: float, sample_rate: int) -> np.ndarray:
    """Raised-cosine fade in and out (float32 copy)."""
    audio = np.array(audio, dtype=np.float64)
    n_samples = len(audio)
    n_fade = min(int(fade_seconds * sample_rate), n_samples // 2)
    if n_fade > 0:
        ramp = 0.5 - 0.5 * np.cos(np.linspace(0.0, np.pi, n_fade))
        audio[:n_fade] *= ramp
        audio[-n_fade:] *= ramp[::-1]
    return audio.astype(np.float32)


_RESPONSES: dict = {}


def _rms_frames(magnitude) -> np.ndarray:
    """RMS over frames of ``(n_bins, n_frames)`` magnitudes, ignoring the edge frames."""
    mag = np.asarray(magnitude, dtype=np.float64)
    if mag.ndim == 1:
        return mag
    n = mag.shape[1]
    edge = n // 5 if n >= 5 else 0
    core = mag[:, edge:n - edge] if n - 2 * edge > 0 else mag
    return np.sqrt(np.mean(core ** 2, axis=1))


def analyse(audio, transform) -> np.ndarray:
    """Steady-state magnitude ``(n_bins,)`` of a sound: RMS over its central frames
    of ``transform.magnitude(audio)`` (the first and last fifth are skipped)."""
    return _rms_frames(transform.magnitude(np.asarray(audio, dtype=np.float32)))


def band_response(transform, sample_rate: int = config.SAMPLE_RATE, seconds: float = 0.5,
                  stride: int = 16, progress: bool = False) -> np.ndarray:
    """How much a unit sinusoid at each bin's centre frequency shows in every bin.

    Sinusoids ``stride`` bins apart are analysed together (``stride`` analyses
    in all) and each bin's response is credited to the nearest sinusoid of the
    group, so leakage further than ``stride / 2`` bins is ignored. The result
    is cached per transform.

    Parameters
    ----------
    transform
        Object with ``frequencies`` (Hz, ``(n_bins,)``) and ``magnitude(audio)``.
    sample_rate : int
        Hz.
    seconds : float
        Length (s) of the analysed test signals.
    stride : int
        Bins between sinusoids analysed together.
    progress : bool
        Show a tqdm bar.

    Returns
    -------
    np.ndarray, shape (n_bins, n_bins)
        ``H[j, k]``: steady-state magnitude in bin ``j`` of a sinusoid of peak
        amplitude 1 at the (1-Hz rounded) centre frequency of bin ``k``.
    """
    freqs = np.asarray(transform.frequencies, dtype=np.float64)
    key = (getattr(transform, "name", None) or id(transform), freqs.shape[0],
           round(float(freqs.sum()), 3), sample_rate, seconds, stride)
    if key in _RESPONSES:
        return _RESPONSES[key]
    n_bins = freqs.shape[0]
    grid = _frequency_grid(freqs, sample_rate)
    response = np.zeros((n_bins, n_bins))
    bins = np.arange(n_bins)
    for start in tqdm(range(stride), desc="band response", disable=not progress, leave=False):
        group = bins[start::stride]
        amps = np.zeros(n_bins)
        amps[group] = 1.0
        audio = additive_synthesis(amps, freqs, seconds, sample_rate, seed=start,
                                   fade_seconds=0.0)
        mag = analyse(audio, transform)
        owner = group[np.argmin(np.abs(bins[:, None] - group[None, :]), axis=1)]
        response[bins, owner] = mag
    response[:, grid == 0] = 0.0
    _RESPONSES[key] = response
    return response


def sinusoid_amplitudes(magnitude, response, n_iter: int = 0) -> np.ndarray:
    """Amplitudes of the bin sinusoids whose analysis gives back ``magnitude``.

    Starts from each bin's magnitude divided by its own response
    (``a_k = M_k / H_kk``: exact when bins do not leak into each other, as for
    the NSGTs, whose frequency windows vanish at the neighbouring centres),
    then refines with ``n_iter`` fixed-point updates of the powers,
    ``p <- p * M**2 / (H**2 @ p)`` (powers of sinusoids with independent
    phases add), which remove the leakage between neighbouring bins (STFT,
    DCT). Bins that only leakage can reach fade towards zero.

    Parameters
    ----------
    magnitude : np.ndarray, shape (n_bins,) or (n_frames, n_bins)
        Target linear magnitudes.
    response : np.ndarray, shape (n_bins, n_bins)
        :func:`band_response` of the transform.
    n_iter : int
        Fixed-point updates (0: the diagonal estimate only).

    Returns
    -------
    np.ndarray, same shape as ``magnitude``
    """
    target = np.atleast_2d(np.asarray(magnitude, dtype=np.float64)) ** 2     # (n, n_bins)
    gain = np.asarray(response, dtype=np.float64) ** 2                        # (n_bins, n_bins)
    diag = np.diag(gain)
    live = diag > 0
    power = np.where(live, target / np.where(live, diag, 1.0), 0.0)
    tiny = 1e-30 * max(float(target.max()), 1e-300)
    for _ in range(int(n_iter)):
        model = power @ gain.T
        power = power * np.minimum(target / np.maximum(model, tiny), 1e3)
    amps = np.sqrt(np.maximum(power, 0.0))
    return amps[0] if np.ndim(magnitude) == 1 else amps


class FastRenderer:
    """Additive rendering of decoded magnitudes for one transform.

    Parameters
    ----------
    transform
        With ``frequencies`` and ``magnitude(audio)``.
    sample_rate : int
        Hz.
    seed : int
        Seed of the sinusoids' phases.
    n_iter : int
        Leakage-removing updates of :func:`sinusoid_amplitudes` (0: divide
        each bin's magnitude by its own response).
    """

    def __init__(self, transform, sample_rate: int = config.SAMPLE_RATE, seed: int = 0,
                 n_iter: int = 10):
        self.transform = transform
        self.sample_rate = int(sample_rate)
        self.seed = int(seed)
        self.n_iter = int(n_iter)
        self.frequencies = np.asarray(transform.frequencies, dtype=np.float64)
        self.response = band_response(transform, sample_rate)

    def amplitudes(self, magnitude) -> np.ndarray:
        """Sinusoid amplitudes for magnitudes ``(n_bins,)`` or ``(n_frames, n_bins)``."""
        return sinusoid_amplitudes(magnitude, self.response, self.n_iter)

    def render(self, magnitude, seconds: float, fade_seconds: float = FADE_SECONDS) -> np.ndarray:
        """Audio (float32) of a held frame ``(n_bins,)`` or of frames ``(n_frames, n_bins)``
        spread evenly over ``seconds``."""
        return additive_synthesis(self.amplitudes(magnitude), self.frequencies, seconds,
                                  self.sample_rate, self.seed, fade_seconds)


def spectrum_distance(audio, magnitude, transform) -> dict:
    """How well a sound reproduces a magnitude frame, after re-analysis.

    The sound's steady-state magnitude (:func:`analyse`) is scaled by the
    least-squares gain onto ``magnitude`` (playback is peak-normalised, so the
    overall level does not count) and compared.

    Returns
    -------
    dict
        ``spectral_convergence``: ``||g A - M|| / ||M||`` (0 is perfect);
        ``log_spectral_distance_db``: RMS over bins of ``20 log10(g A / M)``
        (bins within 60 dB of the frame's peak; dB); ``gain``: g.
    """
    target = np.asarray(magnitude, dtype=np.float64)
    got = analyse(audio, transform)
    gain = float(got @ target / max(got @ got, 1e-300))
    est = gain * got
    sc = float(np.linalg.norm(est - target) / max(np.linalg.norm(target), 1e-300))
    keep = target > target.max() * 1e-3
    lsd = float(np.sqrt(np.mean((to_db(est[keep], -300) - to_db(target[keep], -300)) ** 2)))
    return {"spectral_convergence": sc, "log_spectral_distance_db": lsd, "gain": gain}


# -- the renderer ---------------------------------------------------------------
def to_db(magnitude, floor_db: float = FLOOR_DB) -> np.ndarray:
    """Linear magnitudes -> dB re 1 (``20 log10``), floored at ``floor_db``."""
    mag = np.asarray(magnitude, dtype=np.float64)
    return np.maximum(20.0 * np.log10(np.maximum(mag, 1e-300)), floor_db)


def wav_bytes(audio, sample_rate: int = config.SAMPLE_RATE) -> bytes:
    """A mono 16-bit WAV file, in memory, of ``audio`` peak-normalised to 0.95."""
    buffer = io.BytesIO()
    sf.write(buffer, peak_normalize(audio), sample_rate, subtype="PCM_16", format="WAV")
    return buffer.getvalue()


def spread_frames(magnitudes, n_frames: int) -> np.ndarray:
    """``(n, n_bins)`` magnitudes spread evenly over ``n_frames`` rows by linear
    interpolation (first row on the first frame, last on the last); a single
    ``(n_bins,)`` frame is held."""
    mags = np.atleast_2d(np.asarray(magnitudes, dtype=np.float64))
    if mags.shape[0] == 1:
        return np.repeat(mags, n_frames, axis=0)
    pos = np.linspace(0.0, len(mags) - 1, int(n_frames))
    lo = np.minimum(np.floor(pos).astype(int), len(mags) - 1)
    hi = np.minimum(lo + 1, len(mags) - 1)
    w = (pos - lo)[:, None]
    return (1 - w) * mags[lo] + w * mags[hi]


def render(magnitudes, transform, seconds: float, *, method: str = "griffin-lim",
           n_iter: int = N_ITER, momentum: float = MOMENTUM, seed: int = config.DEFAULT_SEED,
           renderer: FastRenderer | None = None,
           fade_seconds: float = FADE_SECONDS) -> np.ndarray:
    """Audio of linear magnitudes: the one renderer of the project.

    Parameters
    ----------
    magnitudes : np.ndarray, shape (n_bins,) or (n, n_bins)
        One frame held for ``seconds``, or ``n`` frames spread evenly over them
        (linear interpolation between consecutive frames, see :func:`spread_frames`).
    transform : str or Transform
        The transform whose bins the magnitudes are on.
    seconds : float
        Duration (s), > 0.
    method : {"griffin-lim", "fast"}
        Phase retrieval through the transform, or additive rendering
        (:class:`FastRenderer`).
    n_iter, momentum, seed
        Griffin-Lim iterations, momentum and seed of the initial phases.
    renderer : FastRenderer, optional
        Reused by ``method="fast"`` (saves the calibration).
    fade_seconds : float
        Raised-cosine fade at both ends (s).

    Returns
    -------
    np.ndarray, float32, shape (round(seconds * sample_rate),)
        Not normalised (:func:`vts.io.write_wav` peak-normalises).

    Raises
    ------
    ValueError
        On bad input, and before any work when ``seconds`` exceeds
        :data:`vts.config.MAX_GRIFFIN_LIM_SECONDS` (Griffin-Lim) or
        :data:`vts.config.MAX_FAST_SECONDS` (:func:`check_duration`).

    Examples
    --------
    >>> from vts.dsp import get_transform, render
    >>> tr = get_transform("nsgt-erb")
    >>> render(np.ones(tr.n_bins), tr, 0.1, n_iter=2).shape
    (2205,)
    """
    tr = get_transform(transform)
    mags = np.asarray(magnitudes, dtype=np.float64)
    if mags.ndim not in (1, 2) or mags.shape[-1] != tr.n_bins or mags.size == 0:
        raise ValueError(f"render: magnitudes must be ({tr.n_bins},) or (n, {tr.n_bins}) for "
                         f"{tr.name}, got shape {mags.shape}")
    if not np.all(np.isfinite(mags)) or (mags < 0).any():
        raise ValueError("render: magnitudes must be finite and >= 0")
    if not seconds > 0:
        raise ValueError(f"render: seconds must be > 0, got {seconds}")
    if method not in METHODS:
        raise ValueError(f"render: method must be one of {METHODS}, got {method!r}")
    check_duration(seconds, method)
    length = max(1, round(float(seconds) * tr.sample_rate))
    if method == "fast":
        renderer = renderer or FastRenderer(tr, tr.sample_rate, seed)
        audio = renderer.render(mags, seconds, fade_seconds=0.0)
    else:
        frames = spread_frames(mags, int(tr.n_frames(length)))
        audio = griffin_lim(frames.T, tr, n_iter=n_iter, momentum=momentum, length=length,
                            seed=seed)
    return _fade(audio, fade_seconds, tr.sample_rate)
