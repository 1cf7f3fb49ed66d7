"""Single source of truth for the project's constants and directory layout.

Every module imports its defaults from here; nothing else hard-codes a sample
rate, a frequency range or a path.
"""
from __future__ import annotations

import os
from pathlib import Path

#: Sample rate (Hz) of every signal the models see, as in the paper.
SAMPLE_RATE = 22050
#: Lowest and highest analysis frequency (Hz) of every transform.
FMIN_HZ = 64.0
FMAX_HZ = 8000.0
#: STFT / DCT framing of the paper: Hamming window of 40 ms, hop of 10 ms.
WINDOW_SECONDS = 0.040
HOP_SECONDS = 0.010
#: NSGT resolution: bins per octave of the constant-Q scale, bins of Mel / ERB.
CQT_BINS_PER_OCTAVE = 24
MEL_BINS = 168
ERB_BINS = 168
#: The five input transforms compared in the paper (Table 1), in its order.
TRANSFORMS = ("nsgt-erb", "nsgt-cqt", "nsgt-mel", "stft", "dct")
#: The transform the paper settles on.
DEFAULT_TRANSFORM = "nsgt-erb"
#: Notes shorter than this (s) cannot give a sustained frame and are rejected.
MIN_DURATION_SECONDS = 0.15
#: Peak amplitude under which a file is considered silent.
SILENCE_PEAK = 1e-4
#: Seed used wherever the caller does not give one.
DEFAULT_SEED = 0

#: The run profiles (their table: :data:`vts.profiles.PROFILES`).
PROFILE_NAMES = ("smoke", "default", "paper")
#: Griffin-Lim iterations of every render unless a caller asks otherwise.
GRIFFIN_LIM_ITERATIONS = 64
#: Longest Griffin-Lim render (s): its memory grows with the duration; longer sounds
#: need the additive renderer (``method="fast"``).
MAX_GRIFFIN_LIM_SECONDS = 600.0
#: Longest additive (``method="fast"``) render (s).
MAX_FAST_SECONDS = 4 * 3600.0

#: Positions of the PCA planes of the paper's descriptor topology (scaled PCA units).
PLANE_POSITIONS = (-0.75, -0.45, -0.15, 0.15, 0.45, 0.75)
#: Grid points per side of each plane (the paper: 50 x 50).
GRID_SIZE = 50

#: Repository root (``src/vts/config.py`` -> two levels up from ``src``).
PROJECT_ROOT = Path(__file__).resolve().parents[2]
#: Read-only mirror of public data that sits beside the repository on the
#: project's machines.
MIRROR_DIR = PROJECT_ROOT.parent / "shared" / "data"
#: Environment variable that points at a data root (overrides the mirror).
DATA_ENV = "VTS_DATA"


def _dir(env: str, default: str) -> Path:
    return Path(os.environ.get(env, PROJECT_ROOT / default)).resolve()


def data_dir() -> Path:
    """Project-local data folder (``data/``; catalogue, rejected list, downloads)."""
    return _dir("VTS_DATA_DIR", "data")


def features_dir() -> Path:
    """Cache of spectral features (``features/``), keyed by transform and corpus."""
    return _dir("VTS_FEATURES_DIR", "features")


def models_dir() -> Path:
    """Trained timbre spaces (``models/<transform>-<kind>/``, :func:`vts.plan.model_name`)."""
    return _dir("VTS_MODELS_DIR", "models")


def figures_dir() -> Path:
    """Figures, tables and sounds rebuilt by the notebooks (``figures/``)."""
    return _dir("VTS_FIGURES_DIR", "figures")


def build_dir() -> Path:
    """Executed notebooks, logs and scratch output (``build/``)."""
    return _dir("VTS_BUILD_DIR", "build")


def available_cores() -> int:
    """CPU cores this process may use (its affinity mask where the OS has one)."""
    if hasattr(os, "sched_getaffinity"):
        return max(1, len(os.sched_getaffinity(0)))
    return max(1, os.cpu_count() or 1)


def worker_count(jobs: int | None, n_tasks: int, name: str = "jobs") -> int:
    """Worker processes for ``n_tasks`` tasks: ``jobs`` (``None`` or -1: one per
    :func:`available_cores`), never more than the tasks, at least one.

    Raises
    ------
    ValueError
        If ``jobs`` is not None, -1 or a positive integer (the message names ``name``).
    """
    if jobs is None or jobs == -1:
        jobs = available_cores()
    if isinstance(jobs, bool) or int(jobs) != jobs or jobs < 1:
        raise ValueError(f"{name} must be None, -1 or a positive integer, got {jobs!r}")
    return max(1, min(int(jobs), n_tasks))
