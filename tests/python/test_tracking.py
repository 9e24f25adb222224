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


if __name__ == "__main__":
    unittest.main()
