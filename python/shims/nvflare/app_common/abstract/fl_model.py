"""``FLModel`` and ``ParamsType`` as NVIDIA FLARE's scripts use them."""

from enum import Enum
from typing import Any, Optional


class ParamsType(str, Enum):
    """Whether ``params`` are the whole model or a difference to the received one."""

    FULL = "FULL"
    DIFF = "DIFF"


class FLModel:
    """A model as a task brings it (``params``, ``current_round``, ``total_rounds``, ``meta``)
    or as a result carries it (``params``, ``params_type``, ``metrics``, ``meta`` with
    ``NUM_STEPS_CURRENT_ROUND``, the training steps behind it)."""

    def __init__(
        self,
        params_type: Optional[ParamsType] = None,
        params: Any = None,
        optimizer_params: Any = None,
        metrics: Optional[dict] = None,
        start_round: Optional[int] = 0,
        current_round: Optional[int] = None,
        total_rounds: Optional[int] = None,
        meta: Optional[dict] = None,
    ):
        self.params_type = params_type
        self.params = params
        self.optimizer_params = optimizer_params
        self.metrics = metrics
        self.start_round = start_round
        self.current_round = current_round
        self.total_rounds = total_rounds
        self.meta = {} if meta is None else meta

    def __repr__(self) -> str:
        params = f"{len(self.params)} params" if isinstance(self.params, dict) else repr(self.params)
        return (f"FLModel(params_type={self.params_type}, params={params}, metrics={self.metrics}, "
                f"current_round={self.current_round}, total_rounds={self.total_rounds}, meta={self.meta})")
