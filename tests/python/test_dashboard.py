"""`cohort dashboard` in Debian's headless Chromium (WebDriver, python3-selenium), on a
project running on this machine (test_session's): the page loads, a running job's round
count rises, its charts get points, the abort button ends the job; a role that may not
abort gets 403, a POST from elsewhere 400; and `cohort simulate --dashboard`'s page of
its job, whose abort stops the simulation. The screenshot goes to $COHORT_TEST_OUTPUT (or
the temporary folder), named in the output."""

import json
import os
import re
import subprocess
import tempfile
import time
import unittest
import urllib.error
import urllib.request
from pathlib import Path

from selenium import webdriver
from selenium.webdriver.chrome.options import Options
from selenium.webdriver.chrome.service import Service

import test_session
from test_session import COHORT, recipe


def start_dashboard(kit):
    """A `cohort dashboard` for `kit` on a free port, and its URL."""
    process = subprocess.Popen([COHORT, "dashboard", "--kit", str(kit), "--listen", "127.0.0.1:0"],
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    line = process.stdout.readline()
    found = re.search(r"http://\S+/", line)
    if not found:
        process.kill()
        raise AssertionError(f"cohort dashboard said: {line}{process.stdout.read()}")
    return process, found.group(0)


def get_json(url):
    try:
        with urllib.request.urlopen(url, timeout=30) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read())


def post(url, headers=None):
    request = urllib.request.Request(url, method="POST", headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read())


class DashboardTest(test_session.RunningProject):
    def setUp(self):
        self.processes = []

    def tearDown(self):
        for process in self.processes:
            process.terminate()
            process.wait(timeout=30)

    def dashboard(self, admin):
        process, url = start_dashboard(self.kits / admin)
        self.processes.append(process)
        return url

    def test_the_page_follows_a_running_job_and_aborts_it(self):
        url = self.dashboard("boss@org-a")
        # Rounds enough to outlast a slow browser start (40 took 13 s and once ended before
        # Chromium showed the page); the test aborts the job once it has seen what it needs.
        job = self.boss.submit(recipe(self.dir, "watched-live", 400, compute_ms=300))
        options = Options()
        for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--window-size=1200,900"):
            options.add_argument(flag)
        options.binary_location = "/usr/bin/chromium"
        browser = webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=options)
        try:
            browser.get(url)
            page = "return window.cohortDashboard"
            self.wait_for(lambda: browser.execute_script(page + ".rounds()") >= 1, "a completed round on the page")
            first = browser.execute_script(page + ".rounds()")
            self.wait_for(lambda: browser.execute_script(page + ".rounds()") > first, "the round count to rise")
            for chart in ("global", "sites", "memory", "timeline"):
                self.wait_for(lambda: browser.execute_script(page + f".points('{chart}')") > 0, f"points in {chart}")
            self.assertIn(job.id[:8], browser.find_element("id", "jobs").text)
            folder = Path(os.environ.get("COHORT_TEST_OUTPUT", tempfile.gettempdir()))
            folder.mkdir(parents=True, exist_ok=True)
            shot = folder / "dashboard.png"
            browser.save_screenshot(str(shot))
            print(f"screenshot: {shot}")
            browser.find_element("css selector", f"button.abort[data-job='{job.id}']").click()
            self.assertEqual(job.wait(timeout=60).status, "ABORTED")
            self.wait_for(lambda: browser.execute_script(page + ".status()") == "ABORTED", "the page to say ABORTED")
            # Its files: the button lists them, each a link to the file itself.
            browser.find_element("css selector", f"button.files[data-job='{job.id}']").click()
            self.wait_for(lambda: "recipe.toml" in browser.find_element("id", "files").text, "the job's files")
            link = browser.find_element("link text", "recipe.toml").get_attribute("href")
            self.assertIn('name = "watched-live"', urllib.request.urlopen(link, timeout=30).read().decode())
        finally:
            browser.quit()

    def test_a_role_that_may_not_abort_gets_403_and_a_foreign_post_400(self):
        job = self.boss.submit(recipe(self.dir, "not-yours", 40, compute_ms=300))
        try:
            url = self.dashboard("lead@org-b")  # a lead manages only the jobs it submitted
            jobs = json.loads(urllib.request.urlopen(url + "api/jobs", timeout=30).read())["jobs"]
            self.assertFalse(next(j for j in jobs if j["id"] == job.id)["may_abort"])
            status, body = post(f"{url}api/jobs/{job.id}/abort", {"X-Cohort-Dashboard": "1"})
            self.assertEqual(status, 403, body)
            self.assertIn("lead", body["error"])
            self.assertFalse(next(j for j in jobs if j["id"] == job.id)["may_download"])
            status, body = get_json(f"{url}api/jobs/{job.id}/files")
            self.assertEqual(status, 403, body)
            self.assertEqual(get_json(f"{url}api/jobs/..%2F..%2Fetc/files")[0], 400)
            self.assertEqual(get_json(f"{url}api/jobs/{job.id}/files/..%2F..%2Fkits")[0], 400)
            boss = self.dashboard("boss@org-a")
            self.assertEqual(post(f"{boss}api/jobs/{job.id}/abort")[0], 400)  # no X-Cohort-Dashboard
            self.assertEqual(post(f"{boss}api/jobs/nope/abort", {"X-Cohort-Dashboard": "1"})[0], 404)
            self.assertEqual(post(f"{boss}api/jobs", {})[0], 405)
        finally:
            job.abort()

    def wait_for(self, condition, what, timeout=90):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if condition():
                return
            time.sleep(0.5)
        self.fail(f"timed out waiting for {what}")


class SimulateDashboardTest(unittest.TestCase):
    def test_simulate_serves_the_page_for_its_job_and_its_abort_stops_the_simulation(self):
        folder = tempfile.mkdtemp(prefix="cohort-simulate-dashboard-")
        simulation = subprocess.Popen(
            [COHORT, "simulate", recipe(folder, "simulated-live", 60, compute_ms=200), "--workspace",
             os.path.join(folder, "ws"), "--dashboard", "--dashboard-listen", "127.0.0.1:0"],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        try:
            url = None
            for line in simulation.stdout:
                found = re.search(r"dashboard (http://\S+/)", line)
                if found:
                    url = found.group(1)
                    break
            self.assertIsNotNone(url, "simulate did not say where its dashboard is")
            self.assertIn("uPlot", urllib.request.urlopen(url, timeout=30).read().decode())

            def job():
                return json.loads(urllib.request.urlopen(url + "api/jobs", timeout=30).read())["jobs"][0]

            deadline = time.monotonic() + 90
            while job()["rounds_completed"] < 2 and time.monotonic() < deadline:
                time.sleep(0.5)
            record = job()
            self.assertEqual(record["status"], "RUNNING")
            self.assertGreaterEqual(record["rounds_completed"], 2)
            part = json.loads(urllib.request.urlopen(f"{url}api/jobs/{record['id']}/tracking?cursor=0", timeout=30).read())
            self.assertTrue(any(s["source"] == "server" and s["tag"] == "round/seconds" for s in part["scalars"]))
            self.assertGreater(part["cursor"], 0)
            status, body = post(f"{url}api/jobs/{record['id']}/abort", {"X-Cohort-Dashboard": "1"})
            self.assertEqual(status, 200, body)
            output = simulation.communicate(timeout=60)[0]
            self.assertNotEqual(simulation.returncode, 0)  # the job did not complete
            self.assertIn("interrupted", output)
        finally:
            if simulation.poll() is None:
                simulation.kill()
                simulation.wait()


if __name__ == "__main__":
    unittest.main()
