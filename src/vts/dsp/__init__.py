"""Signal processing: audio -> transform -> frames for learning, and magnitudes -> audio.

Submodules, in the order data flows:

- :mod:`vts.dsp.nsgt_compat` -- nsgt on numpy >= 2;
- :mod:`vts.dsp.transforms` -- the five invertible spectral transforms;
- :mod:`vts.dsp.frames` -- log normalisation and the sustained frame of a note;
- :mod:`vts.dsp.descriptors` -- spectral descriptors of magnitude frames;
- :mod:`vts.dsp.render` -- the one renderer, magnitudes -> audio.

Their public names are re-exported here (``from vts.dsp import get_transform, render``).
"""
from .frames import (
    Normalizer,
    analysis_window,
    note_frames,
    sustained_frame,
    sustained_frame_index,
    sustained_region,
)
from .nsgt_compat import NSGT_SHIM_ACTIVE, ClipCastingNumpy, ensure_nsgt_compat
from .render import (
    METHODS,
    N_ITER,
    FastRenderer,
    griffin_lim,
    render,
    render_frame,
    spectral_convergence,
    spectrum_distance,
    to_db,
    wav_bytes,
)
from .transforms import (
    ANALYSIS_SECONDS,
    TRANSFORM_NAMES,
    ErbScale,
    Transform,
    erb_bandwidth_hz,
    erb_rate_to_hz,
    get_transform,
    hz_to_erb_rate,
)

__all__ = [
    "ANALYSIS_SECONDS",
    "METHODS",
    "NSGT_SHIM_ACTIVE",
    "N_ITER",
    "TRANSFORM_NAMES",
    "ClipCastingNumpy",
    "ErbScale",
    "FastRenderer",
    "Normalizer",
    "Transform",
    "analysis_window",
    "ensure_nsgt_compat",
    "erb_bandwidth_hz",
    "erb_rate_to_hz",
    "get_transform",
    "griffin_lim",
    "hz_to_erb_rate",
    "note_frames",
    "render",
    "render_frame",
    "spectral_convergence",
    "spectrum_distance",
    "sustained_frame",
    "sustained_frame_index",
    "sustained_region",
    "to_db",
    "wav_bytes",
]
