"""Drive a cohort server from Python: the admin channel as objects.

    import cohort

    with cohort.Session(kit="/tmp/cohort/poc/admin@poc.local") as s:
        job = s.submit("recipes/fedavg_fashion_mnist.toml", set={"job.num_rounds": 5})
        job.wait(on_round=lambda r: print(r.round, r.metrics.get("accuracy")))
        job.download("result")

The Session speaks the same admin protocol as ``cohort job`` (mutual TLS with the admin
kit's certificate, one request per connection, a length-prefixed JSON message), with the
standard library only (``ssl``, ``socket``, ``json``, ``tomllib``). Roles are the
certificate's, as for the CLI. Objects carry the field names of ``cohort job ...
--format json`` (README, "From Python"). Submitting checks the recipe with this machine's
plugins first, as ``cohort job submit`` does, by running ``cohort recipe check --format
json`` (``COHORT`` names the executable; else ``cohort`` on PATH).
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import ssl
import struct
import subprocess
import time
import tomllib
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, Callable, Iterator, Optional

__all__ = [
    "Session",
    "Job",
    "JobRecord",
    "Round",
    "ServerStatus",
    "CohortError",
    "NoConnection",
    "AuthenticationError",
    "AuthorizationError",
    "JobNotFound",
    "Timeout",
    "ServerRefused",
]

#: The largest admin message either side accepts (admin_protocol.hpp).
MAX_MESSAGE = 16 << 20
#: Job files: at most this many and bytes (jobs/job_directory.hpp).
MAX_APP_FILES = 4096
MAX_APP_BYTES = 64 << 20
FINISHED = {"COMPLETED", "ABORTED", "EXECUTION_EXCEPTION", "ABNORMAL", "CAN_NOT_SCHEDULE"}


class CohortError(Exception):
    """Something the server or the connection to it said no to."""


class NoConnection(CohortError):
    """Nothing answers on the server's admin port (down, restarting, wrong address)."""


class AuthenticationError(CohortError):
    """The TLS handshake failed: a certificate of another project, an expired one, a tampered kit."""


class AuthorizationError(CohortError):
    """The server knows who you are, and your role may not do this."""


class JobNotFound(CohortError):
    """The server has no job of that id."""


class Timeout(CohortError):
    """Waiting took longer than the timeout."""


class ServerRefused(CohortError):
    """The server refused the request; the message says why (a bad recipe, with its location)."""


@dataclass
class JobRecord:
    """A job as the server records it (the JSON of ``cohort job show --format json``)."""

    id: str = ""
    name: str = ""
    status: str = ""
    submitter: str = ""
    submitter_org: str = ""
    submitter_role: str = ""
    submitted_at: int = 0
    started_at: int = 0
    ended_at: int = 0
    message: str = ""
    num_rounds: int = 0
    rounds_completed: int = 0
    resumes: int = 0
    last_error: str = ""
    #: The privacy spent after the last round (ε; None without ``[privacy]`` or without noise).
    epsilon: Optional[float] = None

    @classmethod
    def from_json(cls, data: dict) -> "JobRecord":
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in known})

    @property
    def finished(self) -> bool:
        return self.status in FINISHED


@dataclass
class ServerStatus:
    """``cohort job status --format json``: the server's name, its sites, the jobs running."""

    server: str
    sites: list[str]
    running: list[str]


@dataclass
class Round:
    """What ``Job.wait`` tells its callback after each completed round: the job's record
    then, and the global model's latest evaluation (``metrics``; FedAvg's sites evaluate a
    round's global model in the next round, so it may be the previous round's)."""

    round: int
    rounds_completed: int
    num_rounds: int
    record: JobRecord
    metrics: dict[str, float] = field(default_factory=dict)


def _kit_folder(kit: Optional[str]) -> Path:
    named = kit or os.environ.get("COHORT_ADMIN_KIT")
    if not named:
        raise CohortError("cohort.Session: give kit= (an admin startup kit) or set COHORT_ADMIN_KIT")
    path = Path(named)
    startup = path if (path / "kit.toml").exists() else path / "startup"
    if not (startup / "kit.toml").exists():
        raise CohortError(f"cohort.Session: {named} is not a startup kit (no kit.toml in it or in its startup/)")
    return startup


