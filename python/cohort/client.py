"""The Client API: an ordinary PyTorch training script as a federated site.

A script that the ``python`` executor starts uses it like this::

    import cohort

    cohort.init()
    while cohort.is_running():
        model = cohort.receive()              # the global model, tensors in shared memory
        net.load_state_dict(model.params)
        ...                                   # train as usual
        cohort.send(cohort.Model(params=net.state_dict(), metrics={"accuracy": acc},
                                 num_steps=steps))

``receive()`` gives tensors that view the memory the network wrote the model into (no
copy, no pickle); ``send()`` writes the result once into that same memory, from which the
client process streams it. With ``torch.distributed``, only rank 0 calls this API and
broadcasts what it receives to the other ranks.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, field
from enum import Enum
from typing import Any, Optional

import torch

from ._channel import DTYPE_NAMES, DTYPES, Channel, Region

# Its public names are listed in __init__.py (_CLIENT_API), which loads this module on first use.

#: Task kinds a workflow sends.
TASK_TRAIN = "train"
TASK_VALIDATE = "validate"
TASK_SUBMIT_MODEL = "submit_model"
#: Before round 1, with ``[model] from_site = true``: send your model's initial parameters
#: (``params=net.state_dict()``); they become the global model.
TASK_GET_PARAMETERS = "get_parameters"


class ParamsType(str, Enum):
    """What a model's ``params`` are: the whole model, or a difference to the received one."""

    FULL = "FULL"
    DIFF = "DIFF"


@dataclass
class Model:
    """A model as a task brings it or as a result carries it.

    Attributes:
        params: tensor name -> tensor. Received: the server's tensors in their dtypes and
            shapes, viewing shared memory. Sent: the same names, dtypes and shapes (every
            one for FULL; the ones that changed for DIFF).
        params_type: FULL, or DIFF (params minus the received params).
        metrics: numbers measured (``accuracy``, ``loss``, ...).
        meta: other facts; a task's ``meta`` comes from the workflow.
        num_steps: training steps behind a result (FedAvg's default weight).
        current_round: the round of the task (0-based).
        total_rounds: the job's number of rounds.
        task: the task kind: TASK_TRAIN, TASK_VALIDATE, TASK_SUBMIT_MODEL, TASK_GET_PARAMETERS
            or a workflow's own.
    """

    params: Optional[dict[str, torch.Tensor]] = None
    params_type: ParamsType = ParamsType.FULL
    metrics: dict[str, float] = field(default_factory=dict)
    meta: dict[str, Any] = field(default_factory=dict)
    num_steps: Optional[int] = None
    current_round: Optional[int] = None
    total_rounds: Optional[int] = None
    task: str = TASK_TRAIN


class _State:
    def __init__(self) -> None:
        self.channel: Optional[Channel] = None
        self.welcome: dict[str, Any] = {}
        self.pending: Optional[tuple[dict[str, Any], list[int]]] = None
        self.stopped = False
        self.task: Optional[dict[str, Any]] = None  # the task in hand, until send()
        self.region: Optional[Region] = None
        self.model: Optional[Model] = None
        self.steps: dict[str, int] = {}  # each tag's last step, for a log() without one


_state = _State()

_FACTS = {
    "site": "the site this script works for",
    "site_index": "the site's 0-based position among the job's sites (its data partition)",
    "num_sites": "how many sites the job's data is partitioned across",
    "job_id": "the job's id",
    "job_name": "the job's name",
    "total_rounds": "the job's number of rounds",
}


def __getattr__(name: str) -> Any:
    # cohort.site, cohort.site_index, ...: facts the client process sent at init().
    if name in _FACTS:
        if _state.channel is None:
            raise RuntimeError(f"cohort.{name}: call cohort.init() first")
        return _state.welcome[name]
    raise AttributeError(f"module 'cohort' has no attribute '{name}'")


def init() -> None:
    """Connects to the client process that started this script. Call it once, first."""
    if _state.channel is not None:
        return
    path = os.environ.get("COHORT_CONTROL_SOCKET")
    token = os.environ.get("COHORT_TOKEN")
    if not path or not token:
        raise RuntimeError(
            "cohort.init(): COHORT_CONTROL_SOCKET is not set: this script must be started by "
            "cohort's python executor ([executor] plugin = \"python\" in a recipe)"
        )
    channel = Channel(path)
    channel.send({"op": "hello", "token": token, "pid": os.getpid()})
    welcome, fds = channel.receive()
    for fd in fds:
        os.close(fd)
    if welcome.get("op") != "welcome":
        raise RuntimeError(f"cohort.init(): the client process answered {welcome.get('op')!r}")
    _state.channel = channel
    _state.welcome = welcome


