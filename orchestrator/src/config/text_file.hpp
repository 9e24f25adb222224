#pragma once
// Whole text files: read with an error that names the file, written atomically (beside,
// flushed, renamed), so that a crash leaves the old file or the new one, never half; and
// unnamed scratch files.

#include <cohort/export.hpp>

#include <filesystem>
#include <string>

namespace cohort::config {

/// The whole of `file`; a file that cannot be read is a ConfigError naming it.
COHORT_API std::string read_text_file(const std::filesystem::path& file);

/// Writes `text` to `file` atomically with permissions `mode`, creating its folder.
/// Throws std::runtime_error naming the file.
COHORT_API void write_text_file(const std::filesystem::path& file, const std::string& text, unsigned mode = 0644);

/// An unnamed file in `folder` for scratch bytes (O_TMPFILE; where the file system has
/// none, a named one removed at once): gone when its descriptor closes. Throws IoError.
COHORT_API int open_unnamed_file(const std::filesystem::path& folder);

}  // namespace cohort::config
