#pragma once
// The inside of cohort::Args: a toml++ table plus the bookkeeping of which keys were read.
// Private to this component: only args.cpp and toml_file.cpp see toml++ types.

#include <cohort/args.hpp>

#include <toml++/toml.h>

#include <memory>
#include <string>
#include <vector>

namespace cohort {

struct Args::Impl {
  /// Keeps the parsed document alive as long as any Args views it.
  std::shared_ptr<const toml::table> document;
  /// The table viewed; null for an absent table.
  const toml::table* table = nullptr;
  std::string file;
  std::string path;
  SourceLocation where;
  std::vector<std::string> known;
  std::vector<std::pair<std::string, std::string>> resolved;
  /// The files that travel with the job, shared by every table of the document.
  std::shared_ptr<std::vector<NamedFile>> named_files = std::make_shared<std::vector<NamedFile>>();
};

namespace config {

/// Position of a toml++ node (or key) in `file`; an override's is its `--set` argument.
SourceLocation location_of(const toml::source_region& source, const std::string& file);
SourceLocation location_of(const toml::node& node, const std::string& file);

/// An Args viewing `table` (may be null) at dotted `path` of `document`; `parent`, when
/// given, is the table it is nested in (they share the document's bookkeeping).
Args make_args(std::shared_ptr<const toml::table> document, const toml::table* table,
               std::string file, std::string path, SourceLocation where, const Args::Impl* parent = nullptr);

}  // namespace config
}  // namespace cohort