def _channel(call: str) -> Channel:
    if _state.channel is None:
        raise RuntimeError(f"cohort.{call}(): call cohort.init() first")
    return _state.channel


def is_running() -> bool:
    """True while the job has a task for this script; waits for the next one. False once
    the job ended (or, with ``launch = "per_task"``, once this task's result is sent)."""
    channel = _channel("is_running")
    if _state.task is not None or _state.pending is not None:
        return True
    if _state.stopped:
        return False
    body, fds = channel.receive()
    if body.get("op") == "task":
        _state.pending = (body, fds)
        return True
    for fd in fds:
        os.close(fd)
    _state.stopped = True
    return False


def receive(timeout: Optional[float] = None) -> Optional[Model]:
    """The current task's model: waits for a task, returns None once the job has ended.
    Called again before send(), it returns the same model.

    ``timeout`` is accepted for compatibility and ignored: the client process decides
    how long a task may take (``task_timeout_s``)."""
    _channel("receive")
    if _state.model is not None:
        return _state.model
    if not is_running():
        return None
    body, fds = _state.pending
    _state.pending = None
    region = Region(fds[0]) if fds else None
    for fd in fds:
        os.close(fd)  # the mapping keeps the memory
    params: dict[str, torch.Tensor] = {}
    for t in body.get("tensors", []):
        params[t["name"]] = region.view(t["offset"], DTYPES[t["dtype"]], t["shape"])
    _state.task = body
    _state.region = region
    _state.model = Model(
        params=params,
        params_type=ParamsType.FULL,
        meta=dict(body.get("meta", {})),
        current_round=body.get("round"),
        total_rounds=body.get("total_rounds"),
        task=body.get("task", TASK_TRAIN),
    )
    return _state.model


def _check(name: str, tensor: torch.Tensor, received: dict[str, torch.Tensor]) -> torch.Tensor:
    if not isinstance(tensor, torch.Tensor):
        raise TypeError(f"cohort.send(): params['{name}'] is a {type(tensor).__name__}, not a torch.Tensor")
    if name not in received:
        have = ", ".join(received) or "no tensors"
        raise ValueError(f"cohort.send(): tensor '{name}' is not in the task's model (it has {have})")
    slot = received[name]
    if tensor.dtype != slot.dtype or tuple(tensor.shape) != tuple(slot.shape):
        raise ValueError(
            f"cohort.send(): tensor '{name}' is {DTYPE_NAMES.get(tensor.dtype, tensor.dtype)} {list(tensor.shape)}; "
            f"the task's model has {DTYPE_NAMES[slot.dtype]} {list(slot.shape)}"
        )
    return tensor.detach()


def send(model: Model, clear_cache: bool = True) -> None:
    """Sends the current task's result.

    A FULL result names every tensor of the received model; a DIFF result names those
    that changed (the others count as unchanged) and is added to the received tensors
    here, so the workflow gets a full model (a DIFF result therefore needs the received
    tensors unchanged: load them into your network, as usual, rather than training them
    in place). Each tensor is written once into the shared memory the task came in;
    tensors that already are that memory are not copied at all. Afterwards this API holds
    no reference to the task's memory (``clear_cache`` is accepted for compatibility)."""
    channel = _channel("send")
    if _state.task is None:
        raise RuntimeError("cohort.send(): there is no task to answer (call cohort.receive() first)")
    if _state.task.get("task") == TASK_GET_PARAMETERS:
        _send_parameters(channel, model)
        return
    received = _state.model.params
    params = model.params or {}
    checked = {name: _check(name, t, received) for name, t in params.items()}
    if ParamsType(model.params_type) == ParamsType.DIFF:
        for name, diff in checked.items():
            received[name].add_(diff.to(received[name].device))
        checked = dict(received)
    elif checked and len(checked) != len(received):
        missing = ", ".join(n for n in received if n not in checked)
        raise ValueError(f"cohort.send(): a FULL result needs every tensor of the model; missing: {missing}")
    elif not checked and _state.task.get("task") == TASK_TRAIN and received:
        raise ValueError("cohort.send(): a train task's result needs params (the trained model)")
    offsets = {t["name"]: t["offset"] for t in _state.task.get("tensors", [])}
    region = _state.region
    # Tensors that view the region somewhere else than their own slot are copied first,
    # so that writing one slot never overwrites another's source.
    for name, tensor in checked.items():
        offset = region.contains(tensor) if region is not None else None
        if offset is not None and offset != offsets[name]:
            checked[name] = tensor.clone()
    tensors = []
    for name, tensor in checked.items():
        slot = received[name]
        if tensor.data_ptr() != slot.data_ptr():
            slot.copy_(tensor)
        tensors.append({"name": name, "dtype": DTYPE_NAMES[slot.dtype], "shape": list(slot.shape), "offset": offsets[name]})
    body = {
        "op": "result",
        "params_type": "FULL",
        "num_steps": model.num_steps,
        "metrics": {k: float(v) for k, v in model.metrics.items()},
        "tensors": tensors,
    }
    channel.send(body)
    _state.task = None
    _state.model = None
    _state.region = None


