#include "jobs/job_files.hpp"

#include <cstdio>
#include <sstream>
#include <variant>

namespace cohort::jobs {

namespace {

/// Decimals that mean "every significant digit" (%.17g: the number reads back bit for bit).
constexpr int kExact = -1;

/// One column of a row type: its name, the member it holds, and the digits written after
/// the point for numbers. A file's columns are listed once, below, for writer and reader.
template <class Row>
struct Column {
  using Member = std::variant<std::int64_t Row::*, std::uint64_t Row::*, double Row::*, std::optional<std::int64_t> Row::*,
                              std::optional<double> Row::*, std::string Row::*>;
  const char* name;
  Member member;
  int decimals = 2;
};

const Column<RoundRow> kRoundColumns[] = {
    {"round", &RoundRow::round},
    {"seconds", &RoundRow::seconds, 4},
    {"results", &RoundRow::results},
    {"failed", &RoundRow::failed},
    {"server_rss_mb", &RoundRow::server_rss_mb},
    {"server_round_peak_rss_mb", &RoundRow::server_round_peak_rss_mb},
    {"server_alloc_free_mb", &RoundRow::server_alloc_free_mb},
    {"server_rss_before_round_mb", &RoundRow::server_rss_before_round_mb},
    {"server_tensor_mb", &RoundRow::server_tensor_mb},
    {"model_mb", &RoundRow::model_mb},
    {"epsilon", &RoundRow::epsilon, kExact},
};

const Column<MemoryRow> kMemoryColumns[] = {
    {"elapsed_s", &MemoryRow::elapsed_s, 3},
    {"rss_mb", &MemoryRow::rss_mb},
    {"peak_rss_mb", &MemoryRow::peak_rss_mb},
    {"children_rss_mb", &MemoryRow::children_rss_mb},
    {"alloc_live_mb", &MemoryRow::alloc_live_mb},
    {"alloc_free_mb", &MemoryRow::alloc_free_mb},
    {"tensor_mb", &MemoryRow::tensor_mb},
    {"sys_total_mb", &MemoryRow::sys_total_mb, 1},
    {"sys_available_mb", &MemoryRow::sys_available_mb, 1},
    {"sys_used_percent", &MemoryRow::sys_used_percent},
    {"cpu_percent", &MemoryRow::cpu_percent, 1},
    {"cleanups", &MemoryRow::cleanups},
    {"round", &MemoryRow::round},
    {"allocator", &MemoryRow::allocator},
};

const Column<TimelineRow> kTimelineColumns[] = {
    {"round", &TimelineRow::round},
    {"broadcast", &TimelineRow::broadcast},
    {"task", &TimelineRow::task},
    {"site", &TimelineRow::site},
    {"event", &TimelineRow::event},
    {"seconds", &TimelineRow::seconds, 6},
};

/// metrics.csv's columns: round, site, these metrics by name, then every other metric as
/// name=value;name=value in `extra`.
const std::vector<std::string> kNamedMetrics{"loss", "accuracy", "examples", "seconds"};

std::string number_text(double value, int decimals) {
  if (decimals != kExact) return fixed(value, decimals);
  char text[64];
  std::snprintf(text, sizeof text, "%.17g", value);
  return text;
}

/// Up to 6 significant digits ("0.84293", "1e-05"), as metrics are written.
std::string general(double value) {
  char text[64];
  std::snprintf(text, sizeof text, "%.6g", value);
  return text;
}

template <class Row, std::size_t N>
std::vector<std::string> names(const Column<Row> (&columns)[N]) {
  std::vector<std::string> out;
  for (const auto& c : columns) out.push_back(c.name);
  return out;
}

template <class Row, std::size_t N>
std::vector<std::string> cells(const Column<Row> (&columns)[N], const Row& row) {
  std::vector<std::string> out;
  for (const auto& c : columns) {
    out.push_back(std::visit(
        [&](auto member) -> std::string {
          const auto& v = row.*member;
          using V = std::decay_t<decltype(v)>;
          if constexpr (std::is_same_v<V, std::string>) return v;
          else if constexpr (std::is_same_v<V, double>) return fixed(v, c.decimals);
          else if constexpr (std::is_same_v<V, std::optional<double>>) return v ? number_text(*v, c.decimals) : "";
          else if constexpr (std::is_same_v<V, std::optional<std::int64_t>>) return v ? std::to_string(*v) : "";
          else return std::to_string(v);
        },
        c.member));
  }
  return out;
}

template <class Row, std::size_t N>
Row parse(const Column<Row> (&columns)[N], const CsvTable::Row& cells) {
  Row row;
  for (const auto& c : columns) {
    std::visit(
        [&](auto member) {
          auto& v = row.*member;
          using V = std::decay_t<decltype(v)>;
          const auto number = cells.number(c.name);
          if constexpr (std::is_same_v<V, std::string>) v = cells.text(c.name);
          else if constexpr (std::is_same_v<V, std::optional<double>>) v = number;
          else if constexpr (std::is_same_v<V, std::optional<std::int64_t>>) {
            if (number) v = static_cast<std::int64_t>(*number);
          } else if (number) {
            v = static_cast<V>(*number);
          }
        },
        c.member);
  }
  return row;
}

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

namespace {

// The four files, by row type: header, cells of a row, row of cells.
std::vector<std::string> header_of(const RoundRow*) { return names(kRoundColumns); }
std::vector<std::string> cells_of(const RoundRow& row) { return cells(kRoundColumns, row); }
void parse_into(RoundRow& row, const CsvTable::Row& cells) { row = parse(kRoundColumns, cells); }

std::vector<std::string> header_of(const MemoryRow*) { return names(kMemoryColumns); }
std::vector<std::string> cells_of(const MemoryRow& row) { return cells(kMemoryColumns, row); }
void parse_into(MemoryRow& row, const CsvTable::Row& cells) { row = parse(kMemoryColumns, cells); }

std::vector<std::string> header_of(const TimelineRow*) { return names(kTimelineColumns); }
std::vector<std::string> cells_of(const TimelineRow& row) { return cells(kTimelineColumns, row); }
void parse_into(TimelineRow& row, const CsvTable::Row& cells) { row = parse(kTimelineColumns, cells); }

std::vector<std::string> header_of(const MetricsRow*) { return metrics_columns(); }

std::vector<std::string> cells_of(const MetricsRow& r) {
  std::vector<std::string> cells{std::to_string(r.round), r.site};
  for (const auto& name : kNamedMetrics) {
    auto it = r.metrics.find(name);
    cells.push_back(it == r.metrics.end() ? std::string() : general(it->second));
  }
  std::string extra;
  for (const auto& [name, value] : r.metrics) {
    if (!is_named_metric(name)) extra += (extra.empty() ? "" : ";") + name + "=" + general(value);
  }
  cells.push_back(extra);
  return cells;
}

void parse_into(MetricsRow& r, const CsvTable::Row& row) {
  r.round = static_cast<std::int64_t>(row.number("round").value_or(0));
  r.site = row.text("site");
  for (const auto& name : kNamedMetrics) {
    if (auto v = row.number(name)) r.metrics[name] = *v;
  }
  std::istringstream extra(row.text("extra"));
  std::string pair;
  while (std::getline(extra, pair, ';')) {
    const auto eq = pair.find('=');
    char* end = nullptr;
    const double value = eq == std::string::npos ? 0 : std::strtod(pair.c_str() + eq + 1, &end);
    // A value that is not a number is not a metric.
    if (eq != std::string::npos && end == pair.c_str() + pair.size()) r.metrics[pair.substr(0, eq)] = value;
  }
}

}  // namespace

template <class Row>
RowWriter<Row>::RowWriter(const std::filesystem::path& file) : csv_(file, header_of(static_cast<const Row*>(nullptr))) {}

template <class Row>
void RowWriter<Row>::append(const Row& row) {
  csv_.append(cells_of(row));
}

template <class Row>
std::vector<Row> read_rows(const std::filesystem::path& file) {
  std::vector<Row> out;
  for (const auto& cells : CsvTable::read(file).rows()) parse_into(out.emplace_back(), cells);
  return out;
}

template class RowWriter<RoundRow>;
template class RowWriter<MetricsRow>;
template class RowWriter<MemoryRow>;
template class RowWriter<TimelineRow>;
template std::vector<RoundRow> read_rows<RoundRow>(const std::filesystem::path&);
template std::vector<MetricsRow> read_rows<MetricsRow>(const std::filesystem::path&);
template std::vector<MemoryRow> read_rows<MemoryRow>(const std::filesystem::path&);
template std::vector<TimelineRow> read_rows<TimelineRow>(const std::filesystem::path&);

std::optional<double> privacy_spent(const std::vector<RoundRow>& rounds) {
  return rounds.empty() ? std::nullopt : rounds.back().epsilon;
}

}  // namespace cohort::jobs
