"""The server's and a client's Prometheus endpoint, on a project like test_session's (whose
project file gives the server and site-1 a metrics_address): Debian's `promtool check
metrics` on what they serve, the health probes, bad requests answered, and Debian's
`prometheus` scraping the server during a job, its HTTP query API returning the rounds
counter."""

import json
import shutil
import socket
import subprocess
import tempfile
import time
import unittest
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

import test_session
from test_session import free_port, recipe


def get(address, path, method="GET"):
    """(status, body) of an HTTP request to http://address/path."""
    request = urllib.request.Request(f"http://{address}{path}", method=method)
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()


def raw(address, data):
    """The status line the endpoint answers `data` (bytes sent as they are) with."""
    host, port = address.rsplit(":", 1)
    with socket.create_connection((host, int(port)), timeout=10) as s:
        s.sendall(data)
        return s.recv(4096).split(b"\r\n", 1)[0].decode()


class PrometheusTest(test_session.RunningProject):
    def test_metrics_pass_promtool_and_the_probes_answer(self):
        for address in (self.server_metrics, self.site_metrics):
            status, text = get(address, "/metrics")
            self.assertEqual(status, 200)
            check = subprocess.run(["promtool", "check", "metrics"], input=text, capture_output=True, text=True)
            self.assertEqual(check.returncode, 0, check.stdout + check.stderr)
            self.assertIn("cohort_resident_memory_bytes{", text)
            self.assertIn("cohort_bytes_sent_total", text)
            self.assertEqual(get(address, "/healthz"), (200, "ok\n"))
            self.assertEqual(get(address, "/readyz"), (200, "ready\n"))
        status, text = get(self.server_metrics, "/metrics")
        self.assertIn('cohort_site_connected{site="site-1"} 1', text)
        self.assertIn("cohort_sites_connected 2", text)

    def test_bad_requests_are_answered_and_the_endpoint_goes_on(self):
        address = self.server_metrics
        self.assertEqual(get(address, "/nowhere")[0], 404)
        self.assertEqual(get(address, "/metrics", method="POST")[0], 405)
        self.assertIn(" 400 ", raw(address, b"NOT HTTP AT ALL\r\n\r\n"))
        self.assertIn(" 400 ", raw(address, b"GET /metrics HTTP/1.1\r\nX: " + b"y" * 20000 + b"\r\n\r\n"))
        self.assertEqual(get(address, "/healthz")[0], 200)

    def test_prometheus_scrapes_the_rounds_of_a_running_job(self):
        folder = Path(tempfile.mkdtemp(prefix="cohort-prometheus-"))
        port = free_port()
        (folder / "prometheus.yml").write_text(f"""global:
  scrape_interval: 1s
scrape_configs:
  - job_name: cohort-server
    static_configs:
      - targets: ["{self.server_metrics}"]
""")
        log = open(folder / "prometheus.log", "w")
        prometheus = subprocess.Popen(
            [shutil.which("prometheus"), f"--config.file={folder / 'prometheus.yml'}",
             f"--storage.tsdb.path={folder / 'data'}", f"--web.listen-address=127.0.0.1:{port}"],
            stdout=subprocess.DEVNULL, stderr=log)
        try:
            self.wait_for(lambda: get(f"127.0.0.1:{port}", "/-/ready")[0] == 200, "prometheus to be ready")
            job = self.boss.submit(recipe(self.dir, "scraped", 12, compute_ms=400))
            query = "/api/v1/query?query=" + urllib.parse.quote(f'cohort_rounds_completed_total{{job_id="{job.id}"}}')

            def rounds_seen():
                status, body = get(f"127.0.0.1:{port}", query)
                result = json.loads(body)["data"]["result"] if status == 200 else []
                return result and float(result[0]["value"][1]) >= 1

            self.wait_for(rounds_seen, "prometheus to see a completed round")
            self.assertEqual(job.wait(timeout=120).status, "COMPLETED")
        finally:
            prometheus.terminate()
            prometheus.wait(timeout=30)
            log.close()

    def wait_for(self, condition, what, timeout=90):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                if condition():
                    return
            except OSError:
                pass
            time.sleep(0.5)
        self.fail(f"timed out waiting for {what}")


if __name__ == "__main__":
    unittest.main()
