#include "jobs/csv.hpp"

#include <cohort/error.hpp>
#include <csv.h>

#include <cstdlib>
#include <fstream>
#include <sstream>
#include <stdexcept>

namespace cohort::jobs {

CsvWriter::CsvWriter(const std::filesystem::path& file, std::vector<std::string> columns) : columns_(columns.size()) {
  if (file.has_parent_path()) std::filesystem::create_directories(file.parent_path());
  std::error_code ec;
  const bool fresh = !std::filesystem::exists(file, ec) || std::filesystem::file_size(file, ec) == 0;
  file_ = std::fopen(file.c_str(), "a");
  if (!file_) throw IoError(file, "cannot write");
  if (fresh) write_row(columns);
}

CsvWriter::~CsvWriter() {
  if (file_) std::fclose(file_);
}

void CsvWriter::append(const std::vector<std::string>& cells) {
  if (cells.size() != columns_)
    throw std::invalid_argument("a CSV row of " + std::to_string(cells.size()) + " cells for " +
                                std::to_string(columns_) + " columns");
  std::lock_guard lock(mutex_);
  write_row(cells);
}

void CsvWriter::write_row(const std::vector<std::string>& cells) {
  // One buffer, one write: a reader never sees part of a row.
  std::string line;
  for (std::size_t i = 0; i < cells.size(); ++i) {
    if (i) line += ',';
    const std::string& cell = cells[i];
    if (cell.find_first_of(",\"\r\n") == std::string::npos) {
      line += cell;
      continue;
    }
    std::string quoted(cell.size() * 2 + 2, '\0');
    quoted.resize(csv_write(quoted.data(), quoted.size(), cell.data(), cell.size()));
    line += quoted;
  }
  line += '\n';
  std::fwrite(line.data(), 1, line.size(), file_);
  std::fflush(file_);
}

const std::string& CsvTable::Row::text(const std::string& column) const {
  static const std::string empty;
  auto it = index_->find(column);
  return it != index_->end() && it->second < cells_.size() ? cells_[it->second] : empty;
}

std::optional<double> CsvTable::Row::number(const std::string& column) const {
  const std::string& cell = text(column);
  if (cell.empty()) return std::nullopt;
  char* end = nullptr;
  const double value = std::strtod(cell.c_str(), &end);
  if (end != cell.c_str() + cell.size()) return std::nullopt;
  return value;
}

namespace {

struct Parsed {
  std::vector<std::vector<std::string>> rows;
  std::vector<std::string> row;
};

void on_field(void* data, std::size_t size, void* out) {
  static_cast<Parsed*>(out)->row.emplace_back(data ? static_cast<const char*>(data) : "", data ? size : 0);
}

void on_row(int, void* out) {
  auto* parsed = static_cast<Parsed*>(out);
  parsed->rows.push_back(std::move(parsed->row));
  parsed->row.clear();
}

}  // namespace

CsvTable CsvTable::read(const std::filesystem::path& file) {
  CsvTable table;
  std::ifstream in(file, std::ios::binary);
  if (!in) return table;
  std::ostringstream text;
  text << in.rdbuf();
  std::string bytes = text.str();
  bytes.erase(bytes.find_last_of('\n') == std::string::npos ? 0 : bytes.find_last_of('\n') + 1);

  csv_parser parser;
  if (csv_init(&parser, CSV_APPEND_NULL) != 0) throw std::runtime_error("cannot start a CSV parser");
  Parsed parsed;
  if (csv_parse(&parser, bytes.data(), bytes.size(), on_field, on_row, &parsed) != bytes.size() ||
      csv_fini(&parser, on_field, on_row, &parsed) != 0) {
    const std::string error = csv_strerror(csv_error(&parser));
    csv_free(&parser);
    throw IoError(file, error);
  }
  csv_free(&parser);
  if (parsed.rows.empty()) return table;
  table.columns_ = std::move(parsed.rows.front());
  auto index = std::make_shared<Row::Index>();
  for (std::size_t i = 0; i < table.columns_.size(); ++i) (*index)[table.columns_[i]] = i;
  table.index_ = index;
  for (std::size_t i = 1; i < parsed.rows.size(); ++i) table.rows_.push_back(Row(index, std::move(parsed.rows[i])));
  return table;
}

std::string fixed(double value, int decimals) {
  char text[64];
  std::snprintf(text, sizeof text, "%.*f", decimals, value);
  return text;
}

}  // namespace cohort::jobs
