"""nsgt 0.19 on numpy >= 2: a shim applied once at import, only where needed.

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

import importlib
import warnings

import numpy as np

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
