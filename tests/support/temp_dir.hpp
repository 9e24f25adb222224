#pragma once
// A fresh folder per test, removed afterwards (kept when COHORT_KEEP_TEST_DIRS is set).

#include <filesystem>
#include <string>

namespace cohort::test {

class TempDir {
 public:
  explicit TempDir(const std::string& prefix = "cohort-test");
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::filesystem::path& path() const { return path_; }
  operator const std::filesystem::path&() const { return path_; }
  std::filesystem::path operator/(const std::string& name) const { return path_ / name; }

 private:
  std::filesystem::path path_;
};

/// Writes `text` to `file` (creating folders).
void write_text(const std::filesystem::path& file, const std::string& text);
/// Reads a whole file.
std::string read_text(const std::filesystem::path& file);

}  // namespace cohort::test
