#include "server/broadcast.hpp"

#include <ATen/ops/zeros.h>

#include <doctest/doctest.h>

#include <mutex>
#include <thread>

using namespace cohort;
using cohort::server::Broadcast;
using namespace std::chrono_literals;

namespace {

/// Counts what reaches it; sinks record commit and abandon.
class CountingReducer final : public Reducer {
 public:
  struct Counts {
    std::atomic<int> opened{0}, committed{0}, abandoned{0}, chunks{0};
  };
  std::unique_ptr<ResultSink> open(const ResultInfo&) override {
    ++counts.opened;
    return std::make_unique<Sink>(counts);
  }
  Counts counts;

 private:
  class Sink final : public ResultSink {
   public:
    explicit Sink(Counts& c) : c_(c) {}
    void begin_tensor(const TensorInfo&) override {}
    void chunk_received(std::uint64_t, std::span<const std::byte>) override { ++c_.chunks; }
    void commit() override { ++c_.committed; }
    void abandon(const std::string&) override { ++c_.abandoned; }

   private:
    Counts& c_;
  };
};

ResultInfo info(const std::string& site) { return ResultInfo{site, 0, 1, {}}; }

}  // namespace

TEST_CASE("broadcast: returns once every target answered") {
  CountingReducer reducer;
  auto b = std::make_shared<Broadcast>(reducer, std::vector<std::string>{"a", "b"});
  auto pa = b->pending_for("a");
  auto pb = b->pending_for("b");
  std::thread answers([&] {
    pa->on_result(info("a"), false);
    auto sink = pb->on_result(info("b"), true);
    sink->begin_tensor({"t", at::kFloat, {1}, 4, 0});
    sink->end_tensor();
    sink->commit();
  });
  auto outcome = b->wait({}, {});
  answers.join();
  CHECK(outcome.received.size() == 2);
  CHECK(outcome.failed.empty());
  CHECK(reducer.counts.committed == 2);
}

TEST_CASE("broadcast: failures count as answers") {
  CountingReducer reducer;
  auto b = std::make_shared<Broadcast>(reducer, std::vector<std::string>{"a", "b"});
  b->pending_for("a")->on_failure("a", "executor failed: boom");
  b->pending_for("b")->on_result(info("b"), false);
  auto outcome = b->wait({}, {});
  REQUIRE(outcome.failed.size() == 1);
  CHECK(outcome.failed[0].reason == "executor failed: boom");
}

TEST_CASE("broadcast: stops waiting after min_responses plus the extra wait") {
  CountingReducer reducer;
  auto b = std::make_shared<Broadcast>(reducer, std::vector<std::string>{"a", "b", "c"});
  b->pending_for("a")->on_result(info("a"), false);
  b->pending_for("b")->on_result(info("b"), false);
  const auto start = std::chrono::steady_clock::now();
  auto outcome = b->wait({2, 300ms, 0ms}, {});
  const auto waited = std::chrono::steady_clock::now() - start;
  CHECK(outcome.received.size() == 2);
  REQUIRE(outcome.failed.size() == 1);
  CHECK(outcome.failed[0].site == "c");
  CHECK(waited >= 300ms);
}

TEST_CASE("broadcast: a timeout fails the outstanding sites") {
  CountingReducer reducer;
  auto b = std::make_shared<Broadcast>(reducer, std::vector<std::string>{"a"});
  auto outcome = b->wait({0, 0ms, 100ms}, {});
  REQUIRE(outcome.failed.size() == 1);
  CHECK(outcome.failed[0].reason == "timed out after 100 ms");
}

TEST_CASE("broadcast: closing abandons open streams, and late ones never reach the reducer") {
  CountingReducer reducer;
  auto b = std::make_shared<Broadcast>(reducer, std::vector<std::string>{"a", "b"});
  auto pending_a = b->pending_for("a");
  auto pending_b = b->pending_for("b");
  auto streaming = pending_a->on_result(info("a"), true);
  streaming->begin_tensor({"t", at::kFloat, {1}, 4, 0});
  auto outcome = b->wait({0, 0ms, 50ms}, {});
  CHECK(outcome.failed.size() == 2);
  CHECK(reducer.counts.abandoned == 1);
  std::byte data[4]{};
  streaming->chunk_received(0, data);  // after close: dropped
  streaming->commit();
  CHECK(reducer.counts.chunks == 0);
  CHECK(reducer.counts.committed == 0);
  CHECK(pending_b->on_result(info("b"), true) == nullptr);
  CHECK(reducer.counts.opened == 1);
}

