"""vts: generative variational timbre spaces (Esling, Chemla-Romeu-Santos & Bitton, DAFx 2018).

The pipeline, in the order data flows (one module per step, see docs/architecture.md)::

    io, data, instruments, perception      sounds, the note catalogue, listeners' ratings
    dsp (transforms, frames, descriptors,  audio <-> spectral frames, descriptors,
         render)                           the one renderer
    features -> model + regularizers       cached frames -> the perceptually regularised VAE
    profiles -> checkpoints, train, plan   sizes, two-stage training of one space, all spaces
    space                                  a saved TimbreSpace
    metrics, paths, topology               Table 1, latent paths, descriptor planes, Algorithm 1
    agreement, learned_metric, stimuli,    listeners' studies: protocols, learned metrics,
    listener_space, listeners              stimulus codes, the listener space, the tables
    app (plots, spectrum_plots, listener_plots, interactive, animations, figures, page,
         explorer, plot_view, notebook, pairs, runner, cli, commands)

The public names below are loaded on first use (``from vts import TimbreSpace``),
so that ``import vts`` -- and the command line's parser -- stay light.
"""
import importlib as _importlib
import os as _os

# Idle OpenMP threads spin by default; on a small shared CPU that starves the
# other processes (feature workers, notebooks). Set before torch is imported.
_os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

__version__ = "0.1.0"

#: Public name -> the module that defines it.
_PUBLIC = {
    "TimbreSpace": "vts.space",
    "SpaceError": "vts.space",
    "Normalizer": "vts.dsp",
    "get_transform": "vts.dsp",
    "render": "vts.dsp",
    "PROFILES": "vts.profiles",
    "get_profile": "vts.profiles",
    "train_space": "vts.train",
    "train_all": "vts.plan",
    "load_catalog": "vts.data",
    "load_features": "vts.features",
    "Explorer": "vts.app.explorer",
}

__all__ = sorted(_PUBLIC) + ["__version__"]


def __getattr__(name):
    if name in _PUBLIC:
        return getattr(_importlib.import_module(_PUBLIC[name]), name)
    raise AttributeError(f"module 'vts' has no attribute {name!r}")


def __dir__():
    return __all__
