"""``cohort simulate`` and ``cohort compare`` from Python: each runs the command and returns
what it made as objects (the job folder, its rounds and the global model's metrics; the
comparison's tables).

    result = cohort.simulate("recipes/fedavg_fashion_mnist.toml", set={"job.num_rounds": 5})
    result.status, result.final_metrics["accuracy"], result.folder / "global_model.pt"

The executable is ``cohort=``, else ``$COHORT``, else ``cohort`` on PATH.
"""

from __future__ import annotations

import csv
import json
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional, Union

from .session import CohortError, ServerRefused, _executable, _sets

__all__ = ["simulate", "compare", "Method", "SimulationResult", "CompareResult"]


@dataclass
class SimulationResult:
    """``cohort simulate --format json``'s summary (README, "From Python")."""

    job_id: str
    status: str
    message: str
    folder: Path
    seconds: float
    rounds: list[dict] = field(default_factory=list)
    global_metrics: list[dict] = field(default_factory=list)
    peak_rss_mb: dict[str, float] = field(default_factory=dict)

    @property
    def completed(self) -> bool:
        return self.status == "COMPLETED"

    @property
    def final_metrics(self) -> dict[str, float]:
        """The global model's last evaluation (empty when it had none)."""
        return dict(self.global_metrics[-1]["metrics"]) if self.global_metrics else {}

    @property
    def global_model(self) -> Path:
        return self.folder / "global_model.pt"


def simulate(recipe: str, set: Optional[dict[str, Any]] = None, clients: Optional[int] = None,
             workers: Optional[Union[int, str]] = None, workspace: Optional[str] = None,
             insecure: bool = False, cohort: Optional[str] = None) -> SimulationResult:
    """Runs ``cohort simulate RECIPE`` and returns its summary. A recipe or flag that is
    wrong raises ServerRefused with the command's message; a job that ran but did not
    complete comes back with its status (and message)."""
    argv = [_executable(cohort), "simulate", str(recipe), "--format", "json", *_sets(set)]
    if clients is not None:
        argv += ["--clients", str(clients)]
    if workers is not None:
        argv += ["--workers", str(workers)]
    if workspace is not None:
        argv += ["--workspace", str(workspace)]
    if insecure:
        argv.append("--insecure")
    run = subprocess.run(argv, capture_output=True, text=True)
    lines = run.stdout.strip().splitlines()
    if not lines:
        raise ServerRefused((run.stderr.strip() or f"cohort simulate exited {run.returncode}")[-4000:])
    data = json.loads(lines[-1])
    return SimulationResult(data["job_id"], data["status"], data["message"], Path(data["folder"]), data["seconds"],
                            data["rounds"], data["global_metrics"], data["peak_rss_mb"])


@dataclass
class Method:
    """One method of a comparison: a recipe, the overrides that make it, and its name."""

    recipe: str
    set: dict[str, Any] = field(default_factory=dict)
    name: Optional[str] = None


@dataclass
class CompareResult:
    """A comparison's folder and its tables: ``runs`` (compare.csv, a row per run) and
    ``summary`` (summary.csv, a row per method), rows as dicts of the CSV's columns."""

    folder: Path
    runs: list[dict] = field(default_factory=list)
    summary: list[dict] = field(default_factory=list)


def _rows(file: Path) -> list[dict]:
    if not file.exists():
        return []
    with open(file, newline="") as f:
        return list(csv.DictReader(f))


def compare(*methods: Union[str, Method], set: Optional[dict[str, Any]] = None, repeats: int = 1,
            target: Optional[float] = None, metric: Optional[str] = None, workers: Optional[Union[int, str]] = None,
            output: str = "compare", cohort: Optional[str] = None) -> CompareResult:
    """Runs ``cohort compare`` over `methods` (recipe paths, or Method objects with their own
    overrides and names; `set` applies to all) and returns its tables."""
    if not methods:
        raise CohortError("cohort.compare(): give at least one method")
    argv = [_executable(cohort), "compare", *_sets(set)]
    for m in methods:
        m = m if isinstance(m, Method) else Method(str(m))
        argv += [str(m.recipe), *_sets(m.set)]
        if m.name:
            argv += ["--name", m.name]
    argv += ["--repeats", str(repeats), "--output", str(output)]
    if target is not None:
        argv += ["--target", repr(float(target))]
    if metric is not None:
        argv += ["--metric", metric]
    if workers is not None:
        argv += ["--workers", str(workers)]
    before = set_of_folders(Path(output))
    run = subprocess.run(argv, capture_output=True, text=True)
    made = sorted(set_of_folders(Path(output)) - before)
    if not made:
        raise ServerRefused((run.stderr.strip() or run.stdout.strip() or f"cohort compare exited {run.returncode}")[-4000:])
    folder = made[-1]
    return CompareResult(folder.resolve(), _rows(folder / "compare.csv"), _rows(folder / "summary.csv"))


def set_of_folders(output: Path) -> set:
    return {p for p in output.iterdir() if p.is_dir()} if output.is_dir() else set()
