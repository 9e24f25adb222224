"""``nvflare.client.tracking.SummaryWriter`` on cohort: each scalar goes to cohort's metric
log (the site's log, with its step), as ``cohort.log`` does."""

from __future__ import annotations

from typing import Any, Optional

import cohort


class SummaryWriter:
    """The TensorBoard-style writer FLARE's scripts use for metrics during training."""

    def add_scalar(self, tag: str, scalar: float, global_step: Optional[int] = None, **kwargs: Any) -> None:
        cohort.log(tag, float(scalar), step=global_step)

    def add_scalars(self, tag: str, scalars: dict, global_step: Optional[int] = None, **kwargs: Any) -> None:
        for name, value in scalars.items():
            cohort.log(f"{tag}/{name}", float(value), step=global_step)

    def flush(self) -> None:
        pass

    def close(self) -> None:
        pass

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__"):
            raise AttributeError(name)
        raise NotImplementedError(
            f"nvflare.client.tracking.SummaryWriter.{name} is not supported by cohort (add_scalar and add_scalars are)"
        )


def __getattr__(name: str) -> Any:
    if name.startswith("__"):
        raise AttributeError(name)
    raise NotImplementedError(f"nvflare.client.tracking.{name} is not supported by cohort (SummaryWriter is)")
