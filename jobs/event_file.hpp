#pragma once
// TensorBoard's event files, as `tensorboard --logdir` reads them: a file
// events.out.tfevents.<seconds>.<host> of TFRecord records (the record's length as 8 bytes
// little-endian, the masked CRC-32C of those 8 bytes, the record, the masked CRC-32C of the
// record), each record one `Event` protocol buffer; the first carries file_version
// "brain.Event:2", the others one scalar each (`Summary.Value.simple_value`).
//
// The three messages are encoded here by hand rather than with Debian's libprotobuf: five
// fields of fixed numbers (Event: wall_time 1, step 2, file_version 3, summary 5; Summary:
// value 1; Value: tag 1, simple_value 2) need no generated code, no protoc at build time and
// no library in the light `cohort` executable, and a scalar is encoded without allocating.
// CRC-32C is Boost.CRC's.

#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <mutex>
#include <string>
#include <string_view>

namespace cohort::jobs {

/// CRC-32C (Castagnoli) of `data`.
std::uint32_t crc32c(std::string_view data);
/// TFRecord's masked CRC: the CRC rotated right by 15 bits plus 0xa282ead8.
std::uint32_t masked_crc32c(std::string_view data);

/// The `Event` of one scalar (unframed).
std::string scalar_event(double wall_time, std::int64_t step, std::string_view tag, float value);
/// The `Event` that opens a file: file_version "brain.Event:2".
std::string file_version_event(double wall_time);
/// `record` framed as a TFRecord.
std::string tfrecord(std::string_view record);

/// The seconds since the epoch now, to the microsecond.
double wall_time_now();

/// Appends scalar events to a new event file of `folder`. Thread-safe; each record is
/// written whole, and add_scalar (or flush, after append_scalar) flushes, so that
/// TensorBoard reading the file meanwhile sees whole records.
class EventFileWriter {
 public:
  /// Creates `folder` and events.out.tfevents.<seconds>.<host> in it, with its first record.
  explicit EventFileWriter(const std::filesystem::path& folder);
  ~EventFileWriter();
  EventFileWriter(const EventFileWriter&) = delete;
  EventFileWriter& operator=(const EventFileWriter&) = delete;

  void add_scalar(std::string_view tag, float value, std::int64_t step, double wall_time);
  /// add_scalar without the flush: for a batch, then flush().
  void append_scalar(std::string_view tag, float value, std::int64_t step, double wall_time);
  void flush();
  /// Flushes and closes the file; the next record opens it again, to append.
  void close();
  const std::filesystem::path& file() const { return file_; }

 private:
  void write(const std::string& record);

  std::filesystem::path file_;
  std::mutex mutex_;
  std::FILE* out_ = nullptr;
};

}  // namespace cohort::jobs
