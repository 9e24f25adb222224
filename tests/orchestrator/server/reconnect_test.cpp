// A site whose connection drops and that comes back within the server's grace period
// loses nothing: a result cut off goes on where it stopped, a task it no longer holds is
// sent again, and its result counts; one that stays away fails its task when the grace
// period ends. A Server whose sites arrive on fake links (the transport is not the point).
#include "server/broadcast.hpp"
#include "server/server.hpp"
#include "support/fake_link.hpp"
#include "support/model_stream.hpp"

#include <cohort/aggregation.hpp>

#include <ATen/ops/equal.h>
#include <ATen/ops/full.h>
#include <ATen/ops/zeros.h>

#include <spdlog/logger.h>

#include <doctest/doctest.h>

#include <future>
#include <thread>

using namespace cohort;
using cohort::test::FakeLink;
using cohort::test::stream_into;

namespace {

Model global_model() {
  Model m;
  m.tensors.push_back({"w", at::zeros({64}, at::kFloat)});
  m.tensors.push_back({"b", at::zeros({16}, at::kFloat)});
  return m;
}

Model site_result() {
  Model m;
  m.tensors.push_back({"w", at::full({64}, 3.0, at::kFloat)});
  m.tensors.push_back({"b", at::full({16}, 5.0, at::kFloat)});
  return m;
}

/// A server on no socket, its sites on fake links.
struct Fixture {
  explicit Fixture(std::chrono::milliseconds grace) {
    server::ServerOptions options;
    options.listen = false;
    options.reconnect_grace = grace;
    server = std::make_unique<server::Server>(options, std::make_shared<spdlog::logger>("test"));
    server->start();
  }
  ~Fixture() { server->stop("test over", true); }

  /// A new connection of site-1, holding `held`.
  std::shared_ptr<FakeLink> connect(std::vector<std::uint64_t> held = {}) {
    auto link = std::make_shared<FakeLink>();
    server->attach(link);
    net::Hello hello{net::kProtocolVersion, "site-1", "client-1", "test"};
    hello.held_tasks = std::move(held);
    link->say(hello);
    return link;
  }

  /// Task 1 of a one-site broadcast into `average`, sent to site-1.
  std::shared_ptr<server::Broadcast> broadcast(Reducer& average) {
    auto b = std::make_shared<server::Broadcast>(average, std::vector<std::string>{"site-1"},
                                                 server::Broadcast::Mark{}, global_model());
    net::TaskHeader header;
    header.task_id = 1;
    header.job_id = "job-1";
    header.name = "train";
    server->send_task("site-1", header, global_model(), b->pending_for("site-1"));
    return b;
  }

  std::unique_ptr<server::Server> server;
};

net::ResultHeader result_header() {
  net::ResultHeader r;
  r.task_id = 1;
  r.job_id = "job-1";
  r.has_model = true;
  r.num_steps = 1;
  return r;
}

BroadcastOutcome wait(server::Broadcast& b, std::chrono::milliseconds timeout = std::chrono::seconds(10)) {
  BroadcastOptions options;
  options.timeout = timeout;
  return b.wait(options, {});
}

/// How many TASK frames a link was sent, and whether the last one carried a model.
std::size_t tasks_sent(FakeLink& link, bool* with_model = nullptr) {
  std::size_t n = 0;
  for (const auto& sent : link.sent_messages()) {
    if (!std::holds_alternative<net::TaskHeader>(sent.message)) continue;
    ++n;
    if (with_model) *with_model = sent.model.has_value();
  }
  return n;
}

bool acknowledged(FakeLink& link, std::uint64_t task) {
  for (const auto& sent : link.sent_messages())
    if (const auto* r = std::get_if<net::ResultReceived>(&sent.message); r && r->task_id == task) return true;
  return false;
}

}  // namespace

