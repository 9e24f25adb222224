"""cohort.Session against a real project on this machine: a server and two clients from
their startup kits (each under its watchdog), admins of three roles, and a second project
whose admin the server must not accept. CTest runs this with COHORT (the built `cohort`)
and PYTHONPATH (python/) set; Debian's python3 with torch."""

import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
import unittest
from dataclasses import asdict
from pathlib import Path

import cohort

COHORT = os.environ["COHORT"]


def run(*args, check=True):
    done = subprocess.run([COHORT, *args], capture_output=True, text=True)
    if check and done.returncode != 0:
        raise AssertionError(f"cohort {' '.join(args)} exited {done.returncode}:\n{done.stdout}\n{done.stderr}")
    return done


_ports_given = set()


def free_port():
    """A port free now and not given before in this process: the kernel may hand the same
    ephemeral port to two binds in a row once the first is closed."""
    import socket
    while True:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        if port not in _ports_given:
            _ports_given.add(port)
            return port


def project(name, fl_port, admin_port, server_metrics="", site_metrics=""):
    """A project of two sites and three admins; with *_metrics ("HOST:PORT"), the server and
    site-1 serve /metrics there."""
    server_line = f'metrics_address = "{server_metrics}"' if server_metrics else ""
    site_line = f'metrics_address = "{site_metrics}"' if site_metrics else ""
    return f"""[project]
name = "{name}"
[server]
name = "server"
host = "localhost"
fl_port = {fl_port}
admin_port = {admin_port}
reconnect_grace_s = 10
{server_line}
[[clients]]
name = "site-1"
org = "org-a"
{site_line}
[[clients]]
name = "site-2"
org = "org-b"
[[admins]]
name = "boss@org-a"
org = "org-a"
role = "project_admin"
[[admins]]
name = "lead@org-a"
org = "org-a"
role = "lead"
[[admins]]
name = "lead@org-b"
org = "org-b"
role = "lead"
"""


def recipe(folder, name, rounds, compute_ms=50):
    path = Path(folder) / f"{name}.toml"
    path.write_text(f"""[job]
name = "{name}"
num_rounds = {rounds}
min_clients = 2
[controller]
plugin = "fedavg"
[controller.args]
task_timeout_s = 60
[executor]
plugin = "synthetic"
[executor.args]
compute_ms = {compute_ms}
[model]
arch = "synthetic"
size_mb = 1
tensors = 2
""")
    return str(path)


class RunningProject(unittest.TestCase):
    """A project running on this machine for the tests of a class: its server and two
    clients started from their kits, and the project admin's Session (`boss`)."""

    @classmethod
    def setUpClass(cls):
        cls.dir = tempfile.mkdtemp(prefix="cohort-session-")
        root = Path(cls.dir)
        cls.server_metrics = f"127.0.0.1:{free_port()}"
        cls.site_metrics = f"127.0.0.1:{free_port()}"
        (root / "project.toml").write_text(project("session", free_port(), free_port(), cls.server_metrics,
                                                   cls.site_metrics))
        run("provision", str(root / "project.toml"), "-o", str(root / "kits"))
        (root / "foreign.toml").write_text(project("foreign", free_port(), free_port()))
        run("provision", str(root / "foreign.toml"), "-o", str(root / "foreign"))
        cls.kits = root / "kits"
        for who in ("server", "site-1", "site-2"):
            run("kit", "start", str(cls.kits / who))
        cls.boss = cohort.Session(kit=str(cls.kits / "boss@org-a"), cohort=COHORT)
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            try:
                if sorted(cls.boss.status().sites) == ["site-1", "site-2"]:
                    break
            except cohort.NoConnection:
                pass
            time.sleep(0.3)
        else:
            raise AssertionError("the project did not come up within 120 s")

    @classmethod
    def tearDownClass(cls):
        for who in ("site-1", "site-2", "server"):
            run("kit", "stop", str(cls.kits / who), check=False)

    def admin(self, name):
        return cohort.Session(kit=str(self.kits / name), cohort=COHORT)


