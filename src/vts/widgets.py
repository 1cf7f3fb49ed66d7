"""The JupyterLab explorer of a timbre space, and a fast audio rendering of decoded frames.

:class:`Explorer` shows a trained :class:`vts.space.TimbreSpace` as three
linked views: sliders over the first three PCA axes (or over the raw latent
dimensions), a 3-D scatter of the corpus codes in PCA coordinates with a cursor,
and the decoded spectrum; the decoded note is played by an ``ipywidgets.Audio``.
Everything the widgets show is also reachable from Python without a browser::

    explorer = Explorer(space)
    explorer.set_pca(0.5, -0.2, 0.0)
    explorer.current_spectrum          # linear magnitudes (n_bins,)
    explorer.current_audio             # float32 at config.SAMPLE_RATE
    explorer.widget                    # the container to display

Fast reconstruction
-------------------
Griffin-Lim through the NSGT costs one forward and one inverse transform per
iteration, far too slow to follow a slider. ``reconstruction="fast"`` instead
renders the decoded magnitude frame additively: one sinusoid per bin, at the
bin's centre frequency (rounded to a 1-Hz grid so that one second of signal is
exactly periodic and can be tiled without a seam), with fixed random phases
(seeded: the same point always gives the same sound). The amplitudes are
calibrated against the transform itself: :func:`band_response` analyses unit
sinusoids once per transform to get how much each sinusoid shows in each bin,
and :func:`sinusoid_amplitudes` inverts that (non-negative, multiplicative
updates in the power domain), so that re-analysing the sound gives back the
decoded magnitude. A render is then one inverse real FFT.
``reconstruction="griffin-lim"`` uses :func:`vts.transforms.render_frame`.
``benchmarks/bench_explorer.py`` measures both (latency and spectral error).
"""
from __future__ import annotations

import importlib
import io
import time
from collections.abc import Sequence

import numpy as np

from .config import SAMPLE_RATE

#: Reconstruction methods of the explorer's audio.
RECONSTRUCTIONS = ("fast", "griffin-lim")
#: Latent path kinds the explorer's path mode offers (expressive paths need notes' frames).
PATH_KINDS = ("spherical", "linear")
#: Griffin-Lim iterations of ``reconstruction="griffin-lim"`` (as ``TimbreSpace.synthesize``).
GRIFFIN_LIM_ITERATIONS = 32
#: Floor of the displayed spectra (dB re 1).
FLOOR_DB = -120.0
#: Colour cycle of the instruments in the scatter (plotly's qualitative "Dark24").
_PALETTE = ("#2E91E5", "#E15F99", "#1CA71C", "#FB0D0D", "#DA16FF", "#222A2A", "#B68100",
            "#750D86", "#EB663B", "#511CFB", "#00A08B", "#FB00D1", "#FC0080", "#B2828D",
            "#6C7C32", "#778AAE", "#862A16", "#A777F1", "#620042", "#1616A7", "#DA60CA",
            "#6C4516", "#0D2A63", "#AF0038")


# -- small helpers ------------------------------------------------------------------
def to_db(magnitude, floor_db: float = FLOOR_DB) -> np.ndarray:
    """Linear magnitudes -> dB (``20 log10``), floored at ``floor_db``."""
    mag = np.asarray(magnitude, dtype=np.float64)
    return np.maximum(20.0 * np.log10(np.maximum(mag, 1e-300)), floor_db)


def wav_bytes(audio, sample_rate: int = SAMPLE_RATE) -> bytes:
    """A mono 16-bit WAV file, in memory, of ``audio`` peak-normalised to 0.95."""
    import soundfile as sf

    from .audio import peak_normalize

    buffer = io.BytesIO()
    sf.write(buffer, peak_normalize(audio), sample_rate, subtype="PCM_16", format="WAV")
    return buffer.getvalue()


def _transforms():
    return importlib.import_module("vts.transforms")


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
                       sample_rate: int = SAMPLE_RATE, seed: int = 0,
                       fade_seconds: float = 0.01) -> np.ndarray:
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


