"""cohort's stand-in for the parts of NVIDIA FLARE a training script imports.

Only on a script's path when its recipe says ``api = "nvflare"`` (python/shims/README.md).
"""

__version__ = "cohort-compat"
