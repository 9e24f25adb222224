#include <cohort/aggregation.hpp>

#include <ATen/ops/empty.h>
#include <ATen/ops/from_blob.h>
#include <ATen/ops/full.h>
#include <ATen/ops/zeros.h>

#include <doctest/doctest.h>

#include <cstring>
#include <random>

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

namespace {

/// A model of random floats (and a counter), the same for the same seed.
Model random_model(std::uint64_t seed) {
  std::mt19937 rng(static_cast<std::uint32_t>(seed));
  std::normal_distribution<float> normal(0.0f, 1.0f);
  Model m;
  for (std::int64_t size : {1000, 37, 4096}) {
    at::Tensor t = at::empty({size}, at::kFloat);
    for (std::int64_t i = 0; i < size; ++i) t.data_ptr<float>()[i] = normal(rng);
    m.tensors.push_back({"w" + std::to_string(size), t});
  }
  m.tensors.push_back({"steps", at::full({}, static_cast<std::int64_t>(seed), at::kLong)});
  return m;
}

/// Streams `model` as site `site`'s result, 100-byte chunks; cut off after `cut_bytes`.
void stream(cohort::Reducer& reducer, const std::string& site, std::int64_t steps, const Model& model,
            std::optional<std::size_t> cut_bytes = {}) {
  auto sink = reducer.open(ResultInfo{site, 0, steps, {}});
  std::size_t sent = 0;
  for (std::size_t i = 0; i < model.tensors.size(); ++i) {
    const at::Tensor& t = model.tensors[i].tensor;
    const cohort::TensorInfo info{model.tensors[i].name, t.scalar_type(), t.sizes().vec(), static_cast<std::uint64_t>(t.nbytes()), i};
    sink->begin_tensor(info);
    const auto* bytes = static_cast<const std::byte*>(t.data_ptr());
    const std::size_t chunk = 25 * t.element_size();
    for (std::uint64_t offset = 0; offset < info.nbytes; offset += chunk) {
      if (cut_bytes && sent >= *cut_bytes) return sink->abandon("cut");
      const auto n = std::min<std::uint64_t>(chunk, info.nbytes - offset);
      sink->chunk_received(offset, std::span<const std::byte>(bytes + offset, n));
      sent += n;
    }
    sink->end_tensor();
  }
  sink->commit();
}

bool same_bytes(const Model& a, const Model& b) {
  if (a.tensors.size() != b.tensors.size()) return false;
  for (std::size_t i = 0; i < a.tensors.size(); ++i) {
    const at::Tensor& x = a.tensors[i].tensor;
    const at::Tensor& y = b.tensors[i].tensor;
    if (x.scalar_type() != y.scalar_type() || x.nbytes() != y.nbytes() ||
        std::memcmp(x.data_ptr(), y.data_ptr(), x.nbytes()) != 0)
      return false;
  }
  return true;
}

Model deep_copy(const Model& m) {
  Model out;
  for (const auto& t : m.tensors) out.tensors.push_back({t.name, t.tensor.clone()});
  return out;
}

/// The same results averaged into an accumulator and in the reference's memory, lent
/// after `lend_after` of the results: the two averages, bit for bit.
void check_in_place_matches(std::size_t lend_after, std::optional<std::size_t> cut_bytes_of_last) {
  const Model global = random_model(1);
  std::vector<Model> results;
  for (std::uint64_t s = 2; s < 6; ++s) results.push_back(random_model(s));
  auto run = [&](bool in_place) {
    Model reference = deep_copy(global);
    WeightedAverage::Options options;
    options.in_place = in_place;
    WeightedAverage avg(reference, options);
    for (std::size_t i = 0; i < results.size(); ++i) {
      if (i == lend_after) CHECK(avg.reuse_reference(reference) == in_place);
      const bool last = i + 1 == results.size();
      stream(avg, "site-" + std::to_string(i), static_cast<std::int64_t>(i + 1), results[i], last ? cut_bytes_of_last : std::nullopt);
    }
    Model out = avg.result(reference);
    return std::make_pair(out, reference);
  };
  auto [accumulated, untouched] = run(false);
  auto [in_place, lent] = run(true);
  CHECK(same_bytes(accumulated, in_place));
  CHECK(same_bytes(untouched, global));  // the accumulator path leaves the reference alone
  if (lend_after == 0) {
    // Every floating tensor was summed in the reference's memory: the average views it.
    CHECK(in_place.tensors[0].tensor.data_ptr() == lent.tensors[0].tensor.data_ptr());
    CHECK(in_place.tensors[0].tensor.unsafeGetTensorImpl() != lent.tensors[0].tensor.unsafeGetTensorImpl());
  }
}

}  // namespace

TEST_CASE("weighted average in place: the same bytes as the accumulator, lent before any result") {
  check_in_place_matches(0, std::nullopt);
}

TEST_CASE("weighted average in place: lent after a result (late site): folded tensors keep their accumulator") {
  check_in_place_matches(1, std::nullopt);
  check_in_place_matches(3, std::nullopt);
}

TEST_CASE("weighted average in place: a site cut off mid-tensor (failed) counts the same") {
  check_in_place_matches(0, 4000 + 37 * 4 + 800);  // w1000 whole, w37 whole, 200 elements of w4096
  check_in_place_matches(0, 2000);                 // half of the first tensor
  check_in_place_matches(0, 0);                    // nothing
}

TEST_CASE("weighted average in place: elements no result reached keep the reference's values") {
  Model global = random_model(1);
  Model reference = deep_copy(global);
  WeightedAverage::Options options;
  options.in_place = true;
  WeightedAverage avg(reference, options);
  REQUIRE(avg.reuse_reference(reference));
  stream(avg, "cut", 1, random_model(2), 400);  // 100 elements of the first tensor
  Model out = avg.result(reference);
  const Model sent = random_model(2);
  const float* a = out.tensors[0].tensor.data_ptr<float>();
  CHECK(std::memcmp(a, sent.tensors[0].tensor.data_ptr<float>(), 400) == 0);
  CHECK(std::memcmp(a + 100, global.tensors[0].tensor.data_ptr<float>() + 100, 900 * 4) == 0);
  CHECK(std::memcmp(out.tensors[2].tensor.data_ptr(), global.tensors[2].tensor.data_ptr(), 4096 * 4) == 0);
}

TEST_CASE("weighted average in place: not without the option") {
  Model reference = random_model(1);
  WeightedAverage plain(reference, {});
  CHECK_FALSE(plain.in_place());
  CHECK_FALSE(plain.reuse_reference(reference));
}
