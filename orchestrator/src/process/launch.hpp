#pragma once
// How cohort's processes start one another: a description per kind of process, whose
// options (flag, field, help, checks) are listed once, in its `options` function. A
// launcher fills the struct and runs `command_line(...)`; the runtime adds the same options
// to its subcommand (`add_options`) and so parses that command line back into the same
// struct. A flag of these processes is spelled here and nowhere else.
//
// An `options` function is static and takes the struct as `Self&` so that one list serves
// both ways: with a const struct to write, with a mutable one to bind.

#include "config/recipe_file.hpp"
#include "process/command_line.hpp"
#include "process/logging.hpp"

#include <charconv>
#include <filesystem>
#include <cstdint>
#include <map>
#include <sstream>
#include <optional>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

namespace cohort::process {

/// The flags before the command, which every cohort process takes.
struct LogLaunch {
  template <class Self, class Option>
  static void options(Self& log, Option&& option) {
    option("-v,--verbose", log.verbose, "Log debug messages");
    option("--log-level", log.level, "Log level: trace, debug, info, warn, error, off",
           CLI::IsMember({"trace", "debug", "info", "warn", "error", "critical", "off"}));
    option("--log-file", log.file, "Also write this process's log to FILE");
  }
};

/// What a server and a client process both take: where they write, their name, plain TCP,
/// the plugin search path, the transfer chunk size.
struct ProcessLaunch {
  std::string workspace = ".";
  /// Name in logs and memory files.
  std::string process_name;
  bool insecure = false;
  std::vector<std::string> plugin_paths;
  std::int64_t chunk_kib = 1024;

  /// The options of a process named `name` by default.
  static ProcessLaunch named(std::string name) {
    ProcessLaunch p;
    p.process_name = std::move(name);
    return p;
  }

  template <class Self, class Option>
  static void options(Self& s, Option&& option) {
    option("--workspace", s.workspace, "Folder for jobs, logs and memory files");
    option("--process-name", s.process_name, "Name in logs and memory files");
    option("--insecure", s.insecure, "Plain TCP instead of mutual TLS (local experiments only)");
    option("-p,--plugin-path", s.plugin_paths, "Search DIR for plugins before the defaults");
    option("--chunk-kib", s.chunk_kib, "Transfer chunk size in KiB", at_least(1));
  }
};

/// `cohort server`: long-running from a startup kit, or one job's server (`--run-job`).
struct ServerLaunch {
  static constexpr const char* kCommand = "server";

  std::string host = "127.0.0.1";
  std::int64_t port = 0;
  std::string name = "server";
  std::string identity;
  std::string kit;
  std::string run_job;
  /// `--set KEY=VALUE` applied to that recipe.
  std::vector<std::string> overrides;
  std::string job_id;
  /// The job's sites, comma-separated.
  std::string sites;
  std::string port_file;
  double start_timeout_s = 120;
  double reconnect_grace_s = config::kReconnectGraceSeconds;
  ProcessLaunch process = ProcessLaunch::named("server");

  template <class Self, class Option>
  static void options(Self& s, Option&& option) {
    option("--host", s.host, "Address to listen on");
    option("--port", s.port, "Port to listen on (0: any free port)", between(0, 65535));
    option("--name", s.name, "This server's name (its certificate's CN)");
    option("--identity", s.identity, "Folder with rootCA.pem, cert.pem and key.pem", existing_folder());
    option("--kit", s.kit, "Run long-running from this server startup kit (verified; jobs come from admins)",
           existing_folder());
    option("--run-job", s.run_job, "Run this recipe as the server's only job, then exit", recipe_file());
    option("--set", s.overrides, "KEY=VALUE: override a setting of that recipe (e.g. controller.args.lr=0.1)");
    option("--job-id", s.job_id, "Id of that job (default: a new UUID)");
    option("--sites", s.sites, "Comma-separated sites of that job (overrides the recipe's)");
    option("--port-file", s.port_file, "Write the bound port to FILE once listening");
    option("--start-timeout", s.start_timeout_s, "Seconds to wait for the job's sites", number_at_least(0));
    option("--reconnect-grace", s.reconnect_grace_s,
           "Seconds a site whose connection dropped keeps its tasks, to come back (0: lost at once)",
           number_at_least(0));
    ProcessLaunch::options(s.process, option);
  }
};

/// `cohort client`: a client process hosting one or more sites.
struct ClientLaunch {
  static constexpr const char* kCommand = "client";

