#include "jobs/memory_trend.hpp"

namespace cohort::jobs {

std::map<std::int64_t, double> by_round(const std::filesystem::path& memory_csv, double MemoryRow::*column) {
  std::map<std::int64_t, double> out;
  for (const auto& r : read_memory(memory_csv)) out[r.round] = r.*column;
  return out;
}

double slope(const std::map<std::int64_t, double>& values, std::int64_t from, std::int64_t to) {
  double n = 0, sx = 0, sy = 0, sxx = 0, sxy = 0;
  for (const auto& [round, value] : values) {
    if (round < from || round > to) continue;
    n += 1;
    sx += static_cast<double>(round);
    sy += value;
    sxx += static_cast<double>(round) * static_cast<double>(round);
    sxy += static_cast<double>(round) * value;
  }
  const double d = n * sxx - sx * sx;
  return n > 1 && d != 0 ? (n * sxy - sx * sy) / d : 0;
}

}  // namespace cohort::jobs
