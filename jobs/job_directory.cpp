#include "jobs/job_directory.hpp"

#include "config/text_file.hpp"

#include <cstdio>
#include <fstream>
#include <random>
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

JobDirectory JobDirectory::at(const std::filesystem::path& root) {
  JobDirectory directory(root, "");
  directory.root_ = root;
  return directory;
}

std::filesystem::path JobDirectory::artifact(const std::string& tag) const {
  if (tag == "global") return root_ / "global_model.pt";
  if (tag == "best") return root_ / "best_model.pt";
  return root_ / (tag + ".pt");
}

void JobDirectory::create() const {
  std::filesystem::create_directories(root_ / "memory");
  std::filesystem::create_directories(root_ / "logs");
}

void JobDirectory::write_status(JobState state, const std::string& message) const {
  config::write_text_file(status_file(), std::string(to_string(state)) + "\n" + message + "\n");
}

std::optional<JobDirectory::Status> JobDirectory::read_status() const {
  std::ifstream in(status_file());
  std::string state, message;
  if (!std::getline(in, state)) return std::nullopt;
  std::getline(in, message);
  auto parsed = parse_job_state(state);
  if (!parsed) return std::nullopt;
  return Status{*parsed, message};
}

}  // namespace cohort::jobs
