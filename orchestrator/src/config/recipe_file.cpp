#include "config/recipe_file.hpp"

#include "config/text_file.hpp"
#include "config/toml_file.hpp"

#include <cohort/error.hpp>
#include <algorithm>
#include <cmath>
#include <set>
#include <sstream>

namespace fs = std::filesystem;

namespace cohort::config {

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

}  // namespace

std::string read_restart_policy(const Args& table, std::string_view fallback) {
  return table.choice("on_server_restart", fallback, {"resume", "abnormal"});
}

namespace {

JobInfo read_job(const Args& job, const fs::path& file, std::string& on_server_restart) {
  JobInfo info;
  on_server_restart = job.has("on_server_restart") ? read_restart_policy(job, "resume") : "";
  info.name = job.get<std::string>("name", file.stem().string());
  if (info.name.empty()) job.fail("name", "must not be empty");
  info.num_rounds = job.required<std::int64_t>("num_rounds", at_least(1));
  info.seed = job.get<std::int64_t>("seed", 0, at_least(0));
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

/// `table`'s `key`: a number in `range` (`what` says of what), or nothing where it is absent
/// or the string `word` ("auto", "adaptive").
template <class T>
std::optional<T> number_or_word(const Args& table, std::string_view key, std::string_view word, Range range,
                                const std::string& what) {
  if (!table.has(key)) return std::nullopt;
  try {
    return table.required<T>(key, range);
  } catch (const ConfigError& as_number) {
    std::string text;
    try {
      text = table.required<std::string>(key);
    } catch (const ConfigError&) {
      throw as_number;
    }
    if (text != word) table.fail(key, "expected \"" + std::string(word) + "\" or " + what + ", found \"" + text + "\"");
    return std::nullopt;
  }
}

/// `workers`: "auto" (0) or a number of processes.
std::int64_t read_workers(const Args& sim) {
  return number_or_word<std::int64_t>(sim, "workers", "auto", between(1, 1024), "a number of client processes").value_or(0);
}

SimulationSettings read_simulation(const Args& sim) {
  SimulationSettings s;
  s.clients = sim.get<std::int64_t>("clients", 0, between(0, 100000));
  s.workers = read_workers(sim);
  s.insecure = sim.get<bool>("insecure", false);
  s.chunk_kib = sim.get<std::int64_t>("chunk_kib", 1024, between(4, 64 * 1024));
  s.reuse_model_memory = sim.get<bool>("reuse_model_memory", false);
  sim.finish();
  return s;
}

/// Fails at `key` unless `value` (when there is one) is above 0.
template <class T>
T positive(const Args& table, std::string_view key, T value) {
  if (value && !(*value > 0)) table.fail(key, "must be above 0");
  return value;
}

/// `[privacy]`: each key on its own; what needs the workflow or the sites is checked by the
/// recipe layer (recipe::check_privacy).
PrivacySettings read_privacy(const Args& table) {
  PrivacySettings p;
  if (!table.has("mode")) {
    for (const char* key : {"clip_at", "clipping_norm", "noise_multiplier", "target_epsilon", "target_delta"})
      if (table.has(key)) table.fail(key, "[privacy] needs mode = \"central\" or \"local\" first");
    table.finish();
    return p;
  }
  using Mode = PrivacySettings::Mode;
  const auto mode = table.choice("mode", "central", {"central", "local"});
  p.mode = mode == "local" ? Mode::local : Mode::central;
  p.where_mode = table.where("mode");
  p.clip_at = table.choice("clip_at", "site", {"site", "server"}) == "server" ? PrivacySettings::ClipAt::server
                                                                            : PrivacySettings::ClipAt::site;
  if (p.mode == Mode::local && table.has("clip_at"))
    table.fail("clip_at", "applies to mode = \"central\"; in local mode each site clips its own update");
  if (!table.has("clipping_norm"))
    table.fail("mode", "needs clipping_norm: the L2 norm each update is clipped to (a number, or \"adaptive\")");
  const auto norm = positive(table, "clipping_norm", number_or_word<double>(table, "clipping_norm", "adaptive", {}, "a norm"));
  p.adaptive = !norm;
  p.clipping_norm = norm ? *norm
                         : *positive(table, "initial_clipping_norm",
                                     std::optional<double>(table.get<double>("initial_clipping_norm", 0.1)));
  if (p.adaptive) {
    if (p.mode == Mode::local)
      table.fail("clipping_norm", "\"adaptive\" needs mode = \"central\": the norm follows a noised count that only an aggregator sees");
    if (p.clip_at != PrivacySettings::ClipAt::server)
      table.fail("clipping_norm", "\"adaptive\" needs clip_at = \"server\": the server must see each update's norm to count the ones at or below it");
    p.target_quantile = table.get<double>("target_quantile", 0.5, between(0, 1));
    if (p.target_quantile <= 0 || p.target_quantile >= 1) table.fail("target_quantile", "must be above 0 and below 1");
    p.clip_learning_rate = *positive(table, "clip_learning_rate", std::optional<double>(table.get<double>("clip_learning_rate", 0.2)));
    p.clipped_count_stddev = positive(table, "clipped_count_stddev", table.optional<double>("clipped_count_stddev"));
  }
  p.where_noise = table.where("noise_multiplier");
  p.noise_multiplier = number_or_word<double>(table, "noise_multiplier", "auto", at_least(0), "a noise multiplier");
  p.target_epsilon = positive(table, "target_epsilon", table.optional<double>("target_epsilon"));
  if (!p.noise_multiplier && !p.target_epsilon)
    table.fail(table.has("noise_multiplier") ? "noise_multiplier" : "mode",
               table.has("noise_multiplier") ? "\"auto\" needs target_epsilon (and target_delta) to solve for"
                                             : "needs noise_multiplier (z: the noise's standard deviation over the clipping norm) or target_epsilon");
  if (!table.has("target_delta"))
    table.fail("mode", "needs target_delta: ε is reported at this δ (take it well below 1 / sites, e.g. 1e-5)");
  p.target_delta = table.required<double>("target_delta");
  if (!(p.target_delta > 0 && p.target_delta < 1)) table.fail("target_delta", "must be above 0 and below 1");
  p.where_delta = table.where("target_delta");
  p.seed = table.optional<std::int64_t>("seed");
  table.finish();
  return p;
}

/// `[secure_aggregation]`: each key on its own; the workflow is checked by the recipe
/// layer (recipe::check_secure_aggregation), the round's group by the server.
SecureAggregationSettings read_secure_aggregation(const Args& table, const JobInfo& job) {
  SecureAggregationSettings s;
  s.on = table.get<bool>("enabled", true);
  s.where = table.where();
  const auto k = number_or_word<std::int64_t>(table, "neighbours", "all", at_least(3), "a number of sites (odd, at least 3)");
  if (k && *k % 2 == 0)
    table.fail("neighbours", std::to_string(*k) + " is even: a site's group is itself and (k - 1) / 2 sites on each side of it on a ring; use an odd number or \"all\"");
  s.neighbours = k.value_or(0);
  s.threshold = table.get<double>("threshold", 0, at_least(0));
  if (table.has("threshold")) {
    const double t = s.threshold;
    if (t < 1 && !(t > 0.5)) table.fail("threshold", "a fraction of the group must be above 0.5: fewer sites could rebuild both of a site's secrets");
    if (t >= 1 && t != static_cast<double>(static_cast<std::int64_t>(t)))
      table.fail("threshold", "expected a number of sites or a fraction in (0.5, 1]");
    if (t >= 1 && s.neighbours > 0)
      if (auto why = SecureAggregationSettings::threshold_refusal(static_cast<std::size_t>(t), static_cast<std::size_t>(s.neighbours)))
        table.fail("threshold", *why);
  }
  s.clipping_range = *positive(table, "clipping_range", std::optional<double>(table.get<double>("clipping_range", 8.0)));
  s.quantization_bits = table.get<std::int64_t>("quantization_bits", 22, between(1, 30));
  s.max_weight = *positive(table, "max_weight", std::optional<double>(table.get<double>("max_weight", 1000)));
  if (table.has("modulus_bits") && table.get<std::int64_t>("modulus_bits", 32) != 32)
    table.fail("modulus_bits", "sums are taken modulo 2^32: 32 is the one modulus");
  if (s.on && job.min_clients > static_cast<std::int64_t>(s.most_sites()))
    table.fail("quantization_bits", std::to_string(s.quantization_bits) + " bits leave room for " + std::to_string(s.most_sites()) +
                                        " sites in a sum modulo 2^32; the job samples " + std::to_string(job.min_clients) + " (min_clients)");
  table.finish();
  return s;
}

/// The workflow-independent keys of [memory].
MemorySettings read_memory(const Args& mem) {
  MemorySettings m;
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
  return m;
}

}  // namespace

RecipeFile parse_recipe_file(std::string_view text, const fs::path& file, const Overrides& overrides) {
  const std::string file_name = file.string();
  auto [root, applied] = parse_toml_with_text(text, file_name, overrides);
  RecipeFile recipe;
  recipe.file = file;
  recipe.text = std::move(applied);
  const fs::path base = file.parent_path();

  for (const auto& p : root.get<std::vector<std::string>>("plugin_path", {})) {
    fs::path dir = fs::path(p).is_absolute() ? fs::path(p) : base / p;
    recipe.plugin_path.push_back(dir.lexically_normal());
  }
  for (const char* table : {"job", "controller", "executor"}) {
    if (!root.has(table))
      throw ConfigError(SourceLocation{file_name, 1, 1}, std::string("missing required table [") + table + "]");
  }
  recipe.job = read_job(root.table("job"), file, recipe.on_server_restart);
  recipe.controller = read_plugin_section(root.table("controller"));
  recipe.executor = read_plugin_section(root.table("executor"));
  recipe.memory_table = root.table("memory");
  recipe.memory = read_memory(recipe.memory_table);
  recipe.simulation = read_simulation(root.table("simulation"));
  recipe.privacy = read_privacy(root.table("privacy"));
  if (root.has("secure_aggregation")) recipe.secure_aggregation = read_secure_aggregation(root.table("secure_aggregation"), recipe.job);
  recipe.model = root.table("model");
  for (const Args& hook : root.tables("hooks")) recipe.hooks.push_back(read_plugin_section(hook));
  root.finish();

  for (const char* key : kReservedExecutorKeys) {
    recipe.executor.args.reject(key, std::string(key) + " is a top-level recipe setting: put it in [memory]");
  }
  return recipe;
}

std::vector<std::string> hosted_sites(const RecipeFile& recipe, std::optional<std::int64_t> clients_given) {
  std::int64_t clients = clients_given.value_or(recipe.simulation.clients);
  if (clients == 0)
    clients = recipe.job.sites.empty() ? recipe.job.min_clients : static_cast<std::int64_t>(recipe.job.sites.size());
  std::vector<std::string> sites = recipe.job.sites;
  if (sites.empty()) {
    for (std::int64_t i = 1; i <= clients; ++i) sites.push_back("site-" + std::to_string(i));
  } else if (static_cast<std::int64_t>(sites.size()) != clients) {
    throw ConfigError({"--clients"}, std::to_string(clients) + " does not match the " + std::to_string(sites.size()) +
                                        " sites the recipe names");
  }
  if (clients < recipe.job.min_clients) {
    throw ConfigError({"--clients"}, std::to_string(clients) + " clients are fewer than the recipe's min_clients (" +
                                        std::to_string(recipe.job.min_clients) + ")");
  }
  return sites;
}

RecipeFile read_recipe_file(const fs::path& file, const Overrides& overrides) {
  return parse_recipe_file(read_text_file(file), file, overrides);
}

void read_workflow_memory(RecipeFile& recipe, std::string_view workflow, bool client_controlled,
                          std::int64_t default_server_gc_rounds, std::int64_t default_client_gc_rounds) {
  const Args& mem = recipe.memory_table;
  MemorySettings& m = recipe.memory;
  const std::string who = "the '" + std::string(workflow) + "' workflow";
  if (client_controlled) {
    for (const char* key : {"server_memory_gc_rounds", "client_memory_gc_rounds"}) {
      if (mem.has(key)) mem.fail(key, who + " is client-controlled: its cleanup setting is memory_gc_rounds");
    }
    m.memory_gc_rounds = mem.get<std::int64_t>("memory_gc_rounds", 1, at_least(0));
  } else {
    if (mem.has("memory_gc_rounds"))
      mem.fail("memory_gc_rounds",
               "memory_gc_rounds is the setting of client-controlled workflows (Swarm); " + who +
                   " takes server_memory_gc_rounds and client_memory_gc_rounds");
    m.server_memory_gc_rounds = mem.get<std::int64_t>("server_memory_gc_rounds", default_server_gc_rounds, at_least(0));
    m.client_memory_gc_rounds = mem.get<std::int64_t>("client_memory_gc_rounds", default_client_gc_rounds, at_least(0));
  }
  mem.finish();
}

std::size_t SecureAggregationSettings::threshold_for(std::size_t k) const {
  if (threshold >= 1) return static_cast<std::size_t>(threshold);
  if (threshold > 0) return std::max(k / 2 + 1, static_cast<std::size_t>(std::ceil(threshold * static_cast<double>(k))));
  return k / 2 + 1;
}

std::optional<std::string> SecureAggregationSettings::threshold_refusal(std::size_t t, std::size_t k) {
  if (t > k)
    return "threshold " + std::to_string(t) + " is more than the " + std::to_string(k) + " sites of a group: no secret could be rebuilt";
  if (2 * t <= k)
    return "threshold " + std::to_string(t) + " is not above half of a group of " + std::to_string(k) +
           " sites: the server could gather shares of both of a site's secrets and unmask its update";
  return std::nullopt;
}

std::optional<std::string> privacy_warning(const PrivacySettings& privacy, std::int64_t sampled) {
  if (privacy.mode != PrivacySettings::Mode::central || sampled >= kFewSitesForCentralNoise) return std::nullopt;
  if (privacy.noise_multiplier && *privacy.noise_multiplier == 0) return std::nullopt;
  std::ostringstream out;
  out << "warning: [privacy] central noise with " << sampled << " sites a round: each element of the average gets noise of "
      << "standard deviation z·C/" << sampled;
  if (privacy.noise_multiplier && !privacy.adaptive)
    out << " = " << *privacy.noise_multiplier * privacy.clipping_norm / static_cast<double>(sampled);
  out << ", while the whole averaged update's norm is at most C; at this size the noise drowns the update (central DP "
         "is meant for hundreds of sites a round; see the README's Privacy study)";
  return out.str();
}

}  // namespace cohort::config