TEST_CASE("broadcast: an abort ends the wait") {
  CountingReducer reducer;
  auto b = std::make_shared<Broadcast>(reducer, std::vector<std::string>{"a"});
  auto outcome = b->wait({}, [] { return true; });
  REQUIRE(outcome.failed.size() == 1);
  CHECK(outcome.failed[0].reason == "job aborted");
}

TEST_CASE("broadcast: each site's steps are marked as they happen, and nothing after it closed") {
  CountingReducer reducer;
  std::mutex mutex;
  std::vector<std::string> marks;
  auto mark = [&](const std::string& site, const char* event) {
    std::lock_guard lock(mutex);
    marks.push_back(site + " " + event);
  };
  auto b = std::make_shared<Broadcast>(reducer, std::vector<std::string>{"a", "b"}, mark);
  auto pa = b->pending_for("a");
  auto pb = b->pending_for("b");
  pa->on_sent();
  pa->on_accepted();
  pa->on_accepted();  // once
  auto sink = pa->on_result(info("a"), true);
  sink->begin_tensor({"t", at::kFloat, {1}, 4, 0});
  sink->end_tensor();
  sink->commit();
  pb->on_sent();
  auto outcome = b->wait({0, 0ms, 50ms}, {});  // b never answers
  CHECK(outcome.failed.size() == 1);
  // Late steps of a closed broadcast (its job may be gone) are not marked.
  pb->on_accepted();
  pb->on_sent();
  pb->on_failure("b", "too late");
  CHECK(marks == std::vector<std::string>{"a sent", "a accepted", "a result_began", "a result_ended", "b sent",
                                          "b failed"});
}

TEST_CASE("broadcast: the model is lent only once every task is written, and a task sent again after that comes from its file") {
  CountingReducer reducer;
  Model model;
  model.tensors.push_back({"t", at::zeros({4}, at::kFloat)});
  auto b = std::make_shared<Broadcast>(reducer, std::vector<std::string>{"a", "b"}, Broadcast::Mark{}, model);
  auto pa = b->pending_for("a");
  auto pb = b->pending_for("b");
  int reloads = 0;
  auto reload = [&] {
    ++reloads;
    return std::optional<Model>(model);
  };
  auto take = [] { return true; };
  pa->on_sent();
  CHECK_FALSE(b->lend_model(take, reload));  // b's task is not written yet
  pb->on_sent();
  REQUIRE(pa->model_for_resend());  // a came back before the model was lent: from memory,
  CHECK(reloads == 0);
  CHECK_FALSE(b->lend_model(take, reload));  // and written again before it is lent
  pa->on_sent();
  CHECK(b->lend_model(take, reload));
  REQUIRE(pb->model_for_resend());  // lent: from the file
  CHECK(reloads == 1);
}

TEST_CASE("broadcast: when_sent runs on the waiting thread once every task is written or failed") {
  CountingReducer reducer;
  auto b = std::make_shared<Broadcast>(reducer, std::vector<std::string>{"a", "b"});
  auto pa = b->pending_for("a");
  auto pb = b->pending_for("b");
  std::atomic<int> ran{0};
  std::thread::id where;
  b->when_sent([&] {
    where = std::this_thread::get_id();
    ++ran;
    return true;
  });
  std::thread answers([&] {
    std::this_thread::sleep_for(50ms);
    CHECK(ran == 0);
    pa->on_sent();
    pb->on_failure("b", "lost");
    std::this_thread::sleep_for(100ms);
    CHECK(ran == 1);
    pa->on_result(info("a"), false);
  });
  b->wait({}, {});
  answers.join();
  CHECK(ran == 1);
  CHECK(where == std::this_thread::get_id());
}
