#pragma once
// Finds, checks and loads plugins (Boost.DLL).

#include <cohort/error.hpp>
#include <cohort/plugin.hpp>

#include <filesystem>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace boost::dll {
class shared_library;
}

namespace cohort::plugin {

/// A plugin library that passed every check. Objects it makes hold the library open:
/// their deleter runs the plugin's destructor first, then drops the library.
class LoadedPlugin {
 public:
  LoadedPlugin(std::shared_ptr<boost::dll::shared_library> library,
               const PluginDescriptor& descriptor, std::filesystem::path file);

  const PluginDescriptor& descriptor() const { return *descriptor_; }
  const std::filesystem::path& file() const { return file_; }
  std::string_view name() const { return descriptor_->name; }
  std::string_view version() const { return descriptor_->version; }
  PluginKind kind() const { return descriptor_->kind; }

  /// Calls the plugin's factory (which parses config.args and finishes them).
  std::shared_ptr<Controller> make_controller(const PluginConfig& config) const;
  std::shared_ptr<Executor> make_executor(const PluginConfig& config) const;
  std::shared_ptr<Hook> make_hook(const PluginConfig& config) const;
  /// A controller's part on each site; nothing when its workflow has none (the server
  /// drives it alone).
  std::shared_ptr<SiteWorkflow> make_site_workflow(const PluginConfig& config) const;

 private:
  template <class T, class Factory>
  std::shared_ptr<T> make(Factory factory, const PluginConfig& config) const;

  std::shared_ptr<boost::dll::shared_library> library_;
  const PluginDescriptor* descriptor_;
  std::filesystem::path file_;
};

/// What a search found in one file: a loadable plugin, or why the file is not one.
struct Listing {
  std::filesystem::path file;
  std::shared_ptr<LoadedPlugin> plugin;
  /// Name, when the descriptor's stable prefix could be read.
  std::string name;
  std::string problem;
};

/// The plugin search path and what it holds.
class Registry {
 public:
  /// Searches `directories` in order (earlier ones win on equal names).
  explicit Registry(std::vector<std::filesystem::path> directories);

  /// The default directories: $COHORT_PLUGIN_PATH (colon separated), then the plugins
  /// beside libcohort (`<libdir>/cohort/plugins`, the build tree and the install tree).
  static std::vector<std::filesystem::path> default_directories();

  const std::vector<std::filesystem::path>& directories() const { return directories_; }

  /// Every candidate file (libcohort_plugin_*.so) in the search path, checked.
  std::vector<Listing> list();

  /// Loads the plugin `name_or_file` of `kind`: a name from the search path, or a path to
  /// a .so file (relative paths against `base_dir`). Errors are ConfigErrors at `where`
  /// naming what mismatched, or listing the available plugins of that kind.
  std::shared_ptr<LoadedPlugin> load(PluginKind kind, std::string_view name_or_file,
                                     const SourceLocation& where,
                                     const std::filesystem::path& base_dir = {});

  /// Loads and checks one file. Throws std::runtime_error saying what is wrong.
  std::shared_ptr<LoadedPlugin> load_file(const std::filesystem::path& file);

 private:
  Listing inspect(const std::filesystem::path& file);

  std::vector<std::filesystem::path> directories_;
  std::map<std::filesystem::path, Listing> cache_;
};

/// This build's fingerprint (libcohort's).
BuildFingerprint host_fingerprint();

/// Empty when `plugin` matches `host`, else a sentence per mismatch.
std::string fingerprint_mismatch(const BuildFingerprint& plugin, const BuildFingerprint& host);

}  // namespace cohort::plugin
