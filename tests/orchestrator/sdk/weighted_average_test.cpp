#include <cohort/aggregation.hpp>

#include <ATen/ops/from_blob.h>
#include <ATen/ops/full.h>
#include <ATen/ops/zeros.h>

#include <doctest/doctest.h>

using cohort::Model;
using cohort::ResultInfo;
using cohort::WeightedAverage;

namespace {

Model reference() {
  Model m;
  m.tensors.push_back({"a", at::zeros({8}, at::kFloat)});
  m.tensors.push_back({"b", at::zeros({8}, at::kFloat)});
  return m;
}

/// Streams a result whose every element is `value`, in chunks of 4 elements; stops after
/// `stop_after_bytes` bytes in total (and abandons) when given.
void feed(cohort::Reducer& reducer, const std::string& site, std::optional<std::int64_t> steps, float value,
          std::optional<std::size_t> stop_after_bytes = {}) {
  ResultInfo info{site, 0, steps, {}};
  auto sink = reducer.open(info);
  std::size_t sent = 0;
  const Model ref = reference();
  for (std::size_t i = 0; i < ref.tensors.size(); ++i) {
    const auto& t = ref.tensors[i];
    cohort::TensorInfo ti{t.name, t.tensor.scalar_type(), t.tensor.sizes().vec(), static_cast<std::uint64_t>(t.tensor.nbytes()), i};
    if (stop_after_bytes && sent >= *stop_after_bytes) {
      sink->abandon("cut");
      return;
    }
    sink->begin_tensor(ti);
    at::Tensor values = at::full(t.tensor.sizes(), value, at::kFloat);
    const auto* bytes = static_cast<const std::byte*>(values.data_ptr());
    for (std::uint64_t offset = 0; offset < ti.nbytes; offset += 16) {
      if (stop_after_bytes && sent >= *stop_after_bytes) {
        sink->abandon("cut");
        return;
      }
      sink->chunk_received(offset, std::span<const std::byte>(bytes + offset, 16));
      sent += 16;
    }
    sink->end_tensor();
  }
  sink->commit();
}

std::vector<float> values(const Model& m, std::size_t i) {
  const auto& t = m.tensors.at(i).tensor;
  return std::vector<float>(t.data_ptr<float>(), t.data_ptr<float>() + t.numel());
}

}  // namespace

TEST_CASE("weighted average: weights by num_steps") {
  WeightedAverage avg(reference(), {});
  feed(avg, "s1", 1, 1.0f);
  feed(avg, "s2", 3, 5.0f);
  auto result = avg.result(reference());
  CHECK(avg.complete_results() == 2);
  CHECK(avg.total_weight() == 4.0);
  CHECK((values(result, 0) == std::vector<float>(8, 4.0f)));
  CHECK((values(result, 1) == std::vector<float>(8, 4.0f)));
}

TEST_CASE("weighted average: a missing or non-positive num_steps weighs 1") {
  WeightedAverage avg(reference(), {});
  feed(avg, "s1", std::nullopt, 1.0f);
  feed(avg, "s2", 0, 3.0f);
  CHECK((values(avg.result(reference()), 0) == std::vector<float>(8, 2.0f)));
}

TEST_CASE("weighted average: a custom weight function (per-site weights)") {
  WeightedAverage::Options options;
  options.weight = [](const ResultInfo& r) { return r.site == "s2" ? 3.0 : 1.0; };
  WeightedAverage avg(reference(), options);
  feed(avg, "s1", 100, 2.0f);
  feed(avg, "s2", 1, 6.0f);
  CHECK((values(avg.result(reference()), 0) == std::vector<float>(8, 5.0f)));
}

TEST_CASE("weighted average: a result cut off mid-tensor counts for the chunks it delivered") {
  WeightedAverage avg(reference(), {});
  feed(avg, "whole", 1, 2.0f);
  // all of "a" (32 bytes) and the first chunk of "b" (16 bytes = 4 elements)
  feed(avg, "cut", 1, 4.0f, 48);
  auto result = avg.result(reference());
  CHECK((values(result, 0) == std::vector<float>(8, 3.0f)));
  CHECK((values(result, 1) == std::vector<float>{3, 3, 3, 3, 2, 2, 2, 2}));
  CHECK(avg.complete_results() == 1);
}

TEST_CASE("weighted average: a result cut off before any tensor is discarded") {
  WeightedAverage avg(reference(), {});
  feed(avg, "whole", 1, 2.0f);
  feed(avg, "cut", 1, 4.0f, 0);
  CHECK((values(avg.result(reference()), 1) == std::vector<float>(8, 2.0f)));
}

TEST_CASE("weighted average: elements nobody delivered keep the reference value") {
  Model ref = reference();
  ref.tensors[1].tensor.fill_(7.0f);
  WeightedAverage avg(ref, {});
  feed(avg, "cut", 1, 4.0f, 48);  // "a" whole, 4 elements of "b"
  auto result = avg.result(ref);
  CHECK((values(result, 0) == std::vector<float>(8, 4.0f)));
  CHECK((values(result, 1) == std::vector<float>{4, 4, 4, 4, 7, 7, 7, 7}));
}

