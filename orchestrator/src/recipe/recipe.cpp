#include "recipe/recipe.hpp"

#include "recipe/args_impl.hpp"
#include "recipe/suggest.hpp"

#include <fstream>
#include <set>
#include <sstream>

namespace fs = std::filesystem;

namespace cohort::recipe {

namespace {

constexpr const char* kReservedExecutorKeys[] = {"memory_gc_rounds", "cuda_empty_cache"};

PluginSection read_plugin_section(const Args& table) {
  PluginSection section;
  section.plugin = table.required<std::string>("plugin");
  section.where = table.where("plugin");
  if (section.plugin.empty()) table.fail("plugin", "must not be empty");
  section.args = table.table("args");
  table.finish();
  return section;
}

JobInfo read_job(const Args& job, const fs::path& file) {
  JobInfo info;
  info.name = job.get<std::string>("name", file.stem().string());
  if (info.name.empty()) job.fail("name", "must not be empty");
  info.num_rounds = job.required<std::int64_t>("num_rounds", at_least(1));
  info.sites = job.get<std::vector<std::string>>("sites", {});
  std::set<std::string> seen;
  for (const auto& s : info.sites) {
    if (s.empty()) job.fail("sites", "site names must not be empty");
    if (!seen.insert(s).second) job.fail("sites", "site '" + s + "' is listed twice");
  }
  if (info.sites.empty()) {
    info.min_clients = job.required<std::int64_t>("min_clients", at_least(1));
  } else {
    info.min_clients = job.get<std::int64_t>("min_clients", static_cast<std::int64_t>(info.sites.size()),
                                             between(1, static_cast<double>(info.sites.size())));
  }
  job.finish();
  return info;
}

SimulationSettings read_simulation(const Args& sim) {
  SimulationSettings s;
  s.clients = sim.get<std::int64_t>("clients", 0, between(0, 100000));
  s.workers = sim.get<std::int64_t>("workers", 0, between(0, 1024));
  s.insecure = sim.get<bool>("insecure", false);
  s.chunk_kib = sim.get<std::int64_t>("chunk_kib", 1024, between(4, 64 * 1024));
  sim.finish();
  return s;
}

MemorySettings read_memory(const Args& mem, const PluginDescriptor& controller) {
  MemorySettings m;
  const bool swarm = controller.workflow_style == WorkflowStyle::client_controlled;
  const std::string who = std::string("the '") + controller.name + "' workflow";
  if (swarm) {
    for (const char* key : {"server_memory_gc_rounds", "client_memory_gc_rounds"}) {
      if (mem.has(key))
        mem.fail(key, who + " is client-controlled: its cleanup setting is memory_gc_rounds");
    }
    m.memory_gc_rounds = mem.get<std::int64_t>("memory_gc_rounds", 1, at_least(0));
  } else {
    if (mem.has("memory_gc_rounds"))
      mem.fail("memory_gc_rounds",
               "memory_gc_rounds is the setting of client-controlled workflows (Swarm); " + who +
                   " takes server_memory_gc_rounds and client_memory_gc_rounds");
    m.server_memory_gc_rounds = mem.get<std::int64_t>(
        "server_memory_gc_rounds", controller.memory_defaults.server_memory_gc_rounds, at_least(0));
    m.client_memory_gc_rounds = mem.get<std::int64_t>(
        "client_memory_gc_rounds", controller.memory_defaults.client_memory_gc_rounds, at_least(0));
  }
  m.cuda_empty_cache = mem.get<bool>("cuda_empty_cache", false);
  m.clear_cache = mem.get<bool>("clear_cache", true);
  m.server_malloc_arena_max = mem.get<std::int64_t>("server_malloc_arena_max", 4, between(1, 1024));
  m.client_malloc_arena_max = mem.get<std::int64_t>("client_malloc_arena_max", 2, between(1, 1024));
  // glibc caps the threshold at 32 MiB on 64-bit (HEAP_MAX_SIZE / 2).
  m.server_malloc_mmap_threshold_kib = mem.get<std::int64_t>("server_malloc_mmap_threshold_kib", 4096, between(0, 32 * 1024));
  m.client_malloc_mmap_threshold_kib = mem.get<std::int64_t>("client_malloc_mmap_threshold_kib", 4096, between(0, 32 * 1024));
  m.monitor_interval = std::chrono::milliseconds(
      mem.get<std::int64_t>("monitor_interval_ms", 1000, between(10, 3600 * 1000)));
  m.warn_percent = mem.get<double>("warn_percent", 85, between(1, 100));
  m.critical_percent = mem.get<double>("critical_percent", 90, between(1, 100));
  if (m.critical_percent < m.warn_percent)
    mem.fail("critical_percent", "must not be below warn_percent");
  mem.finish();
  return m;
}

}  // namespace

Recipe parse_recipe(std::string_view text, const fs::path& file,
                    const std::vector<fs::path>& search_path) {
  const std::string file_name = file.string();
  const std::shared_ptr<toml::table> document = recipe::parse_toml(text, file_name);

  const Args root = make_args(document, document.get(), file_name, "", SourceLocation{file_name, 1, 1});
  Recipe recipe;
  recipe.file = file;
  const fs::path base = file.parent_path();

  for (const auto& p : root.get<std::vector<std::string>>("plugin_path", {})) {
    fs::path dir = fs::path(p).is_absolute() ? fs::path(p) : base / p;
    recipe.plugin_path.push_back(dir.lexically_normal());
  }
  std::vector<fs::path> directories = recipe.plugin_path;
  directories.insert(directories.end(), search_path.begin(), search_path.end());
  plugin::Registry registry(directories);

  for (const char* table : {"job", "controller", "executor"}) {
    if (!root.has(table))
      throw ConfigError(SourceLocation{file_name, 1, 1},
                        std::string("missing required table [") + table + "]");
  }
  recipe.job = read_job(root.table("job"), file);
  recipe.controller = read_plugin_section(root.table("controller"));
  recipe.executor = read_plugin_section(root.table("executor"));
  recipe.controller.loaded =
      registry.load(PluginKind::controller, recipe.controller.plugin, recipe.controller.where, base);
  recipe.executor.loaded =
      registry.load(PluginKind::executor, recipe.executor.plugin, recipe.executor.where, base);
  const PluginDescriptor& controller = recipe.controller.loaded->descriptor();
  recipe.client_controlled = controller.workflow_style == WorkflowStyle::client_controlled;

  recipe.memory = read_memory(root.table("memory"), controller);
  recipe.simulation = read_simulation(root.table("simulation"));
  recipe.model = root.table("model");

  if (root.has("hooks")) {
    const toml::node* hooks = document->get("hooks");
    if (!hooks->is_array_of_tables()) root.fail("hooks", "expected an array of tables ([[hooks]])");
    std::size_t i = 0;
    for (const auto& entry : *hooks->as_array()) {
      Args table = make_args(document, entry.as_table(), file_name,
                             "hooks[" + std::to_string(i++) + "]", location_of(entry, file_name));
      PluginSection hook = read_plugin_section(table);
      hook.loaded = registry.load(PluginKind::hook, hook.plugin, hook.where, base);
      recipe.hooks.push_back(std::move(hook));
    }
  }
  root.finish();

  for (const char* key : kReservedExecutorKeys) {
    recipe.executor.args.reject(
        key, std::string(key) + " is a top-level recipe setting: put it in [memory]");
  }

  // Each plugin parses its own args into its typed config now, so that a bad value is
  // reported at load with its position, not in the middle of a round.
  const PluginConfig controller_config{recipe.controller.args, recipe.job, recipe.model};
  recipe.controller.loaded->make_controller(controller_config);
  const PluginConfig executor_config{recipe.executor.args, recipe.job, recipe.model};
  recipe.executor.loaded->make_executor(executor_config);
  for (auto& hook : recipe.hooks) {
    const PluginConfig hook_config{hook.args, recipe.job, recipe.model};
    hook.loaded->make_hook(hook_config);
  }
  return recipe;
}

Recipe load_recipe(const fs::path& file, const std::vector<fs::path>& search_path) {
  std::ifstream in(file, std::ios::binary);
  if (!in) throw ConfigError(SourceLocation{file.string()}, "cannot read the recipe file");
  std::ostringstream text;
  text << in.rdbuf();
  return parse_recipe(text.str(), file, search_path);
}

namespace {

std::string quoted(const std::string& s) {
  std::ostringstream out;
  out << toml::value<std::string>(s);
  return out.str();
}

void render_args(std::ostringstream& out, const std::string& header, const Args& args) {
  auto values = args.resolved();
  if (values.empty()) return;
  out << "\n[" << header << "]\n";
  for (const auto& [k, v] : values) out << k << " = " << v << "\n";
}

}  // namespace

std::string render(const Recipe& r) {
  std::ostringstream out;
  out << "# resolved from " << r.file.string() << "\n";
  if (!r.plugin_path.empty()) {
    out << "plugin_path = [";
    for (std::size_t i = 0; i < r.plugin_path.size(); ++i)
      out << (i ? ", " : "") << quoted(r.plugin_path[i].string());
    out << "]\n";
  }
  out << "\n[job]\nname = " << quoted(r.job.name) << "\nnum_rounds = " << r.job.num_rounds
      << "\nmin_clients = " << r.job.min_clients << "\n";
  if (!r.job.sites.empty()) {
    out << "sites = [";
    for (std::size_t i = 0; i < r.job.sites.size(); ++i) out << (i ? ", " : "") << quoted(r.job.sites[i]);
    out << "]\n";
  }
  auto plugin_header = [&](const char* table, const PluginSection& s) {
    out << "\n[" << table << "]\nplugin = " << quoted(s.plugin) << "  # " << s.loaded->name() << " "
        << s.loaded->version() << ", " << s.loaded->file().string() << "\n";
  };
  plugin_header("controller", r.controller);
  render_args(out, "controller.args", r.controller.args);
  plugin_header("executor", r.executor);
  render_args(out, "executor.args", r.executor.args);
  render_args(out, "model", r.model);

  const auto& m = r.memory;
  out << "\n[memory]\n";
  if (r.client_controlled) {
    out << "memory_gc_rounds = " << m.memory_gc_rounds << "\n";
  } else {
    out << "server_memory_gc_rounds = " << m.server_memory_gc_rounds
        << "\nclient_memory_gc_rounds = " << m.client_memory_gc_rounds << "\n";
  }
  out << "cuda_empty_cache = " << (m.cuda_empty_cache ? "true" : "false")
      << "\nclear_cache = " << (m.clear_cache ? "true" : "false")
      << "\nserver_malloc_arena_max = " << m.server_malloc_arena_max
      << "\nclient_malloc_arena_max = " << m.client_malloc_arena_max
      << "\nserver_malloc_mmap_threshold_kib = " << m.server_malloc_mmap_threshold_kib
      << "\nclient_malloc_mmap_threshold_kib = " << m.client_malloc_mmap_threshold_kib
      << "\nmonitor_interval_ms = " << m.monitor_interval.count()
      << "\nwarn_percent = " << m.warn_percent << "\ncritical_percent = " << m.critical_percent << "\n";

  const auto& s = r.simulation;
  out << "\n[simulation]\nclients = " << s.clients << "\nworkers = " << s.workers
      << "\ninsecure = " << (s.insecure ? "true" : "false") << "\nchunk_kib = " << s.chunk_kib << "\n";

  for (const auto& h : r.hooks) {
    out << "\n[[hooks]]\nplugin = " << quoted(h.plugin) << "\n";
    for (const auto& [k, v] : h.args.resolved()) out << "args." << k << " = " << v << "\n";
  }
  return out.str();
}

}  // namespace cohort::recipe
