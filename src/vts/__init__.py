"""vts: generative variational timbre spaces."""
import os as _os

# Idle OpenMP threads spin by default; on a small shared CPU that starves the
# other processes (feature workers, notebooks). Set before torch is imported.
_os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

__version__ = "0.1.0"