  std::string server = "127.0.0.1:8002";
  std::string server_name = "server";
  /// One folder per site (rootCA.pem, cert.pem, key.pem), named after it.
  std::vector<std::string> identities;
  /// The sites' names, with --insecure.
  std::vector<std::string> sites;
  std::string kit;
  bool exit_on_bye = false;
  ProcessLaunch process = ProcessLaunch::named("client");

  template <class Self, class Option>
  static void options(Self& s, Option&& option) {
    option("--server", s.server, "The server's HOST:PORT");
    option("--server-name", s.server_name, "CN the server's certificate must carry");
    option("--identity", s.identities, "A site's folder (rootCA.pem, cert.pem, key.pem); repeat per site",
           existing_folder());
    option("--site", s.sites, "A site's name (with --insecure); repeat per site");
    option("--kit", s.kit, "Run from this client startup kit (verified; sets server, identity, workspace)",
           existing_folder());
    option("--exit-on-bye", s.exit_on_bye, "Exit when the server says a final goodbye");
    ProcessLaunch::options(s.process, option);
  }
};

/// `cohort mpi RECIPE`: one job under mpirun, rank 0 its server, the other ranks its sites.
struct MpiLaunch {
  static constexpr const char* kCommand = "mpi";

  std::string recipe;
  /// `--set KEY=VALUE` applied to the recipe.
  std::vector<std::string> overrides;
  std::string workspace;
  std::string job_id;
  std::vector<std::string> plugin_paths;
  std::int64_t chunk_kib = 1024;
  double start_timeout_s = 120;

  template <class Self, class Option>
  static void options(Self& s, Option&& option) {
    option("recipe", s.recipe, "The job's recipe (TOML)", recipe_file());
    option("--set", s.overrides, "KEY=VALUE: override a setting of the recipe (e.g. job.num_rounds=5)");
    option("--workspace", s.workspace, "Where everything goes (default: workspace/<job name>-<time>)");
    option("--job-id", s.job_id, "The job's id (default: a new UUID)");
    option("-p,--plugin-path", s.plugin_paths, "Extra plugin directories (searched first)");
    option("--chunk-kib", s.chunk_kib, "Transfer chunk size in KiB", at_least(1));
    option("--start-timeout", s.start_timeout_s, "Seconds to wait for the job's sites", number_at_least(0));
  }
};

/// What `cohort recipe check|files|probe FILE` share: the recipe, its overrides, the
/// plugins to check it with.
struct RecipeLaunch {
  std::string file;
  std::vector<std::string> plugin_paths;
  /// `--set KEY=VALUE` applied to the recipe.
  std::vector<std::string> overrides;

  template <class Self, class Option>
  static void options(Self& s, Option&& option) {
    option("FILE", s.file, "The recipe (TOML)", recipe_file());
    option("-p,--plugin-path", s.plugin_paths, "Search DIR for plugins before the defaults");
    option("--set", s.overrides, "KEY=VALUE: override a setting (e.g. controller.plugin=fedopt)");
  }
};

/// `cohort recipe check FILE`: validated, printed resolved (`compare` checks each method so).
struct RecipeCheckLaunch {
  static constexpr const char* kCommand = "recipe check";
  RecipeLaunch recipe;
  std::string format = "text";

