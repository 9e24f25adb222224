#include "job_directory.hpp"

#include <cstdio>
#include <fstream>
#include <random>
#include <sstream>
#include <stdexcept>

namespace cohort::jobs {

std::string new_job_id() {
  std::random_device device;
  std::uniform_int_distribution<unsigned> byte(0, 255);
  unsigned char b[16];
  for (auto& x : b) x = static_cast<unsigned char>(byte(device));
  b[6] = (b[6] & 0x0f) | 0x40;  // version 4
  b[8] = (b[8] & 0x3f) | 0x80;  // RFC 4122 variant
  char text[37];
  std::snprintf(text, sizeof text, "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x",
                b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11], b[12], b[13], b[14], b[15]);
  return text;
}

JobDirectory::JobDirectory(const std::filesystem::path& workspace, const std::string& job_id)
    : root_(workspace / "jobs" / job_id) {}

std::filesystem::path JobDirectory::artifact(const std::string& tag) const {
  if (tag == "global") return root_ / "global_model.pt";
  if (tag == "best") return root_ / "best_model.pt";
  return root_ / (tag + ".pt");
}

void JobDirectory::create() const {
  std::filesystem::create_directories(root_ / "memory");
  std::filesystem::create_directories(root_ / "logs");
}

CsvLog::CsvLog(std::filesystem::path file, std::string header) {
  if (file.has_parent_path()) std::filesystem::create_directories(file.parent_path());
  const bool fresh = !std::filesystem::exists(file) || std::filesystem::file_size(file) == 0;
  file_ = std::fopen(file.c_str(), "a");
  if (!file_) throw std::runtime_error("cannot write " + file.string());
  if (fresh) append(header);
}

CsvLog::~CsvLog() {
  if (file_) std::fclose(file_);
}

void CsvLog::append(const std::string& row) {
  std::lock_guard lock(mutex_);
  std::fputs(row.c_str(), file_);
  std::fputc('\n', file_);
  std::fflush(file_);
}

std::string metrics_row(std::int64_t round, const std::string& site, const std::map<std::string, double>& metrics) {
  std::ostringstream out;
  out.precision(6);
  out << round << "," << site;
  for (const char* column : {"loss", "accuracy", "examples", "seconds"}) {
    out << ",";
    if (auto it = metrics.find(column); it != metrics.end()) out << it->second;
  }
  out << ",";
  bool first = true;
  for (const auto& [name, value] : metrics) {
    if (name == "loss" || name == "accuracy" || name == "examples" || name == "seconds") continue;
    out << (first ? "" : ";") << name << "=" << value;
    first = false;
  }
  return out.str();
}

}  // namespace cohort::jobs
