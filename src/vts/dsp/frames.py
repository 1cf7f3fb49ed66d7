"""Frames for learning: corpus-wide log normalisation and the choice of a note's sustained frame."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .. import config
from .transforms import ANALYSIS_SECONDS, _as_signal, get_transform


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