class Session:
    """An admin's session with a server, from an admin startup kit (its folder or its
    ``startup/``; default ``$COHORT_ADMIN_KIT``). Each request is a connection of its own;
    one that finds nothing listening (a server still starting or restarting) is tried again
    for ``patience`` seconds before NoConnection."""

    def __init__(self, kit: Optional[str] = None, patience: float = 10.0, cohort: Optional[str] = None) -> None:
        self.startup = _kit_folder(kit)
        with open(self.startup / "kit.toml", "rb") as f:
            config = tomllib.load(f)
        if config.get("kit", {}).get("role") != "admin":
            raise CohortError(f"cohort.Session: {self.startup} is a {config.get('kit', {}).get('role')} kit, "
                              "not an admin kit")
        server = config["server"]
        self.host = server["host"]
        self.port = int(server["admin_port"])
        self.server_name = server["name"]
        self.patience = patience
        self.cohort = _executable(cohort)
        self._tls = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        self._tls.minimum_version = ssl.TLSVersion.TLSv1_3
        self._tls.check_hostname = False  # the server's name is checked below, as the CLI does
        self._tls.load_verify_locations(self.startup / "rootCA.pem")
        self._tls.load_cert_chain(self.startup / "cert.pem", self.startup / "key.pem")
        # Once the server has accepted this kit, a connection it drops is a server going
        # away (a restart), not a refusal: the certificate does not change.
        self._accepted = False

    def __enter__(self) -> "Session":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def close(self) -> None:
        """Nothing stays open between requests; here for ``with``."""

    # The admin protocol.

    def request(self, body: dict, payloads: Optional[list[bytes]] = None, download_to: Optional[Path] = None) -> dict:
        """Sends one request (and the bytes that follow it) and returns the reply; raises the
        typed errors above."""
        start = time.monotonic()
        while True:
            try:
                return self._exchange(body, payloads or [], download_to)
            except NoConnection:
                if time.monotonic() - start >= self.patience:
                    raise
                time.sleep(0.2)

    def _connect(self) -> ssl.SSLSocket:
        where = f"{self.host}:{self.port}"
        try:
            raw = socket.create_connection((self.host, self.port), timeout=60)
        except OSError as e:
            raise NoConnection(f"cannot reach the server's admin port at {where}: {e.strerror or e}") from None
        try:
            stream = self._tls.wrap_socket(raw)
        except (ssl.SSLError, ConnectionError, OSError) as e:
            raw.close()
            raise self._dropped(f"TLS handshake with {where} failed: {e}") from None
        subject = dict(item[0] for item in stream.getpeercert().get("subject", ()))
        if subject.get("commonName") != self.server_name:
            stream.close()
            raise AuthenticationError(f"the server at {where} presented a certificate for "
                                      f"'{subject.get('commonName')}', not '{self.server_name}'")
        return stream

    def _exchange(self, body: dict, payloads: list[bytes], download_to: Optional[Path]) -> dict:
        stream = self._connect()
        where = f"{self.host}:{self.port}"
        try:
            text = json.dumps(body).encode()
            stream.sendall(struct.pack("<I", len(text)) + text)
            for p in payloads:
                stream.sendall(p)
            header = _read(stream, 4, where)
            (n,) = struct.unpack("<I", header)
            if n > MAX_MESSAGE:
                raise CohortError(f"the server at {where} announced a reply of {n} bytes")
            reply = json.loads(_read(stream, n, where))
            self._accepted = True
            if reply.get("ok") and "files" in reply and download_to is not None:
                _receive_files(stream, reply["files"], download_to, where)
            return _checked(reply)
        except (ConnectionError, ssl.SSLError, OSError) as e:
            # Closed before a reply: a certificate the server refused after the handshake
            # (TLS 1.3 tells the client late), or a server going down.
            raise self._dropped(f"the server at {where} closed the connection ({e})") from None
        finally:
            stream.close()

    def _dropped(self, what: str) -> CohortError:
        if self._accepted:
            return NoConnection(what + ": the server is going away or restarting")
        return AuthenticationError(what + ": was this kit's certificate refused? see the server's log")

    # What an admin does.

    def status(self) -> ServerStatus:
        reply = self.request({"command": "status"})
        return ServerStatus(reply["server"], reply["sites"], reply["running"])

    def jobs(self) -> list["Job"]:
        return [Job(self, JobRecord.from_json(j)) for j in self.request({"command": "list"})["jobs"]]

    def job(self, job_id: str) -> "Job":
        return Job(self, JobRecord.from_json(self.request({"command": "show", "job_id": job_id})["job"]))

    def submit(self, recipe: str, set: Optional[dict[str, Any]] = None, plugin_path: Optional[list[str]] = None) -> "Job":
        """Submits a recipe with the files that travel with it (its script's folder ...),
        after `set` (dotted key -> value, as ``--set``) is applied and the recipe checked with
        this machine's plugins (ServerRefused, with the error's location, when it is bad)."""
        checked = self._check(recipe, set or {}, plugin_path or [])
        recipe_path = Path(checked["file"]).resolve()
        files = [Path(f).resolve() for f in checked["files"] if Path(f).resolve() != recipe_path]
        root = recipe_path.parent
        for f in files:
            while root not in f.parents:
                root = root.parent
        payloads, listed, total = [], [], 0
        for f in files:
            data = f.read_bytes()
            total += len(data)
            if total > MAX_APP_BYTES or len(listed) == MAX_APP_FILES:
                raise CohortError(f"{recipe}: the files that travel with the job (under {root}) come to more than "
                                  f"{MAX_APP_FILES} files or {MAX_APP_BYTES >> 20} MiB; keep data out of the script's folder")
            listed.append({"path": f.relative_to(root).as_posix(), "size": len(data)})
            payloads.append(data)
        body = {"command": "submit", "recipe": checked["text"], "file": recipe_path.relative_to(root).as_posix()
                if files else str(recipe)}
        if listed:
            body["files"] = listed
        reply = self.request(body, payloads)
        return self.job(reply["job_id"])

    def _check(self, recipe: str, overrides: dict[str, Any], plugin_path: list[str]) -> dict:
        argv = [self.cohort, "recipe", "check", str(recipe), "--format", "json", *_sets(overrides)]
        for p in plugin_path:
            argv += ["--plugin-path", p]
        run = subprocess.run(argv, capture_output=True, text=True)
        if run.returncode != 0:
            raise ServerRefused((run.stderr or run.stdout).strip() or f"{recipe}: cannot be checked")
        return json.loads(run.stdout.strip().splitlines()[-1])


