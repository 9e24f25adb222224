"""cohort from Python.

- The Client API of a training script (``client.py``): ``cohort.init()``, ``receive()``,
  ``send()``, ...; it needs PyTorch, and loads when a script first uses one of its names::

      import cohort

      cohort.init()
      while cohort.is_running():
          model = cohort.receive()              # the global model, tensors in shared memory
          net.load_state_dict(model.params)
          ...                                   # train as usual
          cohort.send(cohort.Model(params=net.state_dict(), metrics={"accuracy": acc}))

- Driving a server (``session.py``: ``cohort.Session``), ``cohort.simulate`` and
  ``cohort.compare`` (``runs.py``): the standard library only, so an admin's machine needs
  no PyTorch.
"""

from __future__ import annotations

import importlib
from typing import Any

from . import runs, session
from .runs import *  # noqa: F403 (runs.__all__)
from .session import *  # noqa: F403 (session.__all__)

#: The Client API's names: client.py, loaded on first use.
_CLIENT_API = ["Model", "ParamsType", "TASK_TRAIN", "TASK_VALIDATE", "TASK_SUBMIT_MODEL", "TASK_GET_PARAMETERS",
               "init", "is_running", "receive", "send", "log", "is_train", "is_evaluate", "is_submit_model",
               "is_get_parameters"]

__all__ = [*session.__all__, *runs.__all__, *_CLIENT_API]


def __getattr__(name: str) -> Any:
    """The Client API's names (and its internals, which the shims use), from client.py on
    first use."""
    if name.startswith("__") or name == "client":
        raise AttributeError(f"module 'cohort' has no attribute '{name}'")
    try:
        client = importlib.import_module(".client", __name__)
    except ImportError as e:
        raise ImportError(f"cohort.{name} is the Client API of a training script, which needs PyTorch "
                          f"(Debian: python3-torch): {e}") from e
    try:
        return getattr(client, name)
    except AttributeError:
        raise AttributeError(f"module 'cohort' has no attribute '{name}'") from None
