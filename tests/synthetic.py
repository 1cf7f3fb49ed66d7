"""A tiny synthetic corpus in every layout the project reads, made by the tests.

Each "instrument" is a harmonic tone whose spectral envelope (the decay of its
partials and a formant) is set by a point in a hidden 2-D timbre plane; the
ratings table and the study matrices are distances in that same plane, so a
model can learn something real from it in seconds.
"""
from __future__ import annotations

import itertools
from pathlib import Path

import numpy as np
import pandas as pd
import soundfile as sf

from vts.dsp import get_transform
from vts.dsp.descriptors import centroid
from vts.instruments import RATED_INSTRUMENTS

SAMPLE_RATE = 22050
#: Hidden timbre plane: (brightness, formant position) per instrument in 0..1.
_rng = np.random.default_rng(7)
TIMBRE = {name: _rng.uniform(0, 1, 2) for name in RATED_INSTRUMENTS}
TIMBRE["bass-clarinet"] = TIMBRE["clarinet"] * 0.8
TIMBRE["guitar"] = np.array([0.9, 0.1])


def tone(f0_hz: float, seconds: float, brightness: float, formant: float,
         sample_rate: int = SAMPLE_RATE, amplitude: float = 0.3, attack_s: float = 0.03,
         release_s: float = 0.05, seed: int = 0) -> np.ndarray:
    """Harmonic tone with a linear attack, a sustain and a release."""
    t = np.arange(int(seconds * sample_rate)) / sample_rate
    rng = np.random.default_rng(seed)
    signal = np.zeros_like(t)
    decay = 0.35 + 2.5 * (1 - brightness)                  # spectral slope
    formant_hz = 400 + 3000 * formant
    for k in range(1, 40):
        f = k * f0_hz
        if f > 0.45 * sample_rate:
            break
        gain = k ** -decay * (1 + 2 * np.exp(-((f - formant_hz) / 400) ** 2))
        signal += gain * np.sin(2 * np.pi * f * t + rng.uniform(0, 2 * np.pi))
    envelope = np.minimum(1, t / attack_s) * np.minimum(1, (seconds - t) / release_s).clip(0)
    signal *= envelope
    return (amplitude * signal / np.max(np.abs(signal))).astype(np.float32)


def midi_hz(pitch: int) -> float:
    return 440.0 * 2 ** ((pitch - 69) / 12)


NOTES = (("C4", 60), ("E4", 64), ("G4", 67), ("C5", 72))
DYNAMICS = (("piano", 0.1), ("forte", 0.4))


def write_philharmonia(root: Path, instruments, notes=NOTES, seconds: float = 0.6) -> list[Path]:
    paths = []
    for name in instruments:
        for (note, pitch), (dyn, amp) in itertools.product(notes, DYNAMICS):
            path = root / "philharmonia" / name / f"{name}_{note.replace('#', 's')}_1_{dyn}_normal.mp3"
            path.parent.mkdir(parents=True, exist_ok=True)
            b, f = TIMBRE[name]
            sf.write(path, tone(midi_hz(pitch), seconds, b, f, amplitude=amp, seed=pitch),
                     SAMPLE_RATE, format="MP3")
            paths.append(path)
    return paths


def write_tonejs(root: Path, instruments, notes=NOTES, seconds: float = 0.6) -> list[Path]:
    paths = []
    for name in instruments:
        for note, pitch in notes:
            path = root / "tonejs" / name / f"{name}_{note.replace('#', 's')}.flac"
            path.parent.mkdir(parents=True, exist_ok=True)
            b, f = TIMBRE[name]
            sf.write(path, tone(midi_hz(pitch), seconds, b, f, seed=pitch), SAMPLE_RATE)
            paths.append(path)
    return paths


TINYSOL_HEADER = ("Path,Fold,Family,Instrument (abbr.),Instrument (in full),Technique (abbr.),"
                  "Technique (in full),Pitch,Pitch ID,Dynamics,Dynamics ID,Instance ID,"
                  "String ID (if applicable),Needed digital retuning")


