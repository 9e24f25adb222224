#include "jobs/job_directory.hpp"

#include <cohort/error.hpp>
#include <ctime>

#include "config/text_file.hpp"

#include <algorithm>
#include <cstdio>
#include <fstream>
#include <random>
#include <stdexcept>

namespace cohort::jobs {

std::string timestamp(const char* format) {
  std::time_t now = std::time(nullptr);
  char text[64];
  std::strftime(text, sizeof text, format, std::localtime(&now));
  return text;
}

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

std::filesystem::path app_path(std::string_view text) {
  std::string shown(text);  // as an error may print it: control characters as '?'
  for (char& c : shown)
    if (static_cast<unsigned char>(c) < 0x20) c = '?';
  auto refuse = [&](const std::string& why) -> std::filesystem::path {
    throw std::invalid_argument("job file '" + shown + "': " + why);
  };
  if (text.empty()) return refuse("an empty path");
  if (text.size() > 4096) return refuse("longer than 4096 bytes");
  if (text.find('\\') != std::string_view::npos || text.find('\0') != std::string_view::npos)
    return refuse("a backslash or a NUL in it");
  const std::filesystem::path path{std::string(text)};
  if (path.is_absolute()) return refuse("an absolute path");
  if (path.lexically_normal().generic_string() != text) return refuse("not a normalized path");
  for (const auto& part : path) {
    const std::string name = part.string();
    if (name.empty()) return refuse("a trailing slash");
    if (name == "." || name == "..") return refuse("'" + name + "' in it");
    if (name.front() == '.') return refuse("a hidden name '" + name + "' in it");
  }
  return path;
}

JobDirectory::JobDirectory(const std::filesystem::path& workspace, const std::string& job_id)
    : root_(workspace / "jobs" / job_id) {}

JobDirectory JobDirectory::at(const std::filesystem::path& root) {
  JobDirectory directory(root, "");
  directory.root_ = root;
  return directory;
}

JobDirectory JobDirectory::only_job(const std::filesystem::path& workspace) {
  std::vector<std::filesystem::path> found;
  std::error_code ec;
  for (const auto& e : std::filesystem::directory_iterator(workspace / "jobs", ec)) found.push_back(e.path());
  if (found.size() != 1)
    throw IoError(workspace, "expected one job, found " + std::to_string(found.size()));
  return at(found.front());
}

std::filesystem::path JobDirectory::artifact(const std::string& tag) const {
  if (tag == "global") return root_ / "global_model.pt";
  if (tag == "best") return root_ / "best_model.pt";
  return root_ / (tag + ".pt");
}

void JobDirectory::write_app_file(const AppFile& file) const {
  config::write_text_file(app() / app_path(file.path), file.bytes);
}

void JobDirectory::link_recipe(std::string_view path) const {
  std::filesystem::remove(recipe());
  std::filesystem::create_symlink(std::filesystem::path("app") / app_path(path), recipe());
}

std::optional<std::string> JobDirectory::app_recipe() const {
  std::error_code ec;
  const auto target = std::filesystem::read_symlink(recipe(), ec);
  if (ec) return std::nullopt;
  return target.lexically_relative("app").generic_string();
}

std::filesystem::path JobDirectory::recipe_location() const {
  const auto path = app_recipe();
  return path ? app() / *path : recipe();
}

std::vector<std::string> JobDirectory::app_files() const {
  std::vector<std::string> files;
  std::error_code ec;
  for (auto it = std::filesystem::recursive_directory_iterator(app(), ec);
       !ec && it != std::filesystem::recursive_directory_iterator(); it.increment(ec)) {
    if (it->is_regular_file()) files.push_back(it->path().lexically_relative(app()).generic_string());
  }
  std::sort(files.begin(), files.end());
  return files;
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
