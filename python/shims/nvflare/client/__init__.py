"""NVIDIA FLARE's Client API, on cohort: ``import nvflare.client as flare`` works unchanged.

Each call maps onto cohort's Client API (the ``cohort`` package): ``receive()`` gives an
``FLModel`` whose ``params`` view the shared memory the task came in (torch tensors, or
numpy arrays viewing the same memory with ``params = "numpy"``: no copy either way), and
``send()`` writes each result tensor once into that memory. ``meta["NUM_STEPS_CURRENT_ROUND"]``
is the result's training steps (FedAvg's weight), ``params_type`` FULL or DIFF as in FLARE.
What is not covered raises NotImplementedError naming the call, which fails the task.
"""

from __future__ import annotations

import functools
import inspect
import os
from typing import Any, Optional

import cohort
import torch

from nvflare.app_common.abstract.fl_model import FLModel, ParamsType

__all__ = [
    "FLModel",
    "ParamsType",
    "init",
    "system_info",
    "get_site_name",
    "get_job_id",
    "is_running",
    "receive",
    "send",
    "log",
    "is_train",
    "is_evaluate",
    "is_submit_model",
    "get_task_name",
    "train",
    "evaluate",
]

#: The meta key FLARE's scripts put their number of training steps under.
NUM_STEPS_CURRENT_ROUND = "NUM_STEPS_CURRENT_ROUND"

_NUMPY = os.environ.get("COHORT_PARAMS_FORMAT", "torch") == "numpy"


class _Cache:
    """The task in hand, and the metrics an @evaluate function returned for it."""

    model: Optional[FLModel] = None
    metrics: Any = None


_cache = _Cache()


def init(rank: Optional[str] = None, config_file: Optional[str] = None) -> None:
    """Connects to the site's client process (cohort.init). With torch.distributed, only
    rank 0 talks to cohort, as in FLARE."""
    cohort.init()


def system_info() -> dict:
    """``site_name`` and ``job_id``, as FLARE gives them."""
    return {"site_name": cohort.site, "job_id": cohort.job_id}


def get_site_name() -> str:
    return cohort.site


def get_job_id() -> str:
    return cohort.job_id


def is_running() -> bool:
    return cohort.is_running()


def _to_format(tensor: torch.Tensor) -> Any:
    if not _NUMPY:
        return tensor
    if tensor.dtype == torch.bfloat16:
        raise TypeError("nvflare.client.receive(): a bfloat16 tensor has no numpy form; use params = \"torch\"")
    return tensor.numpy()  # a view of the same memory


def receive(timeout: Optional[float] = None) -> Optional[FLModel]:
    """The task's model as an FLModel; None once the job has ended."""
    if _cache.model is not None:
        return _cache.model
    received = cohort.receive(timeout)
    if received is None:
        return None
    meta = dict(received.meta)
    meta.setdefault("CURRENT_ROUND", received.current_round)
    meta.setdefault("TOTAL_ROUNDS", received.total_rounds)
    _cache.model = FLModel(
        params_type=ParamsType.FULL,
        params={name: _to_format(t) for name, t in (received.params or {}).items()},
        current_round=received.current_round,
        total_rounds=received.total_rounds,
        meta=meta,
    )
    _cache.metrics = None
    return _cache.model


def _as_tensor(name: str, value: Any) -> torch.Tensor:
    if isinstance(value, torch.Tensor):
        return value
    try:
        import numpy as np
    except ImportError:  # pragma: no cover - Debian's python3-numpy comes with python3-torch
        np = None
    if np is not None and isinstance(value, np.ndarray):
        return torch.from_numpy(value)  # the same memory: copied once, into its slot
    raise TypeError(f"nvflare.client.send(): params['{name}'] is a {type(value).__name__}, "
                    "not a torch tensor or a numpy array")


def _metrics(metrics: Any) -> dict:
    if metrics is None:
        return {}
    if isinstance(metrics, (int, float)):
        return {"accuracy": float(metrics)}
    if not isinstance(metrics, dict):
        raise TypeError(f"nvflare.client.send(): metrics is a {type(metrics).__name__}, not a dict of numbers")
    out = {}
    for key, value in metrics.items():
        if not isinstance(value, (int, float)) and not (isinstance(value, torch.Tensor) and value.numel() == 1):
            raise TypeError(f"nvflare.client.send(): metric '{key}' = {value!r} is not a number")
        out[key] = float(value)
    return out


