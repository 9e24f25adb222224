#pragma once
// A recipe file parsed into typed sections, without loading a plugin: what light commands
// (the simulate launcher) need, and the first half of what the recipe layer checks. Every
// error is a ConfigError naming FILE:LINE:COL.

#include <cohort/args.hpp>
#include <cohort/export.hpp>
#include <cohort/job.hpp>

#include "config/toml_file.hpp"

#include <chrono>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace cohort::config {

/// `[controller]`, `[executor]` or one `[[hooks]]` entry.
struct PluginSection {
  /// The plugin's name (or a path to its .so).
  std::string plugin;
  /// Its args table, for the plugin to parse.
  Args args;
  /// Where `plugin = ...` is.
  SourceLocation where;
};

/// `[memory]`. The cleanup intervals have workflow-dependent defaults and keys; they are
/// filled in by read_workflow_memory() once the controller is known.
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
  /// Number of client processes the sites are spread over: a number, or "auto" (0, the
  /// default): sized from a probe of one site's task, the cores and the free memory.
  std::int64_t workers = 0;
  /// Plain TCP instead of mutual TLS.
  bool insecure = false;
  /// Transfer chunk size.
  std::int64_t chunk_kib = 1024;
  /// Server and client processes keep model-sized tensor memory for the next round
  /// (memory::set_model_memory_reuse): one model of resident memory between rounds.
  bool reuse_model_memory = false;
};

/// `[privacy]`: differential privacy of the sites' updates (README, "Privacy").
struct PrivacySettings {
  enum class Mode { off, central, local };
  enum class ClipAt { site, server };
  /// "central": the server adds the noise to the average (user-level DP-FedAvg); "local":
  /// each site clips and noises its own update before it leaves the site.
  Mode mode = Mode::off;
  /// Central mode: who clips, the sites (trusted) or the server (sites it does not trust).
  ClipAt clip_at = ClipAt::site;
  /// C: the L2 norm an update is clipped to; with `adaptive`, the initial norm.
  double clipping_norm = 0;
  /// clipping_norm = "adaptive" (Andrew et al. 2021): C follows a quantile of the sites'
  /// update norms, C ← C·exp(−lr·(fraction at or below C − quantile)).
  bool adaptive = false;
  double target_quantile = 0.5;
  double clip_learning_rate = 0.2;
  /// σ_b, the noise on the count of updates at or below C; unset: m / 20 for m sites sampled.
  std::optional<double> clipped_count_stddev;
  /// z; unset ("auto"): solved from target_epsilon, target_delta and the rounds planned.
  std::optional<double> noise_multiplier;
  /// Stop the job before a round that would take ε past this (at target_delta).
  std::optional<double> target_epsilon;
  /// δ, at which ε is reported.
  double target_delta = 0;
  /// A fixed seed for the noise (tests only: the job's log says so).
  std::optional<std::int64_t> seed;
  /// Where `mode` and `target_delta` are, for the checks that need the plugins and sites.
  SourceLocation where_mode, where_delta, where_noise;

  bool on() const { return mode != Mode::off; }
};

/// Central noise on fewer sites a round than this drowns the update: the recipe check and
/// the job's log warn.
inline constexpr std::int64_t kFewSitesForCentralNoise = 10;

/// The warning a recipe with central noise and fewer than kFewSitesForCentralNoise sites
/// sampled a round (its min_clients) gets before it runs, saying what the noise does at
/// that size; nothing otherwise.
COHORT_API std::optional<std::string> privacy_warning(const PrivacySettings& privacy, std::int64_t sampled);

