"""A job's tracking/ folder read back by a reader of its own (tensorboard_schema.py): nothing of
cohort's writer is used."""

import json
import os
import struct
import tempfile
import unittest
from pathlib import Path

import cohort
from tensorboard_schema import events
from test_session import COHORT, recipe


class TrackingTest(unittest.TestCase):
    def test_a_simulated_job_leaves_event_files_that_match_metrics_jsonl(self):
        folder = tempfile.mkdtemp(prefix="cohort-tracking-")
        result = cohort.simulate(recipe(folder, "tracked", 2), clients=2, workers=2, workspace=os.path.join(folder, "ws"),
                                 cohort=COHORT)
        self.assertTrue(result.completed)
        tracking = result.folder / "tracking"
        read = []
        for events_file in sorted(tracking.glob("*/events.out.tfevents.*")):
            all_events = list(events(events_file))
            self.assertEqual(all_events[0].get("file_version"), "brain.Event:2")
            for event in all_events[1:]:
                self.assertGreater(event["wall_time"], 1.7e9)
                for tag, value in event["scalars"]:
                    read.append((events_file.parent.name, tag, event["step"], value))
        lines = [json.loads(line) for line in (tracking / "metrics.jsonl").read_text().splitlines()]
        written = [(l["source"], l["tag"], l["step"], struct.unpack("<f", struct.pack("<f", l["value"]))[0]) for l in lines]
        self.assertEqual(sorted(read), sorted(written))
        server_steps = [step for source, tag, step, _ in read if source == "server" and tag == "round/seconds"]
        self.assertEqual(server_steps, [0, 1])  # step 0 kept
        sources = {source for source, _, _, _ in read}
        self.assertIn("server", sources)
        self.assertTrue({"site-1", "site-2"} <= sources, sources)
        # Every process's memory, and what the server's links moved: 1 MB models both ways.
        for site in ("site-1", "site-2"):
            rss = [value for source, tag, _, value in read if source == site and tag == "memory/client_rss_mb"]
            self.assertGreaterEqual(len(rss), 2)
            self.assertTrue(all(value > 10 for value in rss), rss)
        sent = [value for source, tag, _, value in read if source == "server" and tag == "network/sent_mb"]
        self.assertEqual(len(sent), 2)
        self.assertTrue(all(value >= 2 for value in sent), sent)  # the model to each of 2 sites

    def test_what_a_script_logs_reaches_its_site_s_event_file_step_0_included(self):
        folder = Path(tempfile.mkdtemp(prefix="cohort-tracking-"))
        script = Path(__file__).resolve().parents[1] / "fixtures" / "python" / "scripted_site.py"
        recipe_file = folder / "logged.toml"
        # Each task of scripted_site.py's "log" mode logs loss 0.25 at step 7, batch_loss
        # 1, 1/2, 1/3 at the next three steps of its own (from 0), and a NaN (dropped).
        recipe_file.write_text(f"""[job]
name = "logged"
num_rounds = 2
min_clients = 2
[controller]
plugin = "fedavg"
[executor]
plugin = "python"
[executor.args]
script = "{script}"
args = ["log"]
[model]
arch = "synthetic"
size_mb = 0.01
tensors = 2
[simulation]
clients = 2
workers = 2
""")
        result = cohort.simulate(str(recipe_file), workspace=str(folder / "ws"), cohort=COHORT)
        self.assertTrue(result.completed)
        for site in ("site-1", "site-2"):
            read = {}
            for events_file in (result.folder / "tracking" / site).glob("events.out.tfevents.*"):
                for event in list(events(events_file))[1:]:
                    for tag, value in event["scalars"]:
                        read.setdefault(tag, []).append((event["step"], value))
            tasks = len(read["loss"])
            self.assertGreaterEqual(tasks, 2)
            self.assertEqual(read["loss"], [(7, 0.25)] * tasks)
            batch = sorted(read["batch_loss"])
            self.assertEqual([step for step, _ in batch], list(range(3 * tasks)))  # step 0 kept
            for step, value in batch:
                self.assertAlmostEqual(value, 1.0 / (step % 3 + 1), places=6)
            self.assertNotIn("diverged", read)
            self.assertEqual(max(value for _, value in read["scalars/dropped"]), tasks)

    def test_the_shipped_example_logs_each_batch_s_loss_from_step_0(self):
        # examples/python/fashion_mnist.py, one round: each batch's loss as batch/loss.
        folder = Path(tempfile.mkdtemp(prefix="cohort-tracking-"))
        recipe_file = Path(__file__).resolve().parents[2] / "recipes" / "fedavg_fashion_mnist_python.toml"
        result = cohort.simulate(str(recipe_file), set={"job.num_rounds": 1}, workspace=str(folder / "ws"), cohort=COHORT)
        self.assertTrue(result.completed)
        lines = [json.loads(line) for line in (result.folder / "tracking" / "metrics.jsonl").read_text().splitlines()]
        for site in ("site-1", "site-2"):
            read = []
            for events_file in (result.folder / "tracking" / site).glob("events.out.tfevents.*"):
                for event in list(events(events_file))[1:]:
                    read += [(event["step"], value) for tag, value in event["scalars"] if tag == "batch/loss"]
            read.sort()
            # 30000 examples a site in batches of 64: steps 0..468, each once.
            self.assertEqual([step for step, _ in read], list(range(469)))
            self.assertTrue(all(0 < value < 5 for _, value in read))
            written = sorted((l["step"], struct.unpack("<f", struct.pack("<f", l["value"]))[0]) for l in lines
                             if l["source"] == site and l["tag"] == "batch/loss")
            self.assertEqual(read, written)


if __name__ == "__main__":
    unittest.main()
