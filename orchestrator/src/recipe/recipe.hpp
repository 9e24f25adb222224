#pragma once
// A recipe: the TOML file that describes a job, parsed into typed sections and checked
// against the plugins it names. Every error is a ConfigError naming FILE:LINE:COL.

#include <cohort/args.hpp>
#include <cohort/controller.hpp>
#include <cohort/plugin.hpp>

#include "plugin/registry.hpp"

#include <chrono>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

namespace cohort::recipe {

/// `[controller]`, `[executor]` or one `[[hooks]]` entry.
struct PluginSection {
  /// The plugin's name (or a path to its .so).
  std::string plugin;
  /// Its args table, for the plugin to parse.
  Args args;
  /// Where `plugin = ...` is.
  SourceLocation where;
  /// The plugin, loaded and checked.
  std::shared_ptr<plugin::LoadedPlugin> loaded;
};

/// `[memory]`, with the controller's defaults filled in.
struct MemorySettings {
  /// Server cleanup every N rounds (0: never). Server-controlled workflows.
  std::int64_t server_memory_gc_rounds = 0;
  /// Client cleanup every N rounds (0: never). Server-controlled workflows.
  std::int64_t client_memory_gc_rounds = 0;
  /// Swarm: cleanup every N rounds on trainer and aggregator roles.
  std::int64_t memory_gc_rounds = 0;
  /// Empty the CUDA cache on cleanup (a logged no-op without CUDA).
  bool cuda_empty_cache = false;
  /// Clients drop the received and the sent model once the result is on the wire.
  bool clear_cache = true;
  /// MALLOC_ARENA_MAX given to server and client processes.
  std::int64_t server_malloc_arena_max = 4;
  std::int64_t client_malloc_arena_max = 2;
  /// MALLOC_MMAP_THRESHOLD_ (in KiB) given to server and client processes: allocations at
  /// least this large (model tensors) get their own mapping, returned to the OS when
  /// freed. 0 leaves glibc's dynamic threshold, which rises after the first large free
  /// and then keeps freed model tensors in the heap (RSS grows by round).
  std::int64_t server_malloc_mmap_threshold_kib = 4096;
  std::int64_t client_malloc_mmap_threshold_kib = 4096;
  /// How often each process samples its memory into memory/<process>.csv.
  std::chrono::milliseconds monitor_interval{1000};
  /// System RAM percent at which a process warns, and at which it cleans up at once.
  double warn_percent = 85;
  double critical_percent = 90;
};

/// `[simulation]`: how `cohort simulate` lays the job out on this machine.
struct SimulationSettings {
  /// Number of sites (0: the recipe's sites, else min_clients).
  std::int64_t clients = 0;
  /// Number of client processes the sites are spread over (0: min(clients, 2)).
  std::int64_t workers = 0;
  /// Plain TCP instead of mutual TLS.
  bool insecure = false;
  /// Transfer chunk size.
  std::int64_t chunk_kib = 1024;
};

/// A parsed and checked recipe.
struct Recipe {
  std::filesystem::path file;
  JobInfo job;
  PluginSection controller;
  PluginSection executor;
  std::vector<PluginSection> hooks;
  /// `[model]`, for the model zoo to parse.
  Args model;
  MemorySettings memory;
  SimulationSettings simulation;
  /// `plugin_path`, made absolute against the recipe's folder.
  std::vector<std::filesystem::path> plugin_path;
  /// The controller is client-controlled (Swarm-like).
  bool client_controlled = false;
};

/// Parses `file` and checks it: TOML syntax, known keys and types, ranges, plugins found
/// (searched in the recipe's plugin_path first, then `search_path`), memory defaults from
/// the controller, and each plugin's own args (by instantiating it once).
Recipe load_recipe(const std::filesystem::path& file,
                   const std::vector<std::filesystem::path>& search_path);

/// Same, from text (`file` names it in errors and anchors relative paths).
Recipe parse_recipe(std::string_view text, const std::filesystem::path& file,
                    const std::vector<std::filesystem::path>& search_path);

/// The recipe as TOML with every default filled in, each plugin's args included.
std::string render(const Recipe& recipe);

}  // namespace cohort::recipe
