"""Runs a Flower client app as a cohort site: ``python3 -m cohort.flower APP.py ATTRIBUTE``.

The ``python`` executor starts this with ``api = "flower"``: it imports the app file (as
Flower's ``flwr run`` would, its folder first on ``sys.path``), takes ``ATTRIBUTE``
(a ``ClientApp(client_fn=...)``, or a legacy ``client_fn(cid)``) and answers each task of
the job with the client that ``client_fn`` makes for it:

- train: ``evaluate`` of the received model first (when the client has one), as Flower's
  server evaluates each round's global model, then ``fit(parameters, config)`` ->
  ``(parameters, num_examples, metrics)``: ``num_examples`` is the result's weight
  (FedAvg's), the parameters the new model;
- validate: ``evaluate(parameters, config)`` -> ``(loss, num_examples, metrics)``;
  evaluation figures go out as ``test_loss``, ``test_examples`` (their weight in the global
  mean) and the client's own metrics (``accuracy``);
- get_parameters (``[model] from_site``): ``get_parameters(config)``, the initial model,
  its arrays named ``param.000``, ``param.001``, ... (Flower's arrays have no names).

``parameters`` are numpy arrays in the model's tensor order that view the shared memory
the task came in (no copy); returned arrays are written once into it. ``config`` has
``server_round`` (1-based), ``current_round`` (0-based), ``total_rounds``, the task's
meta and the recipe's ``[executor.args] config``. ``context.node_config`` has
``partition-id`` and ``num-partitions``, ``context.run_config`` the recipe's config,
``context.state`` stays for the whole job. The ``flwr`` it imports is cohort's shim
(python/shims/flwr): what it does not cover fails the task naming the call.
"""

from __future__ import annotations

import importlib.util
import inspect
import json
import os
import sys
from typing import Any

import numpy as np
import torch

import cohort


def _load(file: str, attribute: str) -> Any:
    path = os.path.abspath(file)
    sys.path.insert(0, os.path.dirname(path))
    spec = importlib.util.spec_from_file_location(os.path.splitext(os.path.basename(path))[0], path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    if not hasattr(module, attribute):
        raise AttributeError(f"{os.path.basename(path)} has no '{attribute}' (the recipe's client_app)")
    return getattr(module, attribute)


def _numpy_client(client: Any) -> Any:
    from flwr.client import NumPyClient

    if not isinstance(client, NumPyClient):
        raise NotImplementedError(
            f"client_fn returned a {type(client).__name__}: cohort runs Flower's NumPyClient (fit, evaluate, "
            "get_parameters on lists of numpy arrays)")
    return client


def _scalars(metrics: Any, what: str) -> dict:
    if metrics is None:
        return {}
    if not isinstance(metrics, dict):
        raise TypeError(f"{what}: metrics must be a dict, not a {type(metrics).__name__}")
    out = {}
    for key, value in metrics.items():
        if isinstance(value, bool) or not isinstance(value, (int, float, np.number)):
            continue  # Flower allows str and bytes; cohort's metrics are numbers
        out[key] = float(value)
    return out


def _tensor(array: Any) -> torch.Tensor:
    """A torch view of a returned array (copied only when it is not contiguous; 0-d stays 0-d)."""
    array = np.asarray(array)
    return torch.from_numpy(array if array.flags.c_contiguous else np.ascontiguousarray(array))


def _can_evaluate(client: Any) -> bool:
    from flwr.client import NumPyClient

    return type(client).evaluate is not NumPyClient.evaluate


def _evaluation(client: Any, arrays: list, config: dict) -> dict:
    """``evaluate``'s answer in cohort's metric names: its metrics, ``test_loss`` and
    ``test_examples`` (the weight of its figures in the global mean)."""
    result = client.evaluate(arrays, config)
    if not isinstance(result, tuple) or len(result) != 3:
        raise TypeError("NumPyClient.evaluate must return (loss, num_examples, metrics)")
    loss, num_examples, metrics = result
    out = _scalars(metrics, "NumPyClient.evaluate")
    out["test_loss"] = float(loss)
    out["test_examples"] = float(num_examples)
    return out


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print("usage: python3 -m cohort.flower APP.py ATTRIBUTE", file=sys.stderr)
        return 2
    file, attribute = argv
    from flwr.client import ClientApp
    from flwr.common import Context

    cohort.init()
    app = _load(file, attribute)
    run_config = json.loads(os.environ.get("COHORT_RUN_CONFIG", "{}"))
    context = Context(
        run_id=0,
        node_id=cohort.site_index,
        node_config={"partition-id": cohort.site_index, "num-partitions": cohort.num_sites},
        run_config=run_config,
    )
    if isinstance(app, ClientApp):
        make = lambda: app.client_fn(context)  # noqa: E731
    elif callable(app) and list(inspect.signature(app).parameters) == ["cid"]:
        make = lambda: app(str(cohort.site_index))  # noqa: E731 - Flower's legacy client_fn(cid)
    elif callable(app):
        make = lambda: app(context)  # noqa: E731
    else:
        raise TypeError(f"'{attribute}' is a {type(app).__name__}, not a ClientApp or a client_fn")

    while cohort.is_running():
        task = cohort.receive()
        client = _numpy_client(make())
        client.context = context
        config = dict(run_config)
        config.update(task.meta)
        config.update({"server_round": task.current_round + 1, "current_round": task.current_round,
                       "total_rounds": task.total_rounds})
        names = list(task.params or {})
        arrays = [t.numpy() for t in (task.params or {}).values()]  # views of the task's memory
        if cohort.is_get_parameters():
            params = client.get_parameters(config=config)
            cohort.send(cohort.Model(params={f"param.{i:03d}": _tensor(a)
                                             for i, a in enumerate(params)}))
        elif cohort.is_train():
            # As Flower's server evaluates each round's global model: the received model
            # first (when the client can evaluate), then training on it.
            metrics = _evaluation(client, arrays, config) if _can_evaluate(client) else {}
            result = client.fit(arrays, config)
            if not isinstance(result, tuple) or len(result) != 3:
                raise TypeError("NumPyClient.fit must return (parameters, num_examples, metrics)")
            params, num_examples, fit_metrics = result
            if len(params) != len(names):
                raise ValueError(f"NumPyClient.fit returned {len(params)} arrays; the model has {len(names)} "
                                 f"({', '.join(names)})")
            for key, value in _scalars(fit_metrics, "NumPyClient.fit").items():
                metrics[key if key not in metrics else f"fit_{key}"] = value
            metrics["examples"] = float(num_examples)
            cohort.send(cohort.Model(
                params={name: _tensor(a) for name, a in zip(names, params)},
                num_steps=int(num_examples), metrics=metrics))
        else:
            cohort.send(cohort.Model(metrics=_evaluation(client, arrays, config)))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