def send(model: FLModel, clear_cache: bool = True) -> None:
    """Sends the task's result: params (FULL or DIFF), metrics, and the training steps in
    ``meta["NUM_STEPS_CURRENT_ROUND"]``."""
    if not isinstance(model, FLModel):
        raise TypeError(f"nvflare.client.send(): expected an FLModel, got a {type(model).__name__}")
    if model.optimizer_params:
        raise NotImplementedError("nvflare.client.send(): FLModel.optimizer_params is not supported by cohort")
    params = model.params or {}
    if not isinstance(params, dict):
        raise TypeError(f"nvflare.client.send(): params is a {type(params).__name__}, not a dict of tensors")
    steps = (model.meta or {}).get(NUM_STEPS_CURRENT_ROUND)
    params_type = cohort.ParamsType.DIFF if model.params_type in (ParamsType.DIFF, "DIFF") else cohort.ParamsType.FULL
    cohort.send(
        cohort.Model(
            params={name: _as_tensor(name, v) for name, v in params.items()},
            params_type=params_type,
            metrics=_metrics(model.metrics),
            num_steps=int(steps) if steps is not None else None,
        )
    )
    _cache.model = None
    _cache.metrics = None


def log(key: str, value: Any, data_type: Any = None, **kwargs: Any) -> None:
    """A metric in the middle of a task: into the site's log (cohort.log)."""
    if not isinstance(value, (int, float)) and not (isinstance(value, torch.Tensor) and value.numel() == 1):
        raise NotImplementedError(f"nvflare.client.log(): only numbers can be logged by cohort, not {type(value).__name__}")
    cohort.log(key, float(value), step=kwargs.get("global_step"))


def get_task_name() -> str:
    receive()
    return cohort._task_kind()


def is_train() -> bool:
    receive()
    return cohort.is_train()


def is_evaluate() -> bool:
    receive()
    return cohort.is_evaluate()


def is_submit_model() -> bool:
    receive()
    return cohort.is_submit_model()


def _call_with_model(fn, kwargs: dict) -> Any:
    # As FLARE: the function's first parameter gets the task's model.
    first = next(iter(inspect.signature(fn).parameters.values()))
    kwargs[first.name] = receive()
    return fn(**kwargs)


def train(_func=None, **root_kwargs):
    """Decorates a training function: it is called with the task's FLModel as its first
    argument, returns an FLModel, and that is sent (with the metrics an @evaluate function
    returned for the same task, when it has none)."""

    def decorator(fn):
        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            result = _call_with_model(fn, kwargs)
            if not isinstance(result, FLModel):
                raise RuntimeError(f"@flare.train: {fn.__name__} must return an FLModel, not {type(result).__name__}")
            if not result.metrics and _cache.metrics is not None:
                result.metrics = _cache.metrics
            send(result)
            return result

        return wrapper

    return decorator if _func is None else decorator(_func)


def evaluate(_func=None, **root_kwargs):
    """Decorates an evaluation function: it is called with the task's FLModel as its first
    argument and returns metrics (a dict, or a number: the accuracy). In a validate task
    they are the answer; in a train task they go with the trained model."""

    def decorator(fn):
        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            result = _call_with_model(fn, kwargs)
            if result is None:
                raise RuntimeError(f"@flare.evaluate: {fn.__name__} returned nothing")
            _cache.metrics = result
            if cohort.is_evaluate():
                send(FLModel(metrics=result))
            return result

        return wrapper

    return decorator if _func is None else decorator(_func)


def __getattr__(name: str) -> Any:
    if name.startswith("__"):
        raise AttributeError(name)
    raise NotImplementedError(
        f"nvflare.client.{name} is not supported by cohort (its NVIDIA FLARE Client API covers init, system_info, "
        f"get_site_name, get_job_id, is_running, receive, send, log, is_train, is_evaluate, is_submit_model, "
        f"get_task_name, train, evaluate and FLModel)"
    )
