#include "jobs/job_files.hpp"

#include <cstdio>
#include <sstream>

namespace cohort::jobs {

namespace {

/// Up to 6 significant digits ("0.84293", "1e-05"), as metrics are written.
std::string general(double value) {
  char text[64];
  std::snprintf(text, sizeof text, "%.6g", value);
  return text;
}

std::string optional_cell(const std::optional<double>& value, int decimals) {
  return value ? fixed(*value, decimals) : std::string();
}

std::string optional_cell(const std::optional<std::int64_t>& value) {
  return value ? std::to_string(*value) : std::string();
}

std::optional<std::int64_t> optional_integer(const CsvTable::Row& row, const std::string& column) {
  auto v = row.number(column);
  return v ? std::optional<std::int64_t>(static_cast<std::int64_t>(*v)) : std::nullopt;
}

double number_or(const CsvTable::Row& row, const std::string& column, double fallback) {
  return row.number(column).value_or(fallback);
}

const std::vector<std::string> kRoundColumns{"round", "seconds", "results", "failed", "server_rss_mb",
                                             "server_round_peak_rss_mb", "server_alloc_free_mb",
                                             "server_rss_before_round_mb", "server_tensor_mb", "model_mb"};

/// metrics.csv's named columns; every other metric goes to `extra`.
const std::vector<std::string> kNamedMetrics{"loss", "accuracy", "examples", "seconds"};

const std::vector<std::string> kMemoryColumns{"elapsed_s", "rss_mb", "peak_rss_mb", "alloc_live_mb", "alloc_free_mb",
                                              "tensor_mb", "sys_total_mb", "sys_available_mb", "sys_used_percent",
                                              "cpu_percent", "cleanups", "round", "allocator"};

std::vector<std::string> metrics_columns() {
  std::vector<std::string> columns{"round", "site"};
  columns.insert(columns.end(), kNamedMetrics.begin(), kNamedMetrics.end());
  columns.push_back("extra");
  return columns;
}

bool is_named_metric(const std::string& name) {
  for (const auto& n : kNamedMetrics) {
    if (n == name) return true;
  }
  return false;
}

}  // namespace

RoundsWriter::RoundsWriter(const std::filesystem::path& file) : csv_(file, kRoundColumns) {}

void RoundsWriter::append(const RoundRow& r) {
  csv_.append({std::to_string(r.round), fixed(r.seconds, 4), optional_cell(r.results), optional_cell(r.failed),
               fixed(r.server_rss_mb, 2), fixed(r.server_round_peak_rss_mb, 2), fixed(r.server_alloc_free_mb, 2),
               fixed(r.server_rss_before_round_mb, 2), optional_cell(r.server_tensor_mb, 2), fixed(r.model_mb, 2)});
}

std::vector<RoundRow> read_rounds(const std::filesystem::path& file) {
  std::vector<RoundRow> out;
  for (const auto& row : CsvTable::read(file).rows()) {
    RoundRow r;
    r.round = optional_integer(row, "round").value_or(0);
    r.seconds = number_or(row, "seconds", 0);
    r.results = optional_integer(row, "results");
    r.failed = optional_integer(row, "failed");
    r.server_rss_mb = number_or(row, "server_rss_mb", 0);
    r.server_round_peak_rss_mb = number_or(row, "server_round_peak_rss_mb", 0);
    r.server_alloc_free_mb = number_or(row, "server_alloc_free_mb", 0);
    r.server_rss_before_round_mb = number_or(row, "server_rss_before_round_mb", 0);
    r.server_tensor_mb = row.number("server_tensor_mb");
    r.model_mb = number_or(row, "model_mb", 0);
    out.push_back(r);
  }
  return out;
}

MetricsWriter::MetricsWriter(const std::filesystem::path& file) : csv_(file, metrics_columns()) {}

void MetricsWriter::append(const MetricsRow& r) {
  std::vector<std::string> cells{std::to_string(r.round), r.site};
  for (const auto& name : kNamedMetrics) {
    auto it = r.metrics.find(name);
    cells.push_back(it == r.metrics.end() ? std::string() : general(it->second));
  }
  std::string extra;
  for (const auto& [name, value] : r.metrics) {
    if (is_named_metric(name)) continue;
    extra += (extra.empty() ? "" : ";") + name + "=" + general(value);
  }
  cells.push_back(extra);
  csv_.append(cells);
}

std::vector<MetricsRow> read_metrics(const std::filesystem::path& file) {
  std::vector<MetricsRow> out;
  for (const auto& row : CsvTable::read(file).rows()) {
    MetricsRow r;
    r.round = optional_integer(row, "round").value_or(0);
    r.site = row.text("site");
    for (const auto& name : kNamedMetrics) {
      if (auto v = row.number(name)) r.metrics[name] = *v;
    }
    std::istringstream extra(row.text("extra"));
    std::string pair;
    while (std::getline(extra, pair, ';')) {
      const auto eq = pair.find('=');
      if (eq == std::string::npos) continue;
      try {
        r.metrics[pair.substr(0, eq)] = std::stod(pair.substr(eq + 1));
      } catch (const std::exception&) {
        // a value that is not a number is not a metric
      }
    }
    out.push_back(std::move(r));
  }
  return out;
}

MemoryWriter::MemoryWriter(const std::filesystem::path& file) : csv_(file, kMemoryColumns) {}

void MemoryWriter::append(const MemoryRow& r) {
  csv_.append({fixed(r.elapsed_s, 3), fixed(r.rss_mb, 2), fixed(r.peak_rss_mb, 2), fixed(r.alloc_live_mb, 2),
               fixed(r.alloc_free_mb, 2), optional_cell(r.tensor_mb, 2), fixed(r.sys_total_mb, 1),
               fixed(r.sys_available_mb, 1), fixed(r.sys_used_percent, 2), fixed(r.cpu_percent, 1),
               std::to_string(r.cleanups), std::to_string(r.round), r.allocator});
}

std::vector<MemoryRow> read_memory(const std::filesystem::path& file) {
  std::vector<MemoryRow> out;
  for (const auto& row : CsvTable::read(file).rows()) {
    MemoryRow r;
    r.elapsed_s = number_or(row, "elapsed_s", 0);
    r.rss_mb = number_or(row, "rss_mb", 0);
    r.peak_rss_mb = number_or(row, "peak_rss_mb", 0);
    r.alloc_live_mb = number_or(row, "alloc_live_mb", 0);
    r.alloc_free_mb = number_or(row, "alloc_free_mb", 0);
    r.tensor_mb = row.number("tensor_mb");
    r.sys_total_mb = number_or(row, "sys_total_mb", 0);
    r.sys_available_mb = number_or(row, "sys_available_mb", 0);
    r.sys_used_percent = number_or(row, "sys_used_percent", 0);
    r.cpu_percent = number_or(row, "cpu_percent", 0);
    r.cleanups = static_cast<std::uint64_t>(number_or(row, "cleanups", 0));
    r.round = optional_integer(row, "round").value_or(-1);
    r.allocator = row.text("allocator");
    out.push_back(std::move(r));
  }
  return out;
}

}  // namespace cohort::jobs