def band_response(transform, sample_rate: int = SAMPLE_RATE, seconds: float = 0.5,
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
    from tqdm.auto import tqdm

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

    def __init__(self, transform, sample_rate: int = SAMPLE_RATE, seed: int = 0,
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

    def render(self, magnitude, seconds: float) -> np.ndarray:
        """Audio (float32) of a held frame ``(n_bins,)`` or of frames ``(n_frames, n_bins)``
        spread evenly over ``seconds``."""
        return additive_synthesis(self.amplitudes(magnitude), self.frequencies, seconds,
                                  self.sample_rate, self.seed)


def render_magnitude(magnitude, transform, seconds: float, reconstruction: str = "fast",
                     renderer: FastRenderer | None = None,
                     n_iter: int = GRIFFIN_LIM_ITERATIONS) -> np.ndarray:
    """Audio of decoded magnitudes, by the chosen reconstruction.

    Parameters
    ----------
    magnitude : np.ndarray, shape (n_bins,) or (n_frames, n_bins)
        A held frame, or frames spread evenly over ``seconds``.
    transform
        The space's transform.
    seconds : float
    reconstruction : {"fast", "griffin-lim"}
        Additive rendering (:class:`FastRenderer`) or phase retrieval through
        the transform (:func:`vts.transforms.render_frame` for one frame,
        :func:`vts.transforms.griffin_lim` for several).
    renderer : FastRenderer, optional
        Reused for "fast" (saves the calibration).
    n_iter : int
        Griffin-Lim iterations (momentum 0.99).
    """
    if reconstruction == "fast":
        renderer = renderer or FastRenderer(transform)
        return renderer.render(magnitude, seconds)
    if reconstruction != "griffin-lim":
        raise ValueError(f"reconstruction must be one of {RECONSTRUCTIONS}, got {reconstruction!r}")
    tr = _transforms()
    mag = np.asarray(magnitude, dtype=np.float32)
    if mag.ndim == 1:
        return np.asarray(tr.render_frame(mag, transform, seconds, n_iter=n_iter),
                          dtype=np.float32)
    n_frames = max(2, round(seconds / float(transform.hop_seconds)))
    pos = np.linspace(0.0, len(mag) - 1, n_frames)
    lo = np.minimum(np.floor(pos).astype(int), len(mag) - 1)
    hi = np.minimum(lo + 1, len(mag) - 1)
    w = (pos - lo)[:, None]
    frames = ((1 - w) * mag[lo] + w * mag[hi]).T.astype(np.float32)
    return np.asarray(tr.griffin_lim(frames, transform, n_iter=n_iter), dtype=np.float32)


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


# -- latent paths ---------------------------------------------------------------------
#: Decoded frames per second of a path rendered by the fast reconstruction.
PATH_FRAME_RATE = 25.0


def latent_path(z_a, z_b, kind: str = "spherical", n_steps: int = 32) -> np.ndarray:
    """Codes ``(n_steps, latent_dim)`` from ``z_a`` to ``z_b``
    (:func:`vts.synthesis.linear_path` or :func:`vts.synthesis.spherical_path`)."""
    from . import synthesis

    if kind not in PATH_KINDS:
        raise ValueError(f"path kind must be one of {PATH_KINDS}, got {kind!r}")
    return np.asarray(getattr(synthesis, f"{kind}_path")(z_a, z_b, n_steps), dtype=np.float32)


def path_audio_fast(space, path, seconds: float, renderer: FastRenderer | None = None,
                    frame_rate: float = PATH_FRAME_RATE) -> np.ndarray:
    """One sound gliding along a latent path, rendered additively.

    The path is resampled to ``frame_rate`` codes per second
    (:func:`vts.synthesis.path_frames`), decoded, and the sinusoid amplitudes
    are interpolated linearly in time between those frames.

    Returns
    -------
    np.ndarray, float32, ``round(seconds * sample_rate)`` samples
    """
    from . import synthesis

    renderer = renderer or FastRenderer(space.transform)
    n_frames = max(2, round(seconds * frame_rate) + 1)
    frames = synthesis.path_frames(path, n_frames)
    return renderer.render(space.decode_magnitude(frames.astype(np.float32)), seconds)


# -- the explorer -------------------------------------------------------------------
class Explorer:
    """Interactive explorer of a timbre space (JupyterLab; the model works without one).

    Parameters
    ----------
    space : TimbreSpace
        A loaded space (``latents``, ``instruments``, ``centroids``,
        ``to_pca`` / ``from_pca``, ``decode_magnitude``, ``transform``).
    reconstruction : {"fast", "griffin-lim"}
        How the decoded frame becomes sound (see the module docstring).
    seconds : float
        Duration (s) of the note played at the cursor.
    path_seconds : float
        Duration (s) of a path between two instruments.
    path_steps : int
        Decoded points along a path.
    autoplay : bool
        Play every new sound as soon as it is ready (in the browser).
    axes : {"pca", "latent"}
        Sliders shown first: the three PCA axes or the raw latent dimensions
        (a toggle switches between them).
    continuous_update : bool
        Update while a slider is dragged (else on release).
    seed : int
        Phase seed of the fast reconstruction.
    n_iter : int
        Griffin-Lim iterations of ``reconstruction="griffin-lim"``.

    Notes
    -----
    Moving a PCA slider moves the current code along that PCA axis and keeps
    its part orthogonal to the PCA plane: from the start (the mean code, on the
    plane) the code is exactly ``space.from_pca(p)``; after
    :meth:`select_instrument` the centroid's off-plane part is kept. Updates
    are synchronous: when a setter returns, spectrum, audio and plots are
    current. ``last_timings`` gives the milliseconds of the last update.
    """

    def __init__(self, space, reconstruction: str = "fast", seconds: float = 1.0,
                 path_seconds: float = 3.0, path_steps: int = 32, autoplay: bool = False,
                 axes: str = "pca", continuous_update: bool = True, seed: int = 0,
                 n_iter: int = GRIFFIN_LIM_ITERATIONS):
        if reconstruction not in RECONSTRUCTIONS:
            raise ValueError(f"reconstruction must be one of {RECONSTRUCTIONS}, "
                             f"got {reconstruction!r}")
        if axes not in ("pca", "latent"):
            raise ValueError(f"axes must be 'pca' or 'latent', got {axes!r}")
        if seconds <= 0 or path_seconds <= 0 or path_steps < 2:
            raise ValueError("seconds and path_seconds must be > 0 and path_steps >= 2")
        self.space = space
        self.reconstruction = reconstruction
        self.seconds = float(seconds)
        self.path_seconds = float(path_seconds)
        self.path_steps = int(path_steps)
        self.autoplay = bool(autoplay)
        self.continuous_update = bool(continuous_update)
        self.seed = int(seed)
        self.n_iter = int(n_iter)
        self.sample_rate = int(getattr(space.transform, "sample_rate", SAMPLE_RATE))
        self.frequencies = np.asarray(space.transform.frequencies, dtype=np.float64)
        self.instruments = [str(i) for i in space.instruments]
        self._centroids = space.centroids
        self._n_pca = int(space.pca.n_components_)
        self._renderer = FastRenderer(space.transform, self.sample_rate, self.seed) \
            if reconstruction == "fast" else None
        self._z = np.asarray(space.from_pca(np.zeros(self._n_pca)), dtype=np.float32)
        self._instrument: str | None = None
        self._spectrum = None
        self._audio = None
        self._path = None
        self._path_audio = None
        self._silent = False
        self.last_timings: dict[str, float] = {}
        self._build(axes)
        self._refresh()

    # -- state -----------------------------------------------------------------------
    @property
    def current_z(self) -> np.ndarray:
        """The code at the cursor, ``(latent_dim,)`` float32 (a copy)."""
        return self._z.copy()

    @property
    def current_pca(self) -> np.ndarray:
        """PCA coordinates of the cursor, ``(3,)``."""
        return np.asarray(self.space.to_pca(self._z), dtype=np.float64)

    @property
    def current_spectrum(self) -> np.ndarray:
        """Decoded linear magnitude at the cursor, ``(n_bins,)`` (``space.decode_magnitude``)."""
        return self._spectrum.copy()

    @property
    def current_audio(self) -> np.ndarray:
        """The note at the cursor, float32 at ``config.SAMPLE_RATE``, ``seconds`` long."""
        return self._audio.copy()

    @property
    def current_instrument(self) -> str | None:
        """Instrument last picked (None once a slider moved the cursor away)."""
        return self._instrument

    @property
    def nearest_instrument(self) -> str:
        """Instrument whose centroid is nearest to the cursor (Euclidean, full latent)."""
        d = np.linalg.norm(self._centroids.to_numpy(np.float64) - self._z[None, :], axis=1)
        return str(self._centroids.index[int(np.argmin(d))])

    @property
    def path_audio(self) -> np.ndarray | None:
        """Audio of the last :meth:`play_path` (None before)."""
        return None if self._path_audio is None else self._path_audio.copy()

    @property
    def path(self) -> np.ndarray | None:
        """Codes ``(path_steps, latent_dim)`` of the last :meth:`play_path`."""
        return None if self._path is None else self._path.copy()

    @property
    def widget(self):
        """The ipywidgets container to display."""
        return self._widget

    # -- setters ---------------------------------------------------------------------
    def set_pca(self, pc1: float, pc2: float = 0.0, pc3: float = 0.0) -> None:
        """Move the cursor to PCA coordinates (keeping the off-plane part of the code)."""
        p = np.array([pc1, pc2, pc3][: self._n_pca], dtype=np.float64)
        if not np.all(np.isfinite(p)):
            raise ValueError(f"PCA coordinates must be finite, got {p}")
        z = np.asarray(self._z, dtype=np.float64)
        residual = z - np.asarray(self.space.from_pca(self.space.to_pca(z)), dtype=np.float64)
        self._instrument = None
        self._set_z(np.asarray(self.space.from_pca(p), dtype=np.float64) + residual)

    def set_latent(self, z: Sequence[float]) -> None:
        """Move the cursor to a code ``(latent_dim,)``."""
        z = np.asarray(z, dtype=np.float64)
        if z.shape != self._z.shape or not np.all(np.isfinite(z)):
            raise ValueError(f"code must be finite with shape {self._z.shape}, got {z.shape}")
        self._instrument = None
        self._set_z(z)

    def select_instrument(self, name: str) -> None:
        """Move the cursor to an instrument's centroid (its full code)."""
        if name not in self._centroids.index:
            raise KeyError(f"{name!r} is not an instrument of this space; "
                           f"choose from {self.instruments}")
        self._set_z(self._centroids.loc[name].to_numpy(np.float64))
        self._instrument = name
        self._sync_picker()

    def play_path(self, start: str, end: str, kind: str = "spherical") -> np.ndarray:
        """Render (and play) a path from one instrument's centroid to another's.

        Returns
        -------
        np.ndarray
            float32 audio, ``path_seconds`` long; the path is drawn in the scatter.
        """
        for name in (start, end):
            if name not in self._centroids.index:
                raise KeyError(f"{name!r} is not an instrument of this space; "
                               f"choose from {self.instruments}")
        z_a = self._centroids.loc[start].to_numpy(np.float32)
        z_b = self._centroids.loc[end].to_numpy(np.float32)
        path = latent_path(z_a, z_b, kind, self.path_steps)
        if self.reconstruction == "fast":
            audio = path_audio_fast(self.space, path, self.path_seconds, self._renderer)
        else:
            from . import synthesis

            audio = synthesis.path_audio(self.space, path, self.path_seconds, n_iter=self.n_iter)
        self._path, self._path_audio = path, np.asarray(audio, dtype=np.float32)
        xyz = np.asarray(self.space.to_pca(path), dtype=np.float64)
        with self._scatter.batch_update():
            self._scatter.data[self._path_trace].update(
                x=xyz[:, 0], y=_col(xyz, 1), z=_col(xyz, 2), name=f"{kind} path")
        self._audio_widget.value = wav_bytes(self._path_audio, self.sample_rate)
        self._status.value = (f"path {start} &rarr; {end} ({kind}, {self.path_seconds:g} s, "
                              f"{self.reconstruction})")
        return self._path_audio.copy()

    # -- update -------------------------------------------------------------------------
    def _set_z(self, z) -> None:
        self._z = np.asarray(z, dtype=np.float32)
        self._refresh()

    def _refresh(self) -> None:
        t0 = time.perf_counter()
        spectrum = np.asarray(self.space.decode_magnitude(self._z), dtype=np.float32)
        t1 = time.perf_counter()
        if self.reconstruction == "fast":
            audio = self._renderer.render(spectrum, self.seconds)
        else:
            audio = render_magnitude(spectrum, self.space.transform, self.seconds, "griffin-lim",
                                     n_iter=self.n_iter)
        audio = np.asarray(audio, dtype=np.float32)
        t2 = time.perf_counter()
        self._spectrum, self._audio = spectrum, audio
        p = self.current_pca
        self._sync_sliders(p)
        with self._spectrum_fig.batch_update():
            self._spectrum_fig.data[0].y = to_db(spectrum)
        with self._scatter.batch_update():
            self._scatter.data[self._cursor_trace].update(x=[p[0]], y=[_at(p, 1)], z=[_at(p, 2)])
        self._audio_widget.value = wav_bytes(audio, self.sample_rate)
        t3 = time.perf_counter()
        self.last_timings = {"decode_ms": 1e3 * (t1 - t0), "audio_ms": 1e3 * (t2 - t1),
                             "display_ms": 1e3 * (t3 - t2), "total_ms": 1e3 * (t3 - t0)}
        label = self._instrument or f"near {self.nearest_instrument}"
        self._status.value = (f"{label} &middot; PCA ({', '.join(f'{v:+.2f}' for v in p)}) "
                              f"&middot; {self.last_timings['total_ms']:.0f} ms "
                              f"({self.reconstruction})")

    # -- widgets -------------------------------------------------------------------------
    def _build(self, axes: str) -> None:
        import ipywidgets as W
        import plotly.graph_objects as go

        space = self.space
        codes = space.codes("train")
        labels = space.latents[space.latents["split"] == "train"]["instrument"].astype(str)
        labels = labels.to_numpy()
        xyz = np.asarray(space.to_pca(codes), dtype=np.float64)
        self._corpus_pca = xyz
        span = np.abs(xyz).max(axis=0) if len(xyz) else np.ones(self._n_pca)
        lim = 1.25 * np.maximum(span, 1e-3)

        # sliders over the PCA axes and the raw latent dimensions
        self._pca_sliders = [
            W.FloatSlider(value=0.0, min=-float(lim[i]), max=float(lim[i]),
                          step=float(lim[i]) / 200, description=f"PC{i + 1}",
                          continuous_update=self.continuous_update, readout_format=".2f",
                          layout=W.Layout(width="380px"))
            for i in range(self._n_pca)]
        zlim = np.maximum(3.0, 1.25 * np.abs(codes).max(axis=0)) if len(codes) else \
            np.full(len(self._z), 3.0)
        self._latent_sliders = [
            W.FloatSlider(value=float(self._z[i]), min=-float(zlim[i]), max=float(zlim[i]),
                          step=float(zlim[i]) / 200, description=f"z{i}",
                          continuous_update=self.continuous_update, readout_format=".2f",
                          layout=W.Layout(width="380px"))
            for i in range(len(self._z))]
        for s in self._pca_sliders:
            s.observe(self._on_pca_slider, names="value")
        for i, s in enumerate(self._latent_sliders):
            s.observe(lambda change, i=i: self._on_latent_slider(i, change), names="value")
        self._axes = W.ToggleButtons(options=[("PCA axes", "pca"), ("latent dims", "latent")],
                                     value=axes, description="sliders")
        pca_box = W.VBox(self._pca_sliders)
        latent_box = W.VBox(self._latent_sliders,
                            layout=W.Layout(max_height="320px", overflow="auto"))
        self._slider_stack = W.Stack([pca_box, latent_box], selected_index=0)
        self._axes.observe(lambda c: setattr(self._slider_stack, "selected_index",
                                             0 if c["new"] == "pca" else 1), names="value")
        self._slider_stack.selected_index = 0 if axes == "pca" else 1

        # instrument picker and path mode
        narrow = {"layout": W.Layout(width="190px"), "style": {"description_width": "40px"}}
        self._picker = W.Dropdown(options=[("—", None)] + [(n, n) for n in self.instruments],
                                  value=None, description="instrument",
                                  layout=W.Layout(width="380px"))
        self._picker.observe(self._on_pick, names="value")
        first = self.instruments[0] if self.instruments else None
        last = self.instruments[-1] if self.instruments else None
        self._path_from = W.Dropdown(options=self.instruments, value=first, description="from",
                                     **narrow)
        self._path_to = W.Dropdown(options=self.instruments, value=last, description="to",
                                   **narrow)
        self._path_kind = W.Dropdown(options=list(PATH_KINDS), value="spherical",
                                     description="path", **narrow)
        self._path_button = W.Button(description="play path", icon="play",
                                     layout=W.Layout(width="150px"))
        self._path_button.on_click(lambda _: self.play_path(self._path_from.value,
                                                            self._path_to.value,
                                                            self._path_kind.value))

        # 3-D scatter of the corpus, cursor and path
        traces = []
        for k, name in enumerate(self.instruments):
            pts = xyz[labels == name]
            traces.append(go.Scatter3d(
                x=pts[:, 0], y=_col(pts, 1), z=_col(pts, 2), mode="markers", name=name,
                marker={"size": 2.5, "color": _PALETTE[k % len(_PALETTE)], "opacity": 0.6},
                hovertext=[name] * len(pts), hoverinfo="text"))
        traces.append(go.Scatter3d(x=[], y=[], z=[], mode="lines+markers", name="path",
                                   line={"color": "black", "width": 4}, marker={"size": 2}))
        traces.append(go.Scatter3d(x=[0.0], y=[0.0], z=[0.0], mode="markers", name="cursor",
                                   marker={"size": 8, "color": "black", "symbol": "diamond"}))
        self._path_trace, self._cursor_trace = len(traces) - 2, len(traces) - 1
        self._scatter = go.FigureWidget(data=traces, layout=go.Layout(
            title="timbre space (PCA of the latent codes)", height=460,
            margin={"l": 0, "r": 0, "t": 40, "b": 0},
            legend={"itemsizing": "constant", "orientation": "h", "y": -0.05},
            scene={"xaxis_title": "PC1", "yaxis_title": "PC2", "zaxis_title": "PC3"}))

        # decoded spectrum
        self._spectrum_fig = go.FigureWidget(
            data=[go.Scatter(x=self.frequencies, y=np.full(len(self.frequencies), FLOOR_DB),
                             mode="lines", name="decoded", line={"color": "#1f77b4"})],
            layout=go.Layout(title="decoded spectrum", height=320,
                             margin={"l": 50, "r": 10, "t": 40, "b": 40},
                             xaxis={"title": "frequency (Hz)", "type": "log"},
                             yaxis={"title": "magnitude (dB)"}))

        self._audio_widget = W.Audio(value=b"", format="wav", autoplay=self.autoplay,
                                     loop=False, controls=True)
        self._status = W.HTML(value="")
        controls = W.VBox([self._axes, self._slider_stack, self._picker,
                           W.HBox([self._path_from, self._path_to]),
                           W.HBox([self._path_kind, self._path_button]),
                           self._audio_widget, self._status],
                          layout=W.Layout(width="400px", min_width="400px"))
        self._widget = W.VBox([W.HBox([controls, W.Box([self._scatter],
                                                       layout=W.Layout(flex="1 1 auto"))]),
                               self._spectrum_fig])

    def _sync_sliders(self, p) -> None:
        """Show the current state on the sliders without triggering updates."""
        self._silent = True
        try:
            for s, v in zip(self._pca_sliders, p):
                _set_slider(s, float(v))
            for s, v in zip(self._latent_sliders, self._z):
                _set_slider(s, float(v))
        finally:
            self._silent = False

    def _sync_picker(self) -> None:
        self._silent = True
        try:
            self._picker.value = self._instrument
        finally:
            self._silent = False

    def _on_pca_slider(self, change) -> None:
        if self._silent:
            return
        self.set_pca(*[s.value for s in self._pca_sliders])
        self._sync_picker()

    def _on_latent_slider(self, i: int, change) -> None:
        if self._silent:
            return
        z = self._z.astype(np.float64).copy()
        z[i] = change["new"]
        self.set_latent(z)
        self._sync_picker()

    def _on_pick(self, change) -> None:
        if self._silent or change["new"] is None:
            return
        self.select_instrument(change["new"])

    def _ipython_display_(self):    # pragma: no cover - display hook in a notebook
        from IPython.display import display

        display(self._widget)


def _col(a: np.ndarray, i: int) -> np.ndarray:
    return a[:, i] if a.shape[1] > i else np.zeros(len(a))


def _at(p: np.ndarray, i: int) -> float:
    return float(p[i]) if len(p) > i else 0.0


def _set_slider(slider, value: float) -> None:
    """Set a slider's value, widening its range first if needed (sliders clamp)."""
    slider.max = max(slider.max, value)
    slider.min = min(slider.min, value)
    slider.value = value