  template <class Self, class Option>
  static void options(Self& s, Option&& option) {
    RecipeLaunch::options(s.recipe, option);
    option("--format", s.format, "text: the resolved recipe; json: that and what a submit sends",
           CLI::IsMember({"text", "json"}));
  }
};

/// `cohort recipe files FILE`: the files that travel with its job (`job submit` asks).
struct RecipeFilesLaunch {
  static constexpr const char* kCommand = "recipe files";
  RecipeLaunch recipe;

  template <class Self, class Option>
  static void options(Self& s, Option&& option) {
    RecipeLaunch::options(s.recipe, option);
  }
};

/// `cohort recipe probe FILE`: one site's task in a process of its own (`simulate` sizes
/// its client processes by it).
struct RecipeProbeLaunch {
  static constexpr const char* kCommand = "recipe probe";
  RecipeLaunch recipe;
  std::int64_t sites = 1;

  template <class Self, class Option>
  static void options(Self& s, Option&& option) {
    RecipeLaunch::options(s.recipe, option);
    option("--sites", s.sites, "The job's number of sites (the probed site's share of the data)", at_least(1));
  }
};

/// `cohort memprofile`'s settings of one experiment: what the command takes besides its list
/// of cleanup settings, and what it passes to `cohort memprofile --single N`, which runs one
/// of them in a process tree of its own.
struct MemprofileLaunch {
  static constexpr const char* kCommand = "memprofile";

  std::int64_t num_rounds = 10;
  std::int64_t num_clients = 2;
  double model_size_mb = 100;
  /// Run only this setting, in this process tree (what the parent runs per setting).
  std::optional<std::int64_t> single;
  /// "glibc" or "jemalloc" (preloaded into server and clients).
  std::string allocator = "glibc";
  /// MALLOC_ARENA_MAX for every process (default: the role's, 4 and 2).
  std::optional<std::int64_t> arena_max;
  /// MALLOC_MMAP_THRESHOLD_ in KiB for every process (default: cohort's, 4096; 0: glibc's
  /// dynamic threshold, as in NVIDIA FLARE's experiment).
  std::optional<std::int64_t> mmap_threshold_kib;
  bool heaptrack = false;
  bool insecure = false;
  /// "tls" (`cohort simulate`) or "mpi" (`mpirun -n clients+1 cohort mpi`).
  std::string transport = "tls";
  /// Parent: where the timestamped folder goes. Single: the folder of this setting.
  std::filesystem::path output = "memprofile";

  template <class Self, class Option>
  static void options(Self& s, Option&& option) {
    option("--num-rounds", s.num_rounds, "FL rounds per setting", at_least(1));
    option("-n,--num-clients", s.num_clients, "Clients, one process each (with --transport mpi: mpirun -n N+1)",
           at_least(1));
    option("--model-size", s.model_size_mb, "Model size in MB", positive_number());
    option("--single", s.single, "Run only gc_rounds=N in this process tree", at_least(0));
    option("--allocator", s.allocator, "glibc or jemalloc (preloaded)", CLI::IsMember({"glibc", "jemalloc"}));
    option("--arena-max", s.arena_max, "MALLOC_ARENA_MAX for every process", at_least(1));
    option("--mmap-threshold", s.mmap_threshold_kib,
           "MALLOC_MMAP_THRESHOLD_ in KiB for every process (0: glibc's dynamic threshold)", between(0, 32 * 1024));
    option("--heaptrack", s.heaptrack, "Run server and clients under heaptrack: peak heap, leaks, flame graphs");
    option("--insecure", s.insecure, "Plain TCP instead of mutual TLS");
    option("--transport", s.transport,
           "tls: cohort simulate's processes; mpi: under mpirun, rank 0 the server, a client per other rank",
           CLI::IsMember({"tls", "mpi"}));
    option("--output", s.output, "Folder for the timestamped results");
  }
};

/// `cohort simulate RECIPE`: a whole job on this machine (`compare` runs each method so).
struct SimulateLaunch {
  static constexpr const char* kCommand = "simulate";

