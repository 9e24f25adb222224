"""``flwr.common.typing``."""

from . import Config, Metrics, NDArray, NDArrays, Parameters, Properties, Scalar, UserConfig  # noqa: F401
