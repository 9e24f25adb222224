// A result cut off by its link and sent again reaches the reducer exactly once, byte for
// byte; one that is not sent again counts for what it delivered.
#include "server/resumable_result.hpp"
#include "support/model_stream.hpp"

#include <cohort/aggregation.hpp>

#include <ATen/ops/arange.h>
#include <ATen/ops/equal.h>
#include <ATen/ops/zeros.h>

#include <doctest/doctest.h>

using cohort::Model;
using cohort::ResultInfo;
using cohort::ResultSink;
using cohort::server::ResumableResult;
using cohort::test::stream_into;

namespace {

Model zeros() {
  Model m;
  m.tensors.push_back({"a", at::zeros({8}, at::kFloat)});
  m.tensors.push_back({"b", at::zeros({8}, at::kFloat)});
  m.tensors.push_back({"c", at::zeros({4}, at::kLong)});
  return m;
}

/// The site's result: distinct values, so that a byte folded twice or skipped shows.
Model result() {
  Model m;
  m.tensors.push_back({"a", at::arange(1, 9, at::kFloat)});
  m.tensors.push_back({"b", at::arange(11, 19, at::kFloat)});
  m.tensors.push_back({"c", at::arange(21, 25, at::kLong)});
  return m;
}

struct Folded {
  cohort::WeightedAverage average{zeros(), {}};
  std::shared_ptr<ResumableResult> result = std::make_shared<ResumableResult>(average.open(ResultInfo{"site-1", 0, 1, {}}));
};

void check_equals_result(cohort::WeightedAverage& average) {
  REQUIRE(average.complete_results() == 1);
  const Model out = average.result(zeros());
  const Model expected = result();
  for (std::size_t i = 0; i < expected.tensors.size(); ++i) {
    INFO(expected.tensors[i].name);
    CHECK(at::equal(out.tensors[i].tensor, expected.tensors[i].tensor));
  }
}

}  // namespace

TEST_CASE("resumable result: cut inside a tensor by its link, sent again, folded exactly once") {
  for (std::size_t cut : {4u, 12u, 32u, 40u, 60u, 64u, 80u}) {
    INFO("cut after " << cut << " bytes");
    Folded f;
    bool closed = false;
    auto first = f.result->attach([&] { return closed; });
    CHECK_FALSE(stream_into(*first, result(), 8, cut));
    closed = true;
    first->abandon("connection closed: test");
    CHECK(f.result->is_cut());
    CHECK_FALSE(f.result->finished());
    CHECK(f.average.complete_results() == 0);

    bool ended = false;
    auto again = f.result->attach([] { return false; }, [&] { ended = true; });
    CHECK(stream_into(*again, result(), 8));
    CHECK(ended);
    CHECK(f.result->finished());
    check_equals_result(f.average);
  }
}

TEST_CASE("resumable result: a resend in other chunk sizes skips exactly what arrived") {
  Folded f;
  bool closed = false;
  auto first = f.result->attach([&] { return closed; });
  CHECK_FALSE(stream_into(*first, result(), 12, 36));  // a (32 bytes), then b's first chunk
  closed = true;
  first->abandon("connection closed");
  CHECK(f.result->tensors_done() == 1);
  CHECK(f.result->bytes_in_tensor() == 12);
  auto again = f.result->attach([] { return false; });
  CHECK(stream_into(*again, result(), 24));  // b's first chunk straddles the cut
  check_equals_result(f.average);
}

TEST_CASE("resumable result: once a new stream is attached the old one is ignored") {
  Folded f;
  bool closed = false;
  auto first = f.result->attach([&] { return closed; });
  CHECK_FALSE(stream_into(*first, result(), 8, 16));
  auto again = f.result->attach([] { return false; });
  // The old stream's late bytes (its link not yet closed) go nowhere.
  const Model late = result();
  first->chunk_received(16, std::span<const std::byte>(static_cast<const std::byte*>(late.tensors[0].tensor.data_ptr()) + 16, 8));
  first->abandon("replaced");
  CHECK(stream_into(*again, result(), 8));
  check_equals_result(f.average);
}

TEST_CASE("resumable result: not sent again, it counts for what it delivered") {
  Folded f;
  bool closed = false;
  auto first = f.result->attach([&] { return closed; });
  CHECK_FALSE(stream_into(*first, result(), 8, 40));  // a whole, b's first 2 elements
  closed = true;
  first->abandon("connection closed");
  f.result->abandon("site lost");
  CHECK(f.result->finished());
  CHECK(f.average.complete_results() == 0);
  const Model out = f.average.result(zeros());
  CHECK(at::equal(out.tensors[0].tensor, result().tensors[0].tensor));
  CHECK(out.tensors[1].tensor[0].item<float>() == 11);
  CHECK(out.tensors[1].tensor[1].item<float>() == 12);
  CHECK(out.tensors[1].tensor[2].item<float>() == 0);  // the previous global value
}

TEST_CASE("resumable result: a stream that ends otherwise (its link open) is passed on") {
  Folded f;
  bool ended = false;
  auto first = f.result->attach([] { return false; }, [&] { ended = true; });
  CHECK_FALSE(stream_into(*first, result(), 8, 8));
  first->abandon("the stream's source is gone");
  CHECK(ended);
  CHECK(f.result->finished());
  CHECK_FALSE(f.result->is_cut());
}