  std::string recipe;
  /// Sites (default: the recipe's).
  std::optional<std::int64_t> clients;
  /// Client processes: a count, or "auto" (default: the recipe's).
  std::string workers;
  /// `--set KEY=VALUE` applied to the recipe.
  std::vector<std::string> overrides;
  bool plan = false;
  /// Plain TCP (default: the recipe's [simulation] insecure).
  bool insecure = false;
  std::string workspace;
  std::vector<std::string> plugin_paths;
  std::string format = "text";
  /// Serve the dashboard for the job while it runs, on dashboard_listen.
  bool dashboard = false;
  std::string dashboard_listen = "127.0.0.1:8080";

  template <class Self, class Option>
  static void options(Self& s, Option&& option) {
    option("RECIPE", s.recipe, "The recipe (TOML)", recipe_file());
    option("--clients", s.clients, "Number of sites (default: the recipe's)", at_least(1));
    option("--workers", s.workers,
           "Client processes to spread the sites over: a number, or auto (measure one site's task, fit the "
           "processes into the cores and free memory); default: the recipe's, else auto",
           auto_or_count());
    option("--set", s.overrides, "KEY=VALUE: override a setting of the recipe (e.g. controller.plugin=fedopt)");
    option("--plan", s.plan, "Print how the job would be laid out (probing one site's task) and run nothing");
    option("--insecure", s.insecure, "Plain TCP instead of mutual TLS");
    option("--workspace", s.workspace, "Where the job's results go (default: workspace/<job>-<time>)");
    option("-p,--plugin-path", s.plugin_paths, "Search DIR for plugins before the defaults");
    option("--format", s.format, "text, or json: the summary as one object on stdout, the rest on stderr",
           CLI::IsMember({"text", "json"}));
    option("--dashboard", s.dashboard, "Serve the dashboard (cohort dashboard's page) for this job while it runs");
    option("--dashboard-listen", s.dashboard_listen, "HOST:PORT for --dashboard (port 0: any free one)");
  }
};

namespace launch_detail {

template <class T>
struct is_optional : std::false_type {};
template <class T>
struct is_optional<std::optional<T>> : std::true_type {};

template <class T>
struct is_vector : std::false_type {};
template <class T>
struct is_vector<std::vector<T>> : std::true_type {};

/// An option named without a dash is positional (required; written as its value alone).
inline bool positional(std::string_view names) { return !names.starts_with('-'); }

/// "--plugin-path" of "-p,--plugin-path".
inline std::string long_name(std::string_view names) {
  const auto comma = names.rfind(',');
  return std::string(comma == std::string_view::npos ? names : names.substr(comma + 1));
}

template <class T>
std::string text(const T& value) {
  if constexpr (std::is_convertible_v<const T&, std::string>) {
    return std::string(value);
  } else if constexpr (std::is_same_v<T, std::filesystem::path>) {
    return value.string();
  } else {
    char buffer[64];
    const auto [end, ec] = std::to_chars(buffer, buffer + sizeof buffer, value);  // shortest exact text
    return std::string(buffer, end);
  }
}

/// Writes each option whose value says something (a true flag, a non-empty text, a number,
/// each element of a list after its own flag) and differs from its default in `defaults`.
/// Recording, notes each option's arguments in `defaults` instead.
class Writer {
 public:
  using Defaults = std::map<std::string, std::vector<std::string>>;
  Writer(std::vector<std::string>& argv, Defaults& defaults, bool recording)
      : argv_(argv), defaults_(defaults), recording_(recording) {}

  template <class T, class... Checks>
  void operator()(std::string_view names, const T& value, const char*, const Checks&...) {
    const std::string flag = long_name(names);
    std::vector<std::string> args;
    if constexpr (std::is_same_v<T, bool>) {
      if (value) args.push_back(flag);
    } else if constexpr (is_vector<T>::value) {
      for (const auto& v : value) args.insert(args.end(), {flag, text(v)});
    } else if constexpr (is_optional<T>::value) {
      if (value) args = {flag, text(*value)};
    } else if constexpr (std::is_arithmetic_v<T>) {
      args = {flag, text(value)};
    } else if (!text(value).empty()) {
      args = {flag, text(value)};
    }
    if (positional(names) && !args.empty()) args.erase(args.begin());
    if (recording_) defaults_[flag] = std::move(args);
    else if (defaults_[flag] != args) argv_.insert(argv_.end(), args.begin(), args.end());
  }

