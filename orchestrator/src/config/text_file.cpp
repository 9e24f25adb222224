#include "config/text_file.hpp"

#include <cohort/error.hpp>

#include <fstream>
#include <sstream>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>

namespace cohort::config {

std::string read_text_file(const std::filesystem::path& file) {
  std::error_code ec;
  const auto status = std::filesystem::status(file, ec);
  if (!std::filesystem::exists(status)) throw ConfigError(SourceLocation{file.string()}, "no such file");
  if (std::filesystem::is_directory(status)) throw ConfigError(SourceLocation{file.string()}, "is a folder, not a file");
  std::ifstream in(file, std::ios::binary);
  if (!in) throw ConfigError(SourceLocation{file.string()}, "cannot read the file");
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

void write_text_file(const std::filesystem::path& file, const std::string& text, unsigned mode) {
  if (file.has_parent_path()) std::filesystem::create_directories(file.parent_path());
  const auto temporary = file.string() + ".partial";
  {
    std::ofstream out(temporary, std::ios::binary | std::ios::trunc);
    out << text;
    out.flush();
    if (!out) throw IoError(temporary, "cannot write");
  }
  ::chmod(temporary.c_str(), mode);
  std::filesystem::rename(temporary, file);
}

int open_unnamed_file(const std::filesystem::path& folder) {
  int fd = ::open(folder.c_str(), O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
  if (fd >= 0) return fd;
  std::string name = (folder / "scratch-XXXXXX").string();
  fd = ::mkstemp(name.data());
  if (fd < 0) throw IoError::from_errno(folder, "open a file in it", errno);
  ::unlink(name.c_str());
  return fd;
}

}  // namespace cohort::config
