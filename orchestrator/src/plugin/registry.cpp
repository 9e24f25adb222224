#include "plugin/registry.hpp"

#include "config/suggest.hpp"

#include <cohort/error.hpp>
#include <cohort/site_workflow.hpp>

#include <boost/dll/runtime_symbol_info.hpp>
#include <boost/dll/shared_library.hpp>

#include <dlfcn.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <sstream>

namespace fs = std::filesystem;

namespace cohort {

namespace plugin {

BuildFingerprint host_fingerprint() { return COHORT_BUILD_FINGERPRINT; }

std::string fingerprint_mismatch(const BuildFingerprint& plugin, const BuildFingerprint& host) {
  std::ostringstream out;
  auto text = [](const char* s) { return s ? std::string(s) : std::string("(none)"); };
  if (text(plugin.compiler) != text(host.compiler)) {
    out << "it was compiled with " << text(plugin.compiler) << ", cohort with "
        << text(host.compiler) << "; ";
  }
  if (plugin.torch_major != host.torch_major || plugin.torch_minor != host.torch_minor) {
    out << "it was built against libtorch " << plugin.torch_major << "." << plugin.torch_minor
        << ", cohort against " << host.torch_major << "." << host.torch_minor << "; ";
  }
  if (plugin.cxx11_abi != host.cxx11_abi) {
    out << "it was built with _GLIBCXX_USE_CXX11_ABI=" << plugin.cxx11_abi << ", cohort with "
        << host.cxx11_abi << "; ";
  }
  std::string s = out.str();
  if (!s.empty()) s.resize(s.size() - 2);
  return s;
}

LoadedPlugin::LoadedPlugin(std::shared_ptr<boost::dll::shared_library> library,
                           const PluginDescriptor& descriptor, fs::path file)
    : library_(std::move(library)), descriptor_(&descriptor), file_(std::move(file)) {}

template <class T, class Factory>
std::shared_ptr<T> LoadedPlugin::make(Factory factory, const PluginConfig& config) const {
  if (!factory) {
    throw std::runtime_error("plugin '" + std::string(name()) + "' (" + file_.string() +
                             ") is a " + std::string(to_string(kind())) + " plugin");
  }
  std::unique_ptr<T> object = factory(config);
  if (!object) {
    throw std::runtime_error("plugin '" + std::string(name()) + "' made no object");
  }
  // The deleter owns a reference to the library: the object's destructor (plugin code)
  // runs before the library can be unloaded.
  auto library = library_;
  return std::shared_ptr<T>(object.release(), [library](T* p) { delete p; });
}

std::shared_ptr<SiteWorkflow> LoadedPlugin::make_site_workflow(const PluginConfig& config) const {
  if (!descriptor_->make_site_workflow) return nullptr;
  return make<SiteWorkflow>(descriptor_->make_site_workflow, config);
}

std::shared_ptr<Controller> LoadedPlugin::make_controller(const PluginConfig& config) const {
  return make<Controller>(descriptor_->make_controller, config);
}
std::shared_ptr<Executor> LoadedPlugin::make_executor(const PluginConfig& config) const {
  return make<Executor>(descriptor_->make_executor, config);
}
std::shared_ptr<Hook> LoadedPlugin::make_hook(const PluginConfig& config) const {
  return make<Hook>(descriptor_->make_hook, config);
}

Registry::Registry(std::vector<fs::path> directories) : directories_(std::move(directories)) {}

std::vector<fs::path> Registry::default_directories() {
  std::vector<fs::path> dirs;
  if (const char* env = std::getenv("COHORT_PLUGIN_PATH")) {
    std::string path(env);
    std::size_t start = 0;
    while (start <= path.size()) {
      std::size_t end = path.find(':', start);
      if (end == std::string::npos) end = path.size();
      if (end > start) dirs.emplace_back(path.substr(start, end - start));
      start = end + 1;
    }
  }
  // The SDK library's own directory: <build>/lib or <prefix>/lib; plugins live below it.
  if (const auto sdk = sdk_directory(); !sdk.empty()) dirs.push_back(sdk / "cohort" / "plugins");
  return dirs;
}

Listing Registry::inspect(const fs::path& file) {
  Listing listing;
  listing.file = file;
  auto library = std::make_shared<boost::dll::shared_library>();
  boost::system::error_code ec;
  library->load(boost::dll::fs::path(file.string()), boost::dll::load_mode::rtld_lazy, ec);
  if (ec) {
    const char* detail = dlerror();
    listing.problem = "cannot be loaded: " + (detail ? std::string(detail) : ec.message());
    return listing;
  }
  if (!library->has(kPluginSymbol)) {
    listing.problem = std::string("exports no '") + kPluginSymbol +
                      "' descriptor: not a cohort plugin, or one built for another plugin ABI";
    return listing;
  }
  const auto& d = library->get_alias<const PluginDescriptor>(kPluginSymbol);
  if (d.magic != kPluginMagic) {
    listing.problem = std::string("its '") + kPluginSymbol + "' symbol is not a cohort plugin descriptor";
    return listing;
  }
  listing.name = d.name ? d.name : "";
  std::string who = "plugin '" + listing.name + "' " + (d.version ? d.version : "") + " (" +
                    file.string() + ")";
  if (d.abi_version != kPluginAbiVersion) {
    listing.problem = who + " was built for plugin ABI " + std::to_string(d.abi_version) +
                      "; this cohort loads ABI " + std::to_string(kPluginAbiVersion) +
                      ": rebuild it against this cohort";
    return listing;
  }
  if (std::string m = fingerprint_mismatch(d.build, host_fingerprint()); !m.empty()) {
    listing.problem = who + " does not match this cohort: " + m + ": rebuild it against this cohort";
    return listing;
  }
  if (d.kind != PluginKind::controller && d.kind != PluginKind::executor &&
      d.kind != PluginKind::hook) {
    listing.problem = who + " declares an unknown kind " + std::to_string(static_cast<int>(d.kind));
    return listing;
  }
  listing.plugin = std::make_shared<LoadedPlugin>(library, d, file);
  return listing;
}

std::vector<Listing> Registry::list() {
  std::vector<Listing> out;
  for (const auto& dir : directories_) {
    std::error_code ec;
    if (!fs::is_directory(dir, ec)) continue;
    std::vector<fs::path> files;
    for (const auto& entry : fs::directory_iterator(dir, ec)) {
      const std::string name = entry.path().filename().string();
      if (name.rfind("libcohort_plugin_", 0) == 0 && entry.path().extension() == ".so")
        files.push_back(fs::weakly_canonical(entry.path()));
    }
    std::sort(files.begin(), files.end());
    for (const auto& f : files) {
      auto it = cache_.find(f);
      if (it == cache_.end()) it = cache_.emplace(f, inspect(f)).first;
      out.push_back(it->second);
    }
  }
  return out;
}

std::shared_ptr<LoadedPlugin> Registry::load_file(const fs::path& file) {
  std::error_code ec;
  if (!fs::exists(file, ec)) throw IoError(file, "no such plugin file");
  fs::path canonical = fs::weakly_canonical(file);
  auto it = cache_.find(canonical);
  if (it == cache_.end()) it = cache_.emplace(canonical, inspect(canonical)).first;
  if (!it->second.plugin) {
    throw std::runtime_error(it->second.name.empty()
                                 ? "plugin file " + canonical.string() + " " + it->second.problem
                                 : it->second.problem);
  }
  return it->second.plugin;
}

std::shared_ptr<LoadedPlugin> Registry::load(PluginKind kind, std::string_view name_or_file,
                                             const SourceLocation& where, const fs::path& base_dir) {
  const std::string wanted(name_or_file);
  const std::string kind_name(to_string(kind));
  if (wanted.find('/') != std::string::npos || fs::path(wanted).extension() == ".so") {
    fs::path file = fs::path(wanted).is_absolute() || base_dir.empty() ? fs::path(wanted)
                                                                       : base_dir / wanted;
    std::shared_ptr<LoadedPlugin> plugin;
    try {
      plugin = load_file(file);
    } catch (const std::exception& e) {
      throw ConfigError(where, e.what());
    }
    if (plugin->kind() != kind) {
      throw ConfigError(where, "plugin '" + std::string(plugin->name()) + "' (" + file.string() +
                                   ") is a " + std::string(to_string(plugin->kind())) +
                                   " plugin, not a " + kind_name + " plugin");
    }
    return plugin;
  }

  std::vector<std::string> available_names;
  std::string available_text;
  std::vector<std::string> problems;
  for (const auto& listing : list()) {
    if (listing.plugin) {
      if (listing.plugin->kind() == kind) {
        if (listing.plugin->name() == wanted) return listing.plugin;
        available_names.emplace_back(listing.plugin->name());
        available_text += (available_text.empty() ? "" : ", ") + std::string(listing.plugin->name()) +
                          " " + std::string(listing.plugin->version());
      } else if (listing.plugin->name() == wanted) {
        problems.push_back("'" + wanted + "' in " + listing.file.string() + " is a " +
                           std::string(to_string(listing.plugin->kind())) + " plugin");
      }
    } else if (listing.name == wanted) {
      problems.push_back(listing.problem);
    }
  }
  if (!problems.empty()) {
    std::string text = "cannot load " + kind_name + " plugin '" + wanted + "': " + problems.front();
    for (std::size_t i = 1; i < problems.size(); ++i) text += "; " + problems[i];
    throw ConfigError(where, text);
  }
  std::string searched;
  for (const auto& d : directories_) searched += (searched.empty() ? "" : ", ") + d.string();
  throw ConfigError(where, "no " + kind_name + " plugin named '" + wanted + "'" +
                               config::did_you_mean(wanted, available_names) + " (available " +
                               kind_name + " plugins: " +
                               (available_text.empty() ? "none" : available_text) +
                               "; searched: " + (searched.empty() ? "nothing" : searched) + ")");
}

}  // namespace plugin
}  // namespace cohort