 private:
  std::vector<std::string>& argv_;
  Defaults& defaults_;
  const bool recording_;
};

/// Binds each option to its field on a CLI11 command; a list takes one value per flag.
class Binder {
 public:
  explicit Binder(CLI::App& app) : app_(app) {}

  template <class T, class... Checks>
  void operator()(const char* names, T& value, const char* help, Checks&&... checks) {
    CLI::Option* o = nullptr;
    if constexpr (std::is_same_v<T, bool>) {
      o = app_.add_flag(names, value, help);
    } else if constexpr (is_vector<T>::value) {
      o = app_.add_option(names, value, help)->allow_extra_args(false);
    } else if (positional(names)) {
      o = app_.add_option(names, value, help)->required();
    } else if constexpr (is_optional<T>::value) {
      o = app_.add_option(names, value, help);
    } else {
      o = app_.add_option(names, value, help)->capture_default_str();
    }
    (o->check(std::forward<Checks>(checks)), ...);
  }

 private:
  CLI::App& app_;
};

}  // namespace launch_detail

/// Adds the options that description `L` lists to `app`, bound to the fields of `into`
/// (an `L`, or for LogLaunch the LogOptions).
template <class L, class S>
void add_options_of(CLI::App& app, S& into) {
  L::options(into, launch_detail::Binder(app));
}
template <class L>
void add_options(CLI::App& app, L& into) {
  add_options_of<L>(app, into);
}

/// The options that description `L` lists, with `from`'s values, as command-line
/// arguments; those at their defaults (a default-made `S`'s) are left out.
template <class L, class S>
std::vector<std::string> arguments_of(const S& from) {
  std::vector<std::string> argv;
  launch_detail::Writer::Defaults defaults;
  const S made{};
  L::options(made, launch_detail::Writer(argv, defaults, true));
  L::options(from, launch_detail::Writer(argv, defaults, false));
  return argv;
}

/// The whole command line: `executable`, the log flags, the command, its options.
template <class L>
std::vector<std::string> command_line(const std::string& executable, const LogOptions& log, const L& launch) {
  std::vector<std::string> argv{executable};
  for (auto& a : arguments_of<LogLaunch>(log)) argv.push_back(std::move(a));
  std::istringstream words(L::kCommand);  // "recipe probe": a command and its subcommand
  for (std::string word; words >> word;) argv.push_back(word);
  for (auto& a : arguments_of<L>(launch)) argv.push_back(std::move(a));
  return argv;
}

/// A command's arguments (after the command's name) read by its launch description, as the
/// runtime reads them; nothing when they do not parse (the runtime says why when it runs).
template <class L>
std::optional<L> parse_arguments(const std::vector<std::string>& args) {
  CLI::App app;
  L launch;
  add_options(app, launch);
  std::vector<std::string> reversed(args.rbegin(), args.rend());  // CLI11 takes them last first
  try {
    app.parse(reversed);
  } catch (const CLI::Error&) {
    return std::nullopt;
  }
  return launch;
}

/// Whether `arg` is one of the log flags that take a value (so that the next argument is
/// that value, not the command).
inline bool is_valued_log_flag(std::string_view arg) {
  bool valued = false;
  LogOptions probe;
  LogLaunch::options(probe, [&](std::string_view names, const auto& value, const char*, const auto&...) {
    if constexpr (!std::is_same_v<std::decay_t<decltype(value)>, bool>) {
      valued = valued || arg == launch_detail::long_name(names);
    }
  });
  return valued;
}

}  // namespace cohort::process
