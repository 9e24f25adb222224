// The metrics endpoint against a real socket of this machine: the text it serves, the
// probes, a job's series leaving with the job, and bad requests answered.
#include "telemetry/process_metrics.hpp"

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/write.hpp>
#include <spdlog/logger.h>

#include <doctest/doctest.h>

#include <string>

using namespace cohort::telemetry;

namespace {

/// What the endpoint on `port` answers `request` (sent as it is), whole.
std::string ask(std::uint16_t port, const std::string& request) {
  boost::asio::io_context io;
  boost::asio::ip::tcp::socket socket(io);
  socket.connect({boost::asio::ip::make_address("127.0.0.1"), port});
  boost::asio::write(socket, boost::asio::buffer(request));
  std::string answer;
  boost::system::error_code ec;
  char chunk[4096];
  while (true) {
    const auto n = socket.read_some(boost::asio::buffer(chunk), ec);
    if (ec) break;
    answer.append(chunk, n);
  }
  return answer;
}

std::string get(std::uint16_t port, const std::string& path, const std::string& method = "GET") {
  return ask(port, method + " " + path + " HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
}

struct Endpoint {
  explicit Endpoint(bool ready_now = true) : ready(ready_now) {
    endpoint.start();
  }
  std::shared_ptr<ProcessMetrics> metrics = std::make_shared<ProcessMetrics>();
  bool ready;
  MetricsEndpoint endpoint{ListenAddress{"127.0.0.1", 0}, metrics,
                           [] {
                             Snapshot s;
                             s.resident_bytes["server"] = 1 << 20;
                             s.bytes_sent = 300;
                             s.sites_connected = {"site-1", "site-2"};
                             s.jobs_by_state["RUNNING"] = 1;
                             return s;
                           },
                           [this] { return ready; }, std::make_shared<spdlog::logger>("test")};
};

}  // namespace

TEST_CASE("telemetry: /metrics in Prometheus's text format, a job's series gone when it ends") {
  Endpoint e;
  e.metrics->round_completed("job-1", 1.5, 2);
  e.metrics->round_completed("job-1", 0.2, 0);
  auto text = get(e.endpoint.port(), "/metrics");
  CHECK(text.rfind("HTTP/1.1 200 OK", 0) == 0);
  CHECK(text.find("text/plain; version=0.0.4") != std::string::npos);
  CHECK(text.find("# TYPE cohort_rounds_completed_total counter") != std::string::npos);
  CHECK(text.find("cohort_rounds_completed_total{job_id=\"job-1\"} 2") != std::string::npos);
  CHECK(text.find("cohort_tasks_failed_total{job_id=\"job-1\"} 2") != std::string::npos);
  CHECK(text.find("cohort_round_duration_seconds_bucket{job_id=\"job-1\",le=\"0.25\"} 1") != std::string::npos);
  CHECK(text.find("cohort_round_duration_seconds_count{job_id=\"job-1\"} 2") != std::string::npos);
  CHECK(text.find("cohort_bytes_sent_total 300") != std::string::npos);
  CHECK(text.find("cohort_resident_memory_bytes{process=\"server\"} 1048576") != std::string::npos);
  CHECK(text.find("cohort_sites_connected 2") != std::string::npos);
  CHECK(text.find("cohort_site_connected{site=\"site-2\"} 1") != std::string::npos);
  CHECK(text.find("cohort_jobs{state=\"RUNNING\"} 1") != std::string::npos);
  // A second scrape does not count the same bytes again.
  CHECK(get(e.endpoint.port(), "/metrics").find("cohort_bytes_sent_total 300") != std::string::npos);
  e.metrics->job_ended("job-1");
  text = get(e.endpoint.port(), "/metrics");
  CHECK(text.find("job_id=\"job-1\"") == std::string::npos);
}

TEST_CASE("telemetry: /healthz, /readyz before and after ready, HEAD") {
  Endpoint e(false);
  CHECK(get(e.endpoint.port(), "/healthz").find("200 OK") != std::string::npos);
  CHECK(get(e.endpoint.port(), "/he%61lthz").find("200 OK") != std::string::npos);  // the path is decoded
  CHECK(get(e.endpoint.port(), "/readyz").find("503 Service Unavailable") != std::string::npos);
  e.ready = true;
  const auto ready = get(e.endpoint.port(), "/readyz?verbose=1");
  CHECK(ready.find("200 OK") != std::string::npos);
  CHECK(ready.find("ready\n") != std::string::npos);
  const auto head = get(e.endpoint.port(), "/readyz", "HEAD");
  CHECK(head.find("200 OK") != std::string::npos);
  CHECK(head.find("ready\n") == std::string::npos);  // no body
}

TEST_CASE("telemetry: bad requests get 400, 404 or 405 and the endpoint goes on") {
  Endpoint e;
  const auto port = e.endpoint.port();
  CHECK(get(port, "/nowhere").find("404 Not Found") != std::string::npos);
  CHECK(get(port, "/metrics", "POST").find("405 Method Not Allowed") != std::string::npos);
  CHECK(ask(port, "NOT HTTP AT ALL\r\n\r\n").find("400 Bad Request") != std::string::npos);
  CHECK(ask(port, "GET /metrics HTTP/1.1\r\nX: " + std::string(20000, 'y') + "\r\n\r\n").find("400 Bad Request") !=
        std::string::npos);
  CHECK(ask(port, "GET /metrics HTTP/1.1\r\nContent-Length: 5\r\nConnection: close\r\n\r\nhello").find("400 Bad Request") !=
        std::string::npos);
  CHECK(get(port, "/healthz").find("200 OK") != std::string::npos);
}
