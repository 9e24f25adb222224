// A server restarted under a job never folds what belongs to the job before the restart:
// the job epoch on results, relays and reports, checked against a Server whose site
// arrives on a fake link (the transport is not the point here).
#include "server/pending_task.hpp"
#include "server/server.hpp"
#include "support/fake_link.hpp"

#include <spdlog/logger.h>

#include <doctest/doctest.h>

#include <mutex>

using namespace cohort;
using cohort::test::FakeLink;

namespace {

/// Remembers how a task ended.
struct RecordedTask final : server::PendingTask {
  std::unique_ptr<ResultSink> on_result(const ResultInfo& info, bool) override {
    results.push_back(info.site);
    return nullptr;
  }
  void on_failure(const std::string&, const std::string& reason) override { failures.push_back(reason); }
  std::vector<std::string> results, failures;
};

/// A job in epoch 2 that counts the reports it hears.
struct Listener final : server::SiteListener {
  void site_joined(const std::string&) override {}
  void site_lost(const std::string&, const std::string&) override {}
  const std::string& listened_job() const override { return job; }
  std::int64_t listened_epoch() const override { return 2; }
  bool may_relay(const std::string&, const std::string&) const override { return true; }
  std::unique_ptr<ResultSink> on_report(const std::string&, const net::Report& report) override {
    reports.push_back(report.message.name);
    return nullptr;
  }
  void on_scalars(const std::string& site, const net::Scalars& scalars) override {
    for (const auto& s : scalars.scalars) this->scalars.push_back(site + ":" + s.tag);
  }
  std::string job = "job-1";
  std::vector<std::string> reports;
  std::vector<std::string> scalars;
};

net::TaskHeader task(std::uint64_t id, std::int64_t epoch) {
  net::TaskHeader t;
  t.task_id = id;
  t.job_id = "job-1";
  t.name = "train";
  t.epoch = epoch;
  t.has_model = false;
  return t;
}

net::ResultHeader result(std::uint64_t id, std::int64_t epoch) {
  net::ResultHeader r;
  r.task_id = id;
  r.job_id = "job-1";
  r.epoch = epoch;
  r.has_model = false;
  return r;
}

}  // namespace

TEST_CASE("job epoch: a result of another epoch fails its task, one of the task's epoch is folded") {
  server::ServerOptions options;
  options.listen = false;
  server::Server server(options, std::make_shared<spdlog::logger>("test"));
  server.start();
  auto link = std::make_shared<FakeLink>();
  server.attach(link);
  link->say(net::Hello{net::kProtocolVersion, "site-1", "client-1", "test"});
  REQUIRE(server.connected_sites() == std::vector<std::string>{"site-1"});

  auto stale = std::make_shared<RecordedTask>();
  server.send_task("site-1", task(1, 2), std::nullopt, stale);
  link->say(result(1, 1));  // sent before the server restarted: epoch 1
  CHECK(stale->results.empty());
  REQUIRE(stale->failures.size() == 1);
  CHECK(stale->failures.front() == "its result came from job epoch 1");

  auto current = std::make_shared<RecordedTask>();
  server.send_task("site-1", task(2, 2), std::nullopt, current);
  link->say(result(2, 2));
  CHECK(current->results == std::vector<std::string>{"site-1"});
  CHECK(current->failures.empty());
  CHECK(link->close_reason().empty());  // a stale result is not a protocol error
  server.stop("test over", true);
}

TEST_CASE("job epoch: reports, scalars and relays of another epoch are dropped, not handed to the job") {
  server::ServerOptions options;
  options.listen = false;
  server::Server server(options, std::make_shared<spdlog::logger>("test"));
  server.start();
  Listener job;
  server.add_listener(&job);
  auto link = std::make_shared<FakeLink>();
  server.attach(link);
  link->say(net::Hello{net::kProtocolVersion, "site-1", "client-1", "test"});

  net::Report report;
  report.job_id = "job-1";
  report.message.name = "round_done";
  report.epoch = 1;
  link->say(report);
  CHECK(job.reports.empty());
  report.epoch = 2;
  link->say(report);
  CHECK(job.reports == std::vector<std::string>{"round_done"});

  // Scalars go to the job they name, in its epoch, as the site the link authenticated.
  net::Scalars scalars{.job_id = "job-1", .epoch = 1, .scalars = {{"loss", 0, 0.5, 0}}};
  link->say(scalars);
  scalars.job_id = "job-2";
  scalars.epoch = 2;
  link->say(scalars);
  CHECK(job.scalars.empty());
  scalars.job_id = "job-1";
  link->say(scalars);
  CHECK(job.scalars == std::vector<std::string>{"site-1:loss"});

  net::Relay relay;
  relay.job_id = "job-1";
  relay.to = "site-1";
  relay.message.name = "swarm_result";
  relay.epoch = 1;
  CHECK_FALSE(link->say(relay).sink);  // dropped (the server logs why)
  CHECK(link->close_reason().empty());
  server.remove_listener(&job);
  server.stop("test over", true);
}
