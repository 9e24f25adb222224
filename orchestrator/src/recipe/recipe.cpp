#include "recipe/recipe.hpp"

#include "config/text_file.hpp"
#include "config/toml_file.hpp"
#include "privacy/accountant.hpp"

#include <toml++/toml.h>

#include <algorithm>
#include <fstream>
#include <set>
#include <sstream>

namespace fs = std::filesystem;

namespace cohort::recipe {

namespace {

std::string number(double value) {
  std::ostringstream out;
  out << value;
  return out.str();
}

}  // namespace

void check_privacy(const Recipe& recipe, const Controller& controller) {
  const auto& p = recipe.privacy;
  if (!p.on()) return;
  const std::string name(recipe.controller_plugin->name());
  if (recipe.client_controlled || !controller.averages_results())
    throw ConfigError(p.where_mode,
                      "privacy.mode: controller '" + name + "' does not average the sites' results through the SDK's "
                      "WeightedAverage, so there is no average to clip and noise. [privacy] works with fedavg and fedopt "
                      "(and a controller whose averages_results() is true); cyclic passes one site's model on to the next, "
                      "with nothing to hide an update in, and swarm's sites aggregate among themselves, out of the server's reach");
  const auto sites = static_cast<double>(!recipe.job.sites.empty() ? static_cast<std::int64_t>(recipe.job.sites.size())
                                         : recipe.simulation.clients > 0 ? recipe.simulation.clients
                                                                         : recipe.job.min_clients);
  if (p.target_delta >= 1 / sites)
    throw ConfigError(p.where_delta, "privacy.target_delta: " + number(p.target_delta) + " is not below 1 / sites = " +
                                         number(1 / sites) + ": a δ that large allows one site's data to leak outright");
  if (!p.target_epsilon) return;
  // The plan: min_clients sampled a round (FedAvg's default), one step a round.
  const bool local = p.mode == config::PrivacySettings::Mode::local;
  const double q = local ? 1.0 : std::min(1.0, static_cast<double>(recipe.job.min_clients) / sites);
  if (!p.noise_multiplier) {
    try {
      privacy::solve_noise_multiplier(*p.target_epsilon, p.target_delta, q, recipe.job.num_rounds);
    } catch (const std::invalid_argument& e) {
      throw ConfigError(p.where_noise, std::string("privacy.noise_multiplier: \"auto\": ") + e.what());
    }
    return;
  }
  const double first = privacy::RdpAccountant().after(q, *p.noise_multiplier).epsilon(p.target_delta);
  if (first > *p.target_epsilon)
    throw ConfigError(p.where_noise, "privacy.noise_multiplier: z = " + number(*p.noise_multiplier) +
                                         " spends ε = " + number(first) + " in the first round alone (q = " + number(q) +
                                         ", δ = " + number(p.target_delta) + "), past target_epsilon = " +
                                         number(*p.target_epsilon) + ": raise z, or set it to \"auto\"");
}

void check_secure_aggregation(const Recipe& recipe, const Controller& controller) {
  const auto& s = recipe.secure_aggregation;
  if (!s.on) return;
  const std::string name(recipe.controller_plugin->name());
  if (recipe.client_controlled || !controller.averages_results())
    throw ConfigError(s.where, "[secure_aggregation]: controller '" + name + "' does not average the sites' results through "
                      "the SDK's WeightedAverage, so there is no sum to mask. It works with fedavg and fedopt (and a "
                      "controller whose averages_results() is true); cyclic hands one site's model to the next, and swarm's "
                      "sites aggregate among themselves");
  if (recipe.privacy.on() && recipe.privacy.mode == config::PrivacySettings::Mode::central &&
      recipe.privacy.clip_at == config::PrivacySettings::ClipAt::server)
    throw ConfigError(recipe.privacy.where_mode, "privacy.clip_at = \"server\" needs each site's update, which "
                      "[secure_aggregation] hides from the server: use clip_at = \"site\" (the sites clip, the server "
                      "noises the sum)");
  if (recipe.job.min_clients < 3)
    throw ConfigError(s.where, "[secure_aggregation]: a sum of " + std::to_string(recipe.job.min_clients) +
                      " sites tells a site the other's update: it needs at least 3 a round (min_clients)");
}

Recipe parse_recipe(std::string_view text, const fs::path& file, const std::vector<fs::path>& search_path,
                    const config::Overrides& overrides) {
  Recipe recipe;
  static_cast<config::RecipeFile&>(recipe) = config::parse_recipe_file(text, file, overrides);
  std::vector<fs::path> directories = recipe.plugin_path;
  directories.insert(directories.end(), search_path.begin(), search_path.end());
  plugin::Registry registry(directories);
  const fs::path base = file.parent_path();
  auto load = [&](PluginKind kind, const config::PluginSection& s) { return registry.load(kind, s.plugin, s.where, base); };

  recipe.controller_plugin = load(PluginKind::controller, recipe.controller);
  recipe.executor_plugin = load(PluginKind::executor, recipe.executor);
  for (const auto& hook : recipe.hooks) recipe.hook_plugins.push_back(load(PluginKind::hook, hook));
  const PluginDescriptor& controller = recipe.controller_plugin->descriptor();
  recipe.client_controlled = controller.workflow_style == WorkflowStyle::client_controlled;
  config::read_workflow_memory(recipe, controller.name, recipe.client_controlled,
                               controller.memory_defaults.server_memory_gc_rounds,
                               controller.memory_defaults.client_memory_gc_rounds);

  // Each plugin parses its own args into its typed config now, so that a bad value is
  // reported at load with its position, not in the middle of a round.
  const auto controller_made =
      recipe.controller_plugin->make_controller(PluginConfig{recipe.controller.args, recipe.job, recipe.model});
  check_privacy(recipe, *controller_made);
  check_secure_aggregation(recipe, *controller_made);
  recipe.executor_plugin->make_executor(PluginConfig{recipe.executor.args, recipe.job, recipe.model});
  for (std::size_t i = 0; i < recipe.hooks.size(); ++i)
    recipe.hook_plugins[i]->make_hook(PluginConfig{recipe.hooks[i].args, recipe.job, recipe.model});
  return recipe;
}

std::vector<fs::path> travelling_files(const Recipe& recipe) {
  std::vector<fs::path> files;
  // Every table of the recipe shares the list: the executor's holds what all named.
  for (const auto& named : recipe.executor.args.named_files()) {
    files.push_back(named.path);
    if (!named.with_folder) continue;
    const fs::path folder = named.path.parent_path();
    for (auto it = fs::recursive_directory_iterator(folder); it != fs::recursive_directory_iterator(); ++it) {
      const std::string name = it->path().filename().string();
      if (name.starts_with(".") || name == "__pycache__") {
        if (it->is_directory()) it.disable_recursion_pending();
        continue;
      }
      if (it->is_regular_file()) files.push_back(it->path());
    }
  }
  std::sort(files.begin(), files.end());
  files.erase(std::unique(files.begin(), files.end()), files.end());
  return files;
}

Recipe load_recipe(const fs::path& file, const std::vector<fs::path>& search_path,
                   const config::Overrides& overrides) {
  return parse_recipe(config::read_text_file(file), file, search_path, overrides);
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
      << "\nmin_clients = " << r.job.min_clients << "\nseed = " << r.job.seed << "\n";
  if (!r.job.sites.empty()) {
    out << "sites = [";
    for (std::size_t i = 0; i < r.job.sites.size(); ++i) out << (i ? ", " : "") << quoted(r.job.sites[i]);
    out << "]\n";
  }
  if (!r.on_server_restart.empty()) out << "on_server_restart = " << quoted(r.on_server_restart) << "\n";
  auto plugin_header = [&](const char* table, const config::PluginSection& s, const plugin::LoadedPlugin& loaded) {
    out << "\n[" << table << "]\nplugin = " << quoted(s.plugin) << "  # " << loaded.name() << " " << loaded.version()
        << ", " << loaded.file().string() << "\n";
  };
  plugin_header("controller", r.controller, *r.controller_plugin);
  render_args(out, "controller.args", r.controller.args);
  plugin_header("executor", r.executor, *r.executor_plugin);
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

  if (const auto& p = r.privacy; p.on()) {
    using P = config::PrivacySettings;
    out << "\n[privacy]\nmode = " << quoted(p.mode == P::Mode::local ? "local" : "central");
    if (p.mode == P::Mode::central) out << "\nclip_at = " << quoted(p.clip_at == P::ClipAt::server ? "server" : "site");
    if (p.adaptive) {
      out << "\nclipping_norm = \"adaptive\"\ninitial_clipping_norm = " << p.clipping_norm
          << "\ntarget_quantile = " << p.target_quantile << "\nclip_learning_rate = " << p.clip_learning_rate;
      if (p.clipped_count_stddev) out << "\nclipped_count_stddev = " << *p.clipped_count_stddev;
    } else {
      out << "\nclipping_norm = " << p.clipping_norm;
    }
    out << "\nnoise_multiplier = " << (p.noise_multiplier ? number(*p.noise_multiplier) : "\"auto\"");
    if (p.target_epsilon) out << "\ntarget_epsilon = " << *p.target_epsilon;
    out << "\ntarget_delta = " << p.target_delta << "\n";
    if (p.seed) out << "seed = " << *p.seed << "\n";
  }

  if (const auto& s = r.secure_aggregation; s.on) {
    out << "\n[secure_aggregation]\nneighbours = " << (s.neighbours > 0 ? std::to_string(s.neighbours) : "\"all\"")
        << (s.threshold > 0 ? "\nthreshold = " + number(s.threshold) : std::string("\n# threshold: a majority of each group"))
        << "\nclipping_range = " << s.clipping_range << "\nquantization_bits = " << s.quantization_bits
        << "\nmax_weight = " << s.max_weight << "\n";
  }

  for (const auto& h : r.hooks) {
    out << "\n[[hooks]]\nplugin = " << quoted(h.plugin) << "\n";
    for (const auto& [k, v] : h.args.resolved()) out << "args." << k << " = " << v << "\n";
  }
  return out.str();
}

}  // namespace cohort::recipe