TEST_CASE("reconnect: a result cut by a dropped connection goes on over the next one and counts once") {
  Fixture f(std::chrono::seconds(30));
  auto first = f.connect();
  WeightedAverage average(global_model(), {});
  auto b = f.broadcast(average);
  CHECK(tasks_sent(*first) == 1);

  auto reception = first->say(result_header());
  REQUIRE(reception.sink);
  CHECK_FALSE(stream_into(*reception.sink, site_result(), 64, 192));  // three quarters of "w"
  first->drop("connection reset by peer", reception.sink.get());
  CHECK(f.server->connected_sites() == std::vector<std::string>{"site-1"});  // away, not lost

  auto second = f.connect({1});
  CHECK(tasks_sent(*second) == 0);  // it holds the task: not sent again
  auto again = second->say(result_header());
  REQUIRE(again.sink);
  CHECK(stream_into(*again.sink, site_result(), 64));
  CHECK(acknowledged(*second, 1));

  const auto outcome = wait(*b);
  CHECK(outcome.received.size() == 1);
  CHECK(outcome.failed.empty());
  REQUIRE(average.complete_results() == 1);
  const Model out = average.result(global_model());
  CHECK(at::equal(out.tensors[0].tensor, site_result().tensors[0].tensor));
  CHECK(at::equal(out.tensors[1].tensor, site_result().tensors[1].tensor));
}

TEST_CASE("reconnect: a site back without its task gets it again, with the model") {
  Fixture f(std::chrono::seconds(30));
  auto first = f.connect();
  WeightedAverage average(global_model(), {});
  auto b = f.broadcast(average);
  first->drop("connection reset by peer");  // before any result: say, a new client process

  auto second = f.connect();
  bool with_model = false;
  REQUIRE(tasks_sent(*second, &with_model) == 1);
  CHECK(with_model);
  auto reception = second->say(result_header());
  REQUIRE(reception.sink);
  CHECK(stream_into(*reception.sink, site_result(), 64));
  const auto outcome = wait(*b);
  CHECK(outcome.received.size() == 1);
  CHECK(outcome.failed.empty());
}

TEST_CASE("reconnect: a task sent while the site is away goes out when it comes back") {
  Fixture f(std::chrono::seconds(30));
  auto first = f.connect();
  first->drop("connection reset by peer");
  WeightedAverage average(global_model(), {});
  auto b = f.broadcast(average);
  CHECK(tasks_sent(*first) == 0);
  auto second = f.connect();
  CHECK(tasks_sent(*second) == 1);
}

TEST_CASE("reconnect: a site away past the grace period fails its task, counting what it delivered") {
  Fixture f(std::chrono::milliseconds(300));
  auto first = f.connect();
  WeightedAverage average(global_model(), {});
  auto b = f.broadcast(average);
  auto reception = first->say(result_header());
  REQUIRE(reception.sink);
  CHECK_FALSE(stream_into(*reception.sink, site_result(), 64, 256));  // "w" whole, "b" not begun
  first->drop("connection reset by peer", reception.sink.get());
  const auto outcome = wait(*b);
  REQUIRE(outcome.failed.size() == 1);
  CHECK(outcome.failed.front().reason.find("did not come back within 0.3 s") != std::string::npos);
  CHECK(f.server->connected_sites().empty());
  const Model out = average.result(global_model());
  CHECK(at::equal(out.tensors[0].tensor, site_result().tensors[0].tensor));  // delivered whole
  CHECK(at::equal(out.tensors[1].tensor, global_model().tensors[1].tensor));  // never began
}

TEST_CASE("reconnect: a site back without the result it was sending fails that task") {
  Fixture f(std::chrono::seconds(30));
  auto first = f.connect();
  WeightedAverage average(global_model(), {});
  auto b = f.broadcast(average);
  auto reception = first->say(result_header());
  REQUIRE(reception.sink);
  CHECK_FALSE(stream_into(*reception.sink, site_result(), 64, 64));
  first->drop("connection reset by peer", reception.sink.get());
  auto second = f.connect();  // a new client process: it holds nothing
  CHECK(tasks_sent(*second) == 0);
  const auto outcome = wait(*b);
  REQUIRE(outcome.failed.size() == 1);
  CHECK(outcome.failed.front().reason.find("came back without the result") != std::string::npos);
}

TEST_CASE("reconnect: without a grace period a dropped site fails its task at once") {
  Fixture f(std::chrono::milliseconds(0));
  auto first = f.connect();
  WeightedAverage average(global_model(), {});
  auto b = f.broadcast(average);
  first->drop("connection reset by peer");
  CHECK(f.server->connected_sites().empty());
  const auto outcome = wait(*b, std::chrono::milliseconds(100));
  REQUIRE(outcome.failed.size() == 1);
  CHECK(outcome.failed.front().reason == "site lost: connection reset by peer");
}