class Job:
    """A job on the server. ``record`` is what the server said last (``refresh()``)."""

    def __init__(self, session: Session, record: JobRecord) -> None:
        self.session = session
        self.record = record
        self.id = record.id
        self._log_cursor: Optional[int] = None

    def __repr__(self) -> str:
        return f"Job({self.id!r}, {self.record.name!r}, {self.record.status}, round {self.record.rounds_completed} of {self.record.num_rounds})"

    def refresh(self) -> JobRecord:
        self.record = JobRecord.from_json(self.session.request({"command": "show", "job_id": self.id})["job"])
        return self.record

    def status(self) -> str:
        return self.refresh().status

    def abort(self) -> None:
        self.session.request({"command": "abort", "job_id": self.id})

    def metrics(self) -> Any:
        """metrics.csv's rows as dicts ({"round", "site", and each metric}); a pandas
        DataFrame when pandas is importable."""
        rows = [{"round": r["round"], "site": r["site"], **r["metrics"]}
                for r in self.session.request({"command": "metrics", "job_id": self.id})["rows"]]
        try:
            import pandas
        except ImportError:
            return rows
        return pandas.DataFrame(rows)

    def _global_metrics(self) -> dict[str, float]:
        rows = self.session.request({"command": "metrics", "job_id": self.id})["rows"]
        latest = [r for r in rows if r["site"] == "global"]
        return dict(latest[-1]["metrics"]) if latest else {}

    def wait(self, timeout: Optional[float] = None, on_round: Optional[Callable[[Round], Any]] = None,
             poll_interval: float = 1.0) -> JobRecord:
        """Waits until the job has finished and returns its record. `on_round` hears of each
        completed round; when it returns False, waiting stops (the job goes on). Raises
        Timeout after `timeout` seconds. A server that restarts meanwhile is waited for: its
        jobs resume."""
        start = time.monotonic()
        reported = 0  # rounds told to on_round
        while True:
            try:
                record = self.refresh()
            except NoConnection:
                record = None  # a server restarting: its jobs resume; keep waiting
            if record is not None:
                if on_round is not None and reported < record.rounds_completed:
                    metrics = self._global_metrics()  # once for the rounds this poll found
                while on_round is not None and reported < record.rounds_completed:
                    report = Round(reported, record.rounds_completed, record.num_rounds, record, dict(metrics))
                    reported += 1
                    if on_round(report) is False:
                        return record
                if record.finished:
                    return record
            if timeout is not None and time.monotonic() - start > timeout:
                raise Timeout(f"job {self.id} is still {self.record.status} after {timeout} s")
            time.sleep(poll_interval)

    def logs(self, follow: bool = False, poll_interval: float = 1.0) -> Iterator[str]:
        """The server log of the job, in pieces: its last 64 KiB, then, with `follow`, what
        is written after, until the job has finished. Goes on from where it stopped after a
        reconnect (a cursor into the log)."""
        while True:
            body = {"command": "logs", "job_id": self.id}
            if self._log_cursor is not None:
                body["cursor"] = self._log_cursor
            try:
                reply = self.session.request(body)
            except NoConnection:
                if not follow:
                    raise
                time.sleep(poll_interval)
                continue
            self._log_cursor = reply["cursor"]
            if reply["text"]:
                yield reply["text"]
                continue  # more may be there already
            if not follow or self.status() in FINISHED:
                return
            time.sleep(poll_interval)

    def download(self, folder: str) -> Path:
        """Every file of the job's folder into `folder`; returns it."""
        target = Path(folder)
        target.mkdir(parents=True, exist_ok=True)
        self.session.request({"command": "download", "job_id": self.id}, download_to=target)
        return target.resolve()


