"""``flwr.client``: NumPyClient and ClientApp, driven by ``cohort.flower``."""

from __future__ import annotations

from typing import Any, Callable, Optional

from ..common import Context


class Client:
    """Flower's low-level client (FitIns/FitRes messages): not supported by cohort; write a
    NumPyClient."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        raise NotImplementedError("flwr.client.Client is not supported by cohort: subclass NumPyClient")


class NumPyClient:
    """A client that works on lists of numpy arrays, in the model's tensor order."""

    context: Optional[Context] = None

    def get_properties(self, config: dict) -> dict:
        return {}

    def get_parameters(self, config: dict) -> list:
        raise NotImplementedError(f"{type(self).__name__}.get_parameters: not implemented by this client")

    def fit(self, parameters: list, config: dict) -> tuple:
        raise NotImplementedError(f"{type(self).__name__}.fit: not implemented by this client")

    def evaluate(self, parameters: list, config: dict) -> tuple:
        raise NotImplementedError(f"{type(self).__name__}.evaluate: not implemented by this client")

    def to_client(self) -> "NumPyClient":
        """Flower wraps a NumPyClient into a Client here; cohort drives the NumPyClient itself."""
        return self


class ClientApp:
    """``ClientApp(client_fn=...)``: what a Flower app file exports; cohort calls
    ``client_fn(context)`` for each task."""

    def __init__(self, client_fn: Optional[Callable] = None, mods: Optional[list] = None) -> None:
        if client_fn is None:
            raise NotImplementedError("flwr.client.ClientApp without client_fn (the Message API) is not supported "
                                      "by cohort: give client_fn")
        if mods:
            raise NotImplementedError("flwr.client.ClientApp(mods=...) is not supported by cohort")
        self.client_fn = client_fn

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__"):
            raise AttributeError(name)
        raise NotImplementedError(f"flwr.client.ClientApp.{name} is not supported by cohort (client_fn is)")


def start_client(*args: Any, **kwargs: Any) -> None:
    raise NotImplementedError("flwr.client.start_client is not supported by cohort: the site runs the app itself "
                              "(recipe: api = \"flower\", client_app = ...)")


def start_numpy_client(*args: Any, **kwargs: Any) -> None:
    raise NotImplementedError("flwr.client.start_numpy_client is not supported by cohort: the site runs the app "
                              "itself (recipe: api = \"flower\", client_app = ...)")


def __getattr__(name: str) -> Any:
    if name.startswith("__"):
        raise AttributeError(name)
    raise NotImplementedError(f"flwr.client.{name} is not supported by cohort (NumPyClient and ClientApp are)")