def _send_parameters(channel: Channel, model: Model) -> None:
    """The answer to a get_parameters task: whatever tensors the model has, written once
    into shared memory made for them, whose descriptor goes with the frame."""
    params = model.params or {}
    if not params:
        raise ValueError("cohort.send(): a get_parameters task's result needs params (your model's state_dict())")
    tensors, offset = [], 0
    for name, tensor in params.items():
        if not isinstance(tensor, torch.Tensor):
            raise TypeError(f"cohort.send(): params['{name}'] is a {type(tensor).__name__}, not a torch.Tensor")
        if tensor.dtype not in DTYPE_NAMES:
            raise ValueError(f"cohort.send(): params['{name}'] is {tensor.dtype}, which cohort cannot carry")
        tensors.append({"name": name, "dtype": DTYPE_NAMES[tensor.dtype], "shape": list(tensor.shape), "offset": offset})
        offset += -(-tensor.numel() * tensor.element_size() // _ALIGNMENT) * _ALIGNMENT
    fd = os.memfd_create("cohort-parameters", os.MFD_CLOEXEC)
    try:
        os.ftruncate(fd, max(offset, 1))
        region = Region(fd)
        for entry, tensor in zip(tensors, params.values()):
            region.view(entry["offset"], tensor.dtype, entry["shape"]).copy_(tensor.detach())
        channel.send({"op": "result", "params_type": "FULL", "num_steps": model.num_steps,
                      "metrics": {k: float(v) for k, v in model.metrics.items()}, "tensors": tensors}, [fd])
    finally:
        os.close(fd)
    _state.task = None
    _state.model = None
    _state.region = None


#: Where each tensor starts in a region (the client's kTensorAlignment).
_ALIGNMENT = 64


def log(tag: str, value: float, step: Optional[int] = None) -> None:
    """Records scalar ``value`` of ``tag`` at ``step`` as it happens: it reaches the server
    while the task runs, which writes it to the job's ``tracking/<site>`` (TensorBoard's
    event files) and ``tracking/metrics.jsonl``. Without ``step``, one more than the tag's
    last. Never blocks training: a value that is not finite, a tag longer than 256 bytes
    or a flood that outruns the site's queue is dropped, and the drops are counted and
    reported with the site's metrics."""
    if not isinstance(tag, str):
        raise TypeError(f"cohort.log: the tag must be a str, not {type(tag).__name__}")
    number = float(value)
    if step is None:
        step = _state.steps.get(tag, -1) + 1
    step = int(step)
    _state.steps[tag] = step
    # JSON has no NaN or infinity: null stands for them, and the site counts it as dropped.
    _channel("log").send({"op": "log", "metrics": {tag: number if math.isfinite(number) else None}, "step": step})


def _task_kind() -> str:
    if _state.task is None:
        raise RuntimeError("cohort: no task in hand (call cohort.receive() first)")
    return _state.task.get("task", TASK_TRAIN)


def is_train() -> bool:
    """True when the task in hand is a training task."""
    return _task_kind() == TASK_TRAIN


def is_evaluate() -> bool:
    """True when the task in hand only evaluates the received model."""
    return _task_kind() == TASK_VALIDATE


def is_submit_model() -> bool:
    """True when the task in hand asks for the site's best model."""
    return _task_kind() == TASK_SUBMIT_MODEL


def is_get_parameters() -> bool:
    """True when the task in hand asks for the model's initial parameters ([model] from_site)."""
    return _task_kind() == TASK_GET_PARAMETERS