/// `[secure_aggregation]`: the server learns only the sum of the sites' updates (SecAgg+;
/// README, "Secure aggregation").
struct COHORT_API SecureAggregationSettings {
  bool on = false;
  /// k: the sites a site shares its secrets with and masks against, itself included, on a
  /// ring ((k − 1) / 2 on each side); odd, at least 3. 0: all the round's sites.
  std::int64_t neighbours = 0;
  /// t of k shares rebuild a site's secret: a count (k/2 < t ≤ k), or a fraction of k in
  /// (0.5, 1]; 0: a majority, ⌊k/2⌋ + 1.
  double threshold = 0;
  /// Each element of a (weighted) update is clipped to [−clipping_range, clipping_range].
  double clipping_range = 8.0;
  /// ... and quantized to this many bits; a round's sum of n sites needs n · 2^bits ≤ 2^32.
  std::int64_t quantization_bits = 22;
  /// A site's weight (its steps times the controller's weight of the site) is divided by
  /// this, and capped at 1, before it scales the update.
  double max_weight = 1000;
  /// Where the section is, for the checks that need the workflow.
  SourceLocation where;

  /// The threshold for a group of `k` sites (the rule above).
  std::size_t threshold_for(std::size_t k) const;
  /// Why `t` of a group of `k` cannot hold a secret safely, or nothing.
  static std::optional<std::string> threshold_refusal(std::size_t t, std::size_t k);
  /// The most sites a round's sum can hold without wrapping modulo 2^32.
  std::size_t most_sites() const { return std::size_t{1} << (32 - quantization_bits); }
};

/// A recipe's sections, parsed and checked as far as that is possible without plugins.
struct RecipeFile {
  std::filesystem::path file;
  /// The recipe as run: the file's text with the overrides applied (a job's recipe.toml).
  std::string text;
  JobInfo job;
  /// `[job] on_server_restart`: "resume" or "abnormal"; "" leaves it to the server's
  /// project setting (read_restart_policy).
  std::string on_server_restart;
  PluginSection controller;
  PluginSection executor;
  std::vector<PluginSection> hooks;
  /// `[model]`, for the model zoo to parse.
  Args model;
  MemorySettings memory;
  SimulationSettings simulation;
  PrivacySettings privacy;
  SecureAggregationSettings secure_aggregation;
  /// `plugin_path`, made absolute against the recipe's folder.
  std::vector<std::filesystem::path> plugin_path;
  /// The `[memory]` table, for read_workflow_memory().
  Args memory_table;
};

/// `on_server_restart` of a table (a recipe's [job], a project's [server]): "resume" (a
/// job the server was running when it stopped goes on from its last completed round) or
/// "abnormal" (it ends ABNORMAL); `fallback` when absent. An error lists the choices.
COHORT_API std::string read_restart_policy(const Args& table, std::string_view fallback);

/// How long, by default, a server keeps the tasks of a site whose connection dropped, for
/// it to come back (a project's `[server] reconnect_grace_s`; the server's option).
inline constexpr std::int64_t kReconnectGraceSeconds = 10;

/// Parses recipe `text` (`file` names it in errors and anchors relative paths), with
/// `overrides` (`--set KEY=VALUE`) applied.
COHORT_API RecipeFile parse_recipe_file(std::string_view text, const std::filesystem::path& file,
                                        const Overrides& overrides = {});
/// Reads and parses `file`.
COHORT_API RecipeFile read_recipe_file(const std::filesystem::path& file, const Overrides& overrides = {});

/// The sites a run on one machine or cluster hosts (`simulate`, `mpi`): the recipe's
/// `[job] sites`, else site-1 .. site-N for N = `clients` when given, else `[simulation]
/// clients`, else `min_clients`. Throws when `clients` disagrees with the sites the recipe
/// names, or is below min_clients.
COHORT_API std::vector<std::string> hosted_sites(const RecipeFile& recipe, std::optional<std::int64_t> clients = {});

/// Reads the cleanup intervals of `[memory]` for a workflow named `workflow` that is
/// client-controlled or not, with its defaults, and finishes the table (unknown keys are
/// errors from here on).
COHORT_API void read_workflow_memory(RecipeFile& recipe, std::string_view workflow, bool client_controlled,
                                     std::int64_t default_server_gc_rounds, std::int64_t default_client_gc_rounds);

}  // namespace cohort::config
