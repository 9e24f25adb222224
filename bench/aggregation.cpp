// Aggregation: the streaming weighted average (chunks folded into one accumulator as they
// arrive) against a plain `a += w * b` loop over the same bytes, in GB/s of update consumed.
#include "suites.hpp"

#include <cohort/aggregation.hpp>

#include <ATen/ops/full.h>

namespace cohort::bench {

namespace {

using Clock = std::chrono::steady_clock;

double plain_loop(std::vector<float>& acc, const std::vector<float>& update, int clients) {
  const auto start = Clock::now();
  for (int c = 0; c < clients; ++c) {
    const float w = 1.0f + static_cast<float>(c);
    float* a = acc.data();
    const float* b = update.data();
    const std::size_t n = acc.size();
    for (std::size_t i = 0; i < n; ++i) a[i] += w * b[i];
  }
  const double seconds = std::chrono::duration<double>(Clock::now() - start).count();
  return static_cast<double>(clients) * update.size() * sizeof(float) / seconds / 1e9;
}

double streaming(const Model& reference, const Model& update, int clients) {
  WeightedAverage average(reference, {});
  const auto start = Clock::now();
  for (int c = 0; c < clients; ++c)
    feed(average, ResultInfo{"site-" + std::to_string(c), 0, c + 1, {}}, update);
  const double seconds = std::chrono::duration<double>(Clock::now() - start).count();
  average.result(reference);
  return static_cast<double>(clients) * update.byte_size() / seconds / 1e9;
}

}  // namespace

std::vector<Row> aggregation(const Context& ctx) {
  const std::int64_t elements = ctx.quick ? (16 << 20) / 4 : (256 << 20) / 4;  // 256 MiB of float32
  const int clients = 8, runs = ctx.quick ? 2 : 5;
  Model reference, update;
  for (int i = 0; i < 4; ++i) {
    reference.tensors.push_back({"w" + std::to_string(i), at::full({elements / 4}, 0.5f)});
    update.tensors.push_back({"w" + std::to_string(i), at::full({elements / 4}, 1.5f)});
  }
  std::vector<float> acc(static_cast<std::size_t>(elements), 0.0f), upd(static_cast<std::size_t>(elements), 1.5f);
  std::vector<double> ours, baseline;
  for (int r = 0; r < runs; ++r) {
    baseline.push_back(plain_loop(acc, upd, clients));
    ours.push_back(streaming(reference, update, clients));
  }
  Row row;
  row.benchmark = "aggregation";
  row.setting = std::to_string(clients) + " updates of " + std::to_string(elements * 4 >> 20) + " MiB, 1 MiB chunks";
  row.figure = stats(ours);
  row.unit = "GB/s of update folded";
  row.baseline = stats(baseline);
  row.baseline_unit = "GB/s plain a += w*b loop";
  const double ratio = row.figure.median / row.baseline->median;
  row.goal = ">= 0.5 × loop";
  row.met = ratio >= 0.5;
  row.note = "ratio " + std::to_string(ratio).substr(0, 5);
  return {row};
}

}  // namespace cohort::bench
