"""``flwr.common``: the types a Flower client app names."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Union

import numpy as np

NDArray = np.ndarray
NDArrays = list
Scalar = Union[bool, bytes, float, int, str]
Config = dict
Metrics = dict
Properties = dict
UserConfig = dict


@dataclass
class Parameters:
    """Serialized arrays, as Flower's ``Parameters``: here each array's raw bytes."""

    tensors: list = field(default_factory=list)
    tensor_type: str = "numpy.ndarray"


def ndarrays_to_parameters(ndarrays: list) -> Parameters:
    return Parameters(tensors=[np.ascontiguousarray(a) for a in ndarrays])


def parameters_to_ndarrays(parameters: Parameters) -> list:
    return list(parameters.tensors)


class RecordSet(dict):
    """A node's state between rounds (``context.state``): a plain dict here, kept for the
    whole job by the site's script."""


@dataclass
class Context:
    """What a client app is told about its node and run. ``node_config`` has the site's
    data partition (``partition-id``, ``num-partitions``); ``run_config`` the recipe's
    ``[executor.args] config``; ``state`` persists across the job's rounds."""

    run_id: int = 0
    node_id: int = 0
    node_config: dict = field(default_factory=dict)
    state: RecordSet = field(default_factory=RecordSet)
    run_config: dict = field(default_factory=dict)


def __getattr__(name: str) -> Any:
    if name.startswith("__"):
        raise AttributeError(name)
    raise NotImplementedError(f"flwr.common.{name} is not supported by cohort (see README, 'Coming from Flower')")
