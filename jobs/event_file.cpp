#include "jobs/event_file.hpp"

#include <cohort/error.hpp>

#include <boost/crc.hpp>

#include <unistd.h>

#include <bit>
#include <cerrno>
#include <chrono>
#include <cstring>

namespace cohort::jobs {

namespace {

// Protocol buffers' wire types.
constexpr unsigned kVarint = 0, kFixed64 = 1, kLengthDelimited = 2, kFixed32 = 5;

void varint(std::string& out, std::uint64_t v) {
  while (v >= 0x80) {
    out.push_back(static_cast<char>((v & 0x7f) | 0x80));
    v >>= 7;
  }
  out.push_back(static_cast<char>(v));
}

void key(std::string& out, unsigned field, unsigned wire_type) { varint(out, (field << 3) | wire_type); }

template <class T>
void little_endian(std::string& out, T v) {
  for (unsigned i = 0; i < sizeof(T); ++i) out.push_back(static_cast<char>((v >> (8 * i)) & 0xff));
}

void bytes_field(std::string& out, unsigned field, std::string_view bytes) {
  key(out, field, kLengthDelimited);
  varint(out, bytes.size());
  out.append(bytes);
}

/// Event's wall_time (1) and step (2), which every event starts with.
std::string event_head(double wall_time, std::int64_t step) {
  std::string out;
  key(out, 1, kFixed64);
  little_endian(out, std::bit_cast<std::uint64_t>(wall_time));
  key(out, 2, kVarint);  // step 0 too: written, not left to the default
  varint(out, static_cast<std::uint64_t>(step));
  return out;
}

std::string host_name() {
  char name[256] = {};
  if (::gethostname(name, sizeof name - 1) != 0 || !name[0]) return "localhost";
  return name;
}

}  // namespace

std::uint32_t crc32c(std::string_view data) {
  boost::crc_optimal<32, 0x1EDC6F41, 0xFFFFFFFF, 0xFFFFFFFF, true, true> crc;
  crc.process_bytes(data.data(), data.size());
  return crc.checksum();
}

std::uint32_t masked_crc32c(std::string_view data) {
  const std::uint32_t crc = crc32c(data);
  return ((crc >> 15) | (crc << 17)) + 0xa282ead8u;
}

std::string scalar_event(double wall_time, std::int64_t step, std::string_view tag, float value) {
  std::string summary_value;
  bytes_field(summary_value, 1, tag);
  key(summary_value, 2, kFixed32);
  little_endian(summary_value, std::bit_cast<std::uint32_t>(value));
  std::string summary;
  bytes_field(summary, 1, summary_value);
  std::string event = event_head(wall_time, step);
  bytes_field(event, 5, summary);
  return event;
}

std::string file_version_event(double wall_time) {
  std::string event = event_head(wall_time, 0);
  bytes_field(event, 3, "brain.Event:2");
  return event;
}

std::string tfrecord(std::string_view record) {
  std::string out;
  std::string length;
  little_endian(length, static_cast<std::uint64_t>(record.size()));
  out += length;
  little_endian(out, masked_crc32c(length));
  out.append(record);
  little_endian(out, masked_crc32c(record));
  return out;
}

double wall_time_now() {
  const auto since = std::chrono::system_clock::now().time_since_epoch();
  return static_cast<double>(std::chrono::duration_cast<std::chrono::microseconds>(since).count()) / 1e6;
}

EventFileWriter::EventFileWriter(const std::filesystem::path& folder) {
  std::filesystem::create_directories(folder);
  const double now = wall_time_now();
  file_ = folder / ("events.out.tfevents." + std::to_string(static_cast<std::int64_t>(now)) + "." + host_name());
  // A second writer in the same second (a resumed job) gets a name of its own.
  for (int n = 1; std::filesystem::exists(file_); ++n)
    file_ = folder / ("events.out.tfevents." + std::to_string(static_cast<std::int64_t>(now)) + "." + host_name() + "." +
                      std::to_string(n));
  out_ = std::fopen(file_.c_str(), "wb");
  if (!out_) throw IoError::from_errno(file_, "create", errno);
  write(tfrecord(file_version_event(now)));
  flush();
}

EventFileWriter::~EventFileWriter() {
  if (out_) std::fclose(out_);
}

void EventFileWriter::add_scalar(std::string_view tag, float value, std::int64_t step, double wall_time) {
  append_scalar(tag, value, step, wall_time);
  flush();
}

void EventFileWriter::append_scalar(std::string_view tag, float value, std::int64_t step, double wall_time) {
  write(tfrecord(scalar_event(wall_time, step, tag, value)));
}

void EventFileWriter::flush() {
  std::lock_guard lock(mutex_);
  if (out_ && std::fflush(out_) != 0) throw IoError::from_errno(file_, "write", errno);
}

void EventFileWriter::close() {
  std::lock_guard lock(mutex_);
  if (!out_) return;
  const bool closed = std::fclose(std::exchange(out_, nullptr)) == 0;
  if (!closed) throw IoError::from_errno(file_, "write", errno);
}

void EventFileWriter::write(const std::string& record) {
  std::lock_guard lock(mutex_);
  if (!out_ && !(out_ = std::fopen(file_.c_str(), "ab"))) throw IoError::from_errno(file_, "open", errno);
  if (std::fwrite(record.data(), 1, record.size(), out_) != record.size()) throw IoError::from_errno(file_, "write", errno);
}

}  // namespace cohort::jobs