TEST_CASE("weighted average: excluded tensors keep the reference value") {
  WeightedAverage::Options options;
  options.exclude_vars = {"b.*"};
  Model ref = reference();
  ref.tensors[1].tensor.fill_(9.0f);
  WeightedAverage avg(ref, options);
  feed(avg, "s1", 1, 1.0f);
  auto result = avg.result(ref);
  CHECK((values(result, 0) == std::vector<float>(8, 1.0f)));
  CHECK((values(result, 1) == std::vector<float>(8, 9.0f)));
}

TEST_CASE("weighted average: integer tensors are averaged and rounded back") {
  Model ref;
  ref.tensors.push_back({"count", at::zeros({2}, at::kLong)});
  WeightedAverage avg(ref, {});
  for (std::int64_t v : {3, 4}) {
    auto sink = avg.open(ResultInfo{"s" + std::to_string(v), 0, 1, {}});
    sink->begin_tensor({"count", at::kLong, {2}, 16, 0});
    std::int64_t data[2] = {v, v};
    sink->chunk_received(0, std::as_bytes(std::span(data)));
    sink->end_tensor();
    sink->commit();
  }
  auto result = avg.result(ref);
  CHECK((result.tensors[0].tensor.scalar_type() == at::kLong));
  CHECK(result.tensors[0].tensor[0].item<std::int64_t>() == 4);  // 3.5 rounds to even
}

TEST_CASE("weighted average: every dtype of a state_dict: half and bfloat16 in their own, bool by majority, a 0-d counter") {
  Model ref;
  ref.tensors.push_back({"h", at::zeros({2}, at::kHalf)});
  ref.tensors.push_back({"bf", at::zeros({2}, at::kBFloat16)});
  ref.tensors.push_back({"mask", at::zeros({3}, at::kBool)});
  ref.tensors.push_back({"num_batches_tracked", at::zeros({}, at::kLong)});
  WeightedAverage avg(ref, {});
  // Three sites; the masks' votes: [T, T, F], [T, F, F], [F, T, F].
  const bool masks[3][3] = {{true, true, false}, {true, false, false}, {false, true, false}};
  for (int s = 0; s < 3; ++s) {
    Model site;
    site.tensors.push_back({"h", at::full({2}, 1.5 * (s + 1), at::kHalf)});
    site.tensors.push_back({"bf", at::full({2}, 2.0 * (s + 1), at::kBFloat16)});
    site.tensors.push_back({"mask", at::from_blob(const_cast<bool*>(masks[s]), {3}, at::kBool).clone()});
    site.tensors.push_back({"num_batches_tracked", at::full({}, 10 * (s + 1), at::kLong)});
    cohort::feed(avg, ResultInfo{"s" + std::to_string(s), 0, 1, {}}, site, 2);
  }
  auto result = avg.result(ref);
  CHECK((result.tensors[0].tensor.scalar_type() == at::kHalf));
  CHECK(result.tensors[0].tensor[0].item<float>() == 3.0f);
  CHECK((result.tensors[1].tensor.scalar_type() == at::kBFloat16));
  CHECK(result.tensors[1].tensor[1].item<float>() == 4.0f);
  CHECK((result.tensors[2].tensor.scalar_type() == at::kBool));
  CHECK(result.tensors[2].tensor[0].item<bool>());
  CHECK(result.tensors[2].tensor[1].item<bool>());
  CHECK_FALSE(result.tensors[2].tensor[2].item<bool>());
  CHECK(result.tensors[3].tensor.dim() == 0);
  CHECK(result.tensors[3].tensor.item<std::int64_t>() == 20);
}

TEST_CASE("weighted average: a tensor of another shape or name is rejected") {
  WeightedAverage avg(reference(), {});
  auto sink = avg.open(ResultInfo{"bad", 0, 1, {}});
  CHECK_THROWS_WITH(sink->begin_tensor({"a", at::kFloat, {4}, 16, 0}),
                    "site 'bad': sent tensor 'a' with another dtype or shape than the global model's");
  CHECK_THROWS_WITH(sink->begin_tensor({"zzz", at::kFloat, {8}, 32, 0}),
                    "site 'bad': sent tensor 'zzz', which the model does not have");
}

TEST_CASE("weighted average: no result leaves the reference model") {
  Model ref = reference();
  WeightedAverage avg(ref, {});
  auto result = avg.result(ref);
  CHECK(result.tensors[0].tensor.data_ptr() == ref.tensors[0].tensor.data_ptr());
}

TEST_CASE("weighted average: the result lives in the accumulator, not a copy of it") {
  Model ref = reference();
  WeightedAverage avg(ref, {});
  feed(avg, "s1", 1, 1.0f);
  auto result = avg.result(ref);
  CHECK(result.tensors[0].tensor.data_ptr() != ref.tensors[0].tensor.data_ptr());
  CHECK(result.tensors[0].tensor.use_count() == 1);
}
