"""cohort's stand-in for the parts of Flower a client app imports.

Only on a script's path when its recipe says ``api = "flower"``; ``cohort.flower`` drives
the app (python/shims/README.md).
"""

from . import client, common

__version__ = "cohort-compat"
