"""vts: generative variational timbre spaces."""
__version__ = "0.1.0"