class SessionTest(RunningProject):

    def test_submit_wait_metrics_download_and_load_the_model(self):
        job = self.boss.submit(recipe(self.dir, "watched", 3), set={"job.num_rounds": 4})
        self.assertEqual(job.record.num_rounds, 4)  # the override is what the server runs
        rounds = []
        record = job.wait(timeout=120, on_round=lambda r: rounds.append((r.round, r.num_rounds)))
        self.assertEqual(record.status, "COMPLETED")
        self.assertEqual(rounds, [(0, 4), (1, 4), (2, 4), (3, 4)])
        rows = job.metrics()
        rows = rows.to_dict("records") if hasattr(rows, "to_dict") else rows
        self.assertTrue(any(r["site"] == "site-1" for r in rows))
        folder = job.download(os.path.join(self.dir, "downloaded"))
        import torch
        model = torch.load(folder / "global_model.pt")
        self.assertEqual(sorted(model), ["layer0.weight", "layer1.weight"])
        # The CLI's JSON and the Session's objects agree for the same job.
        shown = json.loads(run("job", "show", job.id, "--kit", str(self.kits / "boss@org-a"), "--format", "json").stdout)
        self.assertEqual(shown, asdict(self.boss.job(job.id).record))
        listed = json.loads(run("job", "list", "--kit", str(self.kits / "boss@org-a"), "--format", "json").stdout)
        self.assertIn(shown, listed["jobs"])
        self.assertIn(asdict(job.record), [asdict(j.record) for j in self.boss.jobs()])

    def test_every_job_command_speaks_json(self):
        kit = ["--kit", str(self.kits / "boss@org-a"), "--format", "json"]
        submitted = json.loads(run("job", "submit", recipe(self.dir, "json", 2), *kit).stdout)
        self.assertEqual(set(submitted), {"job_id", "files"})
        job_id = submitted["job_id"]
        waited = json.loads(run("job", "wait", job_id, "--timeout", "120", *kit).stdout)
        fields = {f for f in asdict(cohort.JobRecord())}
        self.assertEqual(set(waited), fields)
        self.assertEqual(waited["status"], "COMPLETED")
        self.assertEqual(set(json.loads(run("job", "show", job_id, *kit).stdout)), fields)
        self.assertEqual(set(json.loads(run("job", "list", *kit).stdout)), {"jobs"})
        status = json.loads(run("job", "status", *kit).stdout)
        self.assertEqual(set(status), {"server", "sites", "running"})
        self.assertEqual(asdict(self.boss.status()), status)
        metrics = json.loads(run("job", "metrics", job_id, *kit).stdout)
        self.assertEqual(set(metrics), {"job_id", "rows"})
        self.assertEqual(set(metrics["rows"][0]), {"round", "site", "metrics"})
        logs = json.loads(run("job", "logs", job_id, *kit).stdout)
        self.assertEqual(set(logs), {"job_id", "text", "cursor"})
        self.assertIn("ended COMPLETED", logs["text"])
        downloaded = json.loads(run("job", "download", job_id, os.path.join(self.dir, "dl-json"), *kit).stdout)
        self.assertEqual(set(downloaded), {"job", "folder", "files"})
        self.assertTrue(any(f["path"] == "global_model.pt" for f in downloaded["files"]))
        aborted = json.loads(run("job", "abort", job_id, *kit, check=False).stdout or "{}")
        self.assertTrue(aborted == {} or set(aborted) == {"job_id", "abort_requested"})

    def test_abort(self):
        job = self.boss.submit(recipe(self.dir, "aborted", 200, compute_ms=200))
        job.wait(timeout=60, on_round=lambda r: False)  # once a round is done
        job.abort()
        self.assertEqual(job.wait(timeout=60).status, "ABORTED")

    def test_a_foreign_kit_is_not_authenticated(self):
        foreign = cohort.Session(kit=str(Path(self.dir) / "foreign" / "boss@org-a"), cohort=COHORT)
        # The foreign kit names its own project's ports: point it at this server's.
        foreign.port = self.boss.port
        with self.assertRaises(cohort.AuthenticationError):
            foreign.status()

    def test_a_lead_may_not_abort_another_leads_job(self):
        job = self.admin("lead@org-a").submit(recipe(self.dir, "leads", 200, compute_ms=200))
        with self.assertRaises(cohort.AuthorizationError) as refused:
            self.admin("lead@org-b").job(job.id).abort()
        self.assertIn("lead manages only the jobs it submitted", str(refused.exception))
        job.abort()
        job.wait(timeout=60)

    def test_an_unknown_job_is_not_found(self):
        with self.assertRaises(cohort.JobNotFound):
            self.boss.job("no-such-job")

    def test_a_short_timeout_times_out(self):
        job = self.boss.submit(recipe(self.dir, "slow", 200, compute_ms=200))
        with self.assertRaises(cohort.Timeout):
            job.wait(timeout=1)
        job.abort()
        job.wait(timeout=60)

    def test_logs_follow_to_the_end(self):
        job = self.boss.submit(recipe(self.dir, "logged", 3))
        text = "".join(job.logs(follow=True))
        self.assertIn("ended COMPLETED", text)
        self.assertEqual(text.count("started: fedavg"), 1)  # each piece once, however many reads

    def test_wait_survives_a_server_restart(self):
        job = self.boss.submit(recipe(self.dir, "restarted", 12, compute_ms=400))
        pid_file = self.kits / "server" / "process.pid"

        def kill_the_server():
            while self.boss.job(job.id).record.rounds_completed < 3:
                time.sleep(0.2)
            os.kill(int(pid_file.read_text().split()[0]), signal.SIGKILL)

        killer = threading.Thread(target=kill_the_server)
        killer.start()
        record = job.wait(timeout=240)
        killer.join()
        self.assertEqual(record.status, "COMPLETED")
        self.assertGreaterEqual(record.resumes, 1)


