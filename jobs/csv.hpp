#pragma once
// CSV files as jobs/ writes and reads them: a header of column names, then rows; cells are
// quoted only when they must be (RFC 4180, via libcsv). Readers look cells up by column
// name, so a column added later breaks no reader.

#include <cstdio>
#include <filesystem>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

namespace cohort::jobs {

/// Appends rows to a CSV file with a fixed header; each row is flushed at once, so a
/// reader (or a crash) never sees half a row. Thread-safe.
class CsvWriter {
 public:
  /// Opens `file` for appending (creating its folder); writes `columns` when it is new or
  /// empty. Throws std::runtime_error naming the file when it cannot be written.
  CsvWriter(const std::filesystem::path& file, std::vector<std::string> columns);
  ~CsvWriter();
  CsvWriter(const CsvWriter&) = delete;
  CsvWriter& operator=(const CsvWriter&) = delete;

  /// Appends one row: a cell per column, in the header's order.
  void append(const std::vector<std::string>& cells);

 private:
  void write_row(const std::vector<std::string>& cells);

  std::mutex mutex_;
  std::FILE* file_ = nullptr;
  std::size_t columns_ = 0;
};

/// A whole CSV file, read once.
class CsvTable {
 public:
  /// One row; cells are looked up by column name.
  class Row {
   public:
    /// The cell of `column`; "" when the row is short or the file has no such column (a
    /// file written before the column existed reads as if it were empty).
    const std::string& text(const std::string& column) const;
    /// The cell as a number; nothing when it is empty or not a number.
    std::optional<double> number(const std::string& column) const;

   private:
    friend class CsvTable;
    using Index = std::map<std::string, std::size_t>;
    Row(std::shared_ptr<const Index> index, std::vector<std::string> cells)
        : index_(std::move(index)), cells_(std::move(cells)) {}
    std::shared_ptr<const Index> index_;
    std::vector<std::string> cells_;
  };

  /// Reads `file`. A missing file is an empty table; a last line without its newline (a
  /// row being written right now) is left out.
  static CsvTable read(const std::filesystem::path& file);

  const std::vector<std::string>& columns() const { return columns_; }
  bool has_column(const std::string& column) const { return index_ && index_->count(column) > 0; }
  const std::vector<Row>& rows() const& { return rows_; }
  /// From a temporary table (`CsvTable::read(f).rows()` in a range-for), the rows move out.
  std::vector<Row> rows() && { return std::move(rows_); }

 private:
  std::vector<std::string> columns_;
  std::shared_ptr<const Row::Index> index_;
  std::vector<Row> rows_;
};

/// `value` with `decimals` digits after the point ("1.50"), for CSV cells.
std::string fixed(double value, int decimals);

}  // namespace cohort::jobs