def write_tinysol(root: Path) -> list[Path]:
    """Three oboe notes and one flute note in TinySOL's layout (mirdata's data_home)."""
    home = root / "tinysol"
    rows, paths = [], []
    for abbr, full, family, pitch_name, pitch, dyn in (
            ("Ob", "Oboe", "Winds", "A4", 69, "ff"), ("Ob", "Oboe", "Winds", "C5", 72, "pp"),
            ("Ob", "Oboe", "Winds", "E5", 76, "mf"), ("Fl", "Flute", "Winds", "G4", 67, "f")):
        rel = f"{family}/{full}/ordinario/{abbr}-ord-{pitch_name}-{dyn}-N-N.wav"
        path = home / "audio" / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        b, f = TIMBRE[full.lower()]
        sf.write(path, tone(midi_hz(pitch), 0.5, b, f), 44100 // 2)
        dyn_id = ["pp", "p", "mf", "f", "ff"].index(dyn)
        rows.append(f"{rel},0,{family},{abbr},{full},ord,ordinario,{pitch_name},{pitch},{dyn},"
                    f"{dyn_id},0,,FALSE")
        paths.append(path)
    (home / "annotation").mkdir(parents=True, exist_ok=True)
    (home / "annotation" / "TinySOL_metadata.csv").write_text(
        "\n".join([TINYSOL_HEADER, *rows]) + "\n")
    return paths


def write_ratings(root: Path, instruments=RATED_INSTRUMENTS, subjects: int = 3,
                  seed: int = 0) -> Path:
    """Ratings of every pair: hidden-plane distance plus listener noise, in 0..1."""
    rng = np.random.default_rng(seed)
    lines = ["instrument_a,instrument_b,occurrence,study_inferred,subject,rating"]
    rated_name = {"french-horn": "FrenchHorn", "english-horn": "EnglishHorn"}
    for a, b in itertools.combinations(instruments, 2):
        d = np.linalg.norm(TIMBRE[a] - TIMBRE[b]) / np.sqrt(2)
        for s in range(subjects):
            r = float(np.clip(d + rng.normal(0, 0.03), 0, 1))
            lines.append(f"{rated_name.get(a, a.title())},{rated_name.get(b, b.title())},0,"
                         f"Grey1977,{s},{r:.6f}")
    path = root / "timbre" / "pairwise_ratings.csv"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines) + "\n")
    return path


def write_study(root: Path, name: str = "Toy2024",
                instruments=("flute", "oboe", "trumpet", "cello", "piano")) -> Path:
    """A study folder: upper-triangle matrix of hidden-plane distances, AIFF stimuli."""
    folder = root / "timbre" / "studies" / name
    (folder / "stimuli").mkdir(parents=True, exist_ok=True)
    n = len(instruments)
    matrix = np.zeros((n, n))
    for i, j in itertools.combinations(range(n), 2):
        matrix[i, j] = np.linalg.norm(TIMBRE[instruments[i]] - TIMBRE[instruments[j]]) / np.sqrt(2)
    np.savetxt(folder / "dissimilarity_matrix.txt", matrix, delimiter="\t", fmt="%.6f")
    for k, name_k in enumerate(instruments):
        b, f = TIMBRE[name_k]
        # stimuli at 44.1 kHz stereo, as real studies come
        mono = tone(311.1, 0.5, b, f, sample_rate=44100)
        sf.write(folder / "stimuli" / f"{k + 1:02d}_{name_k.title().replace('-', '')}.aiff",
                 np.stack([mono, mono], axis=1), 44100, format="AIFF")
    return folder


def make_corpus(root: Path) -> Path:
    """The whole synthetic data root: notes in three layouts, ratings, two studies."""
    root = Path(root)
    tonejs = ("violin", "trumpet", "piano")
    write_philharmonia(root, [n for n in RATED_INSTRUMENTS if n not in tonejs]
                       + ["bass-clarinet", "guitar"])
    write_tonejs(root, tonejs)
    write_ratings(root)
    write_study(root, "Toy2024")
    write_study(root, "Toy2025", ("clarinet", "saxophone", "french-horn", "violin"))
    return root


# -- a fake space whose decoder is analytic (tests of paths and topology) -----------------
def bump_centre(z0):
    """Centre (Hz) of the decoded bump: 3000 + 2000 tanh(z0), in (1000, 5000)."""
    return 3000.0 + 2000.0 * np.tanh(z0)


def bump_width(z1):
    """Width (Hz) of the decoded bump: 200 exp(0.5 tanh(z1)), in (121, 330)."""
    return 200.0 * np.exp(0.5 * np.tanh(z1))


class BumpSpace:
    """decode(z) = a Gaussian bump (linear magnitudes) on the real STFT grid, centred at
    ``bump_centre(z[0])`` with width ``bump_width(z[1])``; PCA = the first three latent axes."""

    latent_dim = 4

    def __init__(self, codes=None):
        self.transform = get_transform("stft")
        self._codes = codes

    def decode_magnitude(self, z):
        z = np.asarray(z, dtype=np.float64)
        single = z.ndim == 1
        z = np.atleast_2d(z)
        f = self.transform.frequencies[None, :]
        mag = np.exp(-0.5 * ((f - bump_centre(z[:, :1])) / bump_width(z[:, 1:2])) ** 2)
        return (mag[0] if single else mag).astype(np.float32)

    def encode_magnitude(self, mag):                 # (n_frames, n_bins) -> (n_frames, d)
        c = centroid(np.asarray(mag), self.transform.frequencies)
        z = np.zeros((c.size, self.latent_dim))
        z[:, 0] = np.arctanh(np.clip((c - 3000.0) / 2000.0, -0.999, 0.999))
        return z

    def codes(self, split="train"):
        return self._codes

    def to_pca(self, z):
        return np.asarray(z)[..., :3]

    def from_pca(self, p):
        p = np.atleast_2d(p)
        return np.hstack([p, np.zeros((p.shape[0], 1))])


def catalog(rows) -> pd.DataFrame:
    """A small catalogue; rows are ``(note_id, path, instrument, note, pitch, dynamics,
    attribution)``."""
    return pd.DataFrame(rows, columns=["note_id", "path", "instrument", "note", "pitch",
                                       "dynamics", "attribution"])