class RunsTest(unittest.TestCase):
    def test_simulate_returns_the_job_and_its_figures(self):
        folder = tempfile.mkdtemp(prefix="cohort-simulate-")
        result = cohort.simulate(recipe(folder, "simulated", 2), clients=2, workers=2, workspace=os.path.join(folder, "ws"),
                                 cohort=COHORT)
        self.assertTrue(result.completed)
        self.assertEqual([r["round"] for r in result.rounds], [0, 1])
        self.assertTrue(result.global_model.exists())
        self.assertIn("server", result.peak_rss_mb)

    def test_simulate_refuses_a_bad_recipe_with_its_location(self):
        folder = Path(tempfile.mkdtemp(prefix="cohort-simulate-"))
        good = Path(recipe(folder, "bad", 2))
        lines = good.read_text().splitlines(keepends=True)
        good.write_text("".join(lines[:3] + ["num_roundz = 3\n"] + lines[3:]))  # line 4
        with self.assertRaises(cohort.ServerRefused) as refused:
            cohort.simulate(str(good), cohort=COHORT)
        self.assertIn("bad.toml:4:1", str(refused.exception))
        self.assertIn("num_roundz", str(refused.exception))

    def test_compare_returns_its_tables(self):
        folder = tempfile.mkdtemp(prefix="cohort-compare-")
        r = recipe(folder, "base", 2)
        result = cohort.compare(cohort.Method(r, name="fedavg"),
                                cohort.Method(r, set={"controller.plugin": "fedopt"}, name="fedopt"),
                                set={"simulation.workers": 2}, output=os.path.join(folder, "out"), cohort=COHORT)
        self.assertEqual(sorted(row["method"] for row in result.runs), ["fedavg", "fedopt"])
        self.assertEqual(len(result.summary), 2)


if __name__ == "__main__":
    unittest.main(verbosity=2)