def _read(stream: ssl.SSLSocket, n: int, where: str) -> bytes:
    data = bytearray()
    while len(data) < n:
        chunk = stream.recv(min(n - len(data), 1 << 20))
        if not chunk:
            raise ConnectionError(f"the server at {where} closed the connection")
        data += chunk
    return bytes(data)


def _receive_files(stream: ssl.SSLSocket, files: list[dict], folder: Path, where: str) -> None:
    root = folder.resolve()
    for f in files:
        relative = Path(f["path"])
        target = (root / relative).resolve()
        if relative.is_absolute() or root not in target.parents:
            raise CohortError(f"the server sent a file outside the job folder: {relative}")
        target.parent.mkdir(parents=True, exist_ok=True)
        partial = target.with_name(target.name + ".partial")
        with open(partial, "wb") as out:
            left = int(f["size"])
            while left > 0:
                chunk = _read(stream, min(left, 1 << 20), where)
                out.write(chunk)
                left -= len(chunk)
        partial.replace(target)


def _checked(reply: dict) -> dict:
    if reply.get("ok"):
        return reply
    message = reply.get("error", "the server refused the request")
    kind = reply.get("kind", "refused")
    raise {"not_authorized": AuthorizationError, "not_found": JobNotFound}.get(kind, ServerRefused)(message)


def _executable(cohort: Optional[str]) -> str:
    """The `cohort` executable: as given, else $COHORT, else the one on PATH."""
    return cohort or os.environ.get("COHORT") or shutil.which("cohort") or "cohort"


def _sets(overrides: Optional[dict[str, Any]]) -> list[str]:
    """Dotted key -> value as ``--set KEY=VALUE`` arguments."""
    out = []
    for key, value in (overrides or {}).items():
        out += ["--set", f"{key}={_toml_value(value)}"]
    return out


def _toml_value(value: Any) -> str:
    """A Python value as the TOML a ``--set`` takes."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value)
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k} = {_toml_value(v)}" for k, v in value.items()) + "}"
    raise TypeError(f"cannot write {value!r} as a recipe value")
