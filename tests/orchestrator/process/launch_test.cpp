// Launch descriptions: the command line a launcher writes is what the runtime parses back,
// field for field, through the same option list.
#include "support/temp_dir.hpp"

#include "process/launch.hpp"

#include <doctest/doctest.h>

#include <algorithm>
#include <fstream>
#include <sstream>

using namespace cohort::process;

namespace {

/// Parses `argv` (the executable first) with a CLI11 app holding the log flags and one
/// subcommand of description `L`, as the runtime does.
template <class L>
std::pair<LogOptions, L> parse_back(std::vector<std::string> argv) {
  CLI::App app;
  app.require_subcommand(1);
  LogOptions log;
  L parsed;
  add_options_of<LogLaunch>(app, log);
  CLI::App* command = &app;
  std::istringstream words(L::kCommand);  // "recipe probe": a subcommand of a subcommand
  for (std::string word; words >> word;) command = command->add_subcommand(word);
  add_options(*command, parsed);
  std::reverse(argv.begin(), argv.end());
  argv.pop_back();  // the executable
  app.parse(argv);
  return {log, parsed};
}

}  // namespace

TEST_CASE("launch: a server's command line parses back into the same description") {
  cohort::test::TempDir dir;
  std::filesystem::create_directories(dir.path() / "kits" / "server");
  const auto recipe = dir.path() / "recipe.toml";
  std::ofstream(recipe) << "[job]\n";

  ServerLaunch server;
  server.port = 8102;
  server.identity = (dir.path() / "kits" / "server").string();
  server.run_job = recipe.string();
  server.overrides = {"job.num_rounds=3", "controller.args.lr = 0.5"};
  server.job_id = "job-1";
  server.sites = "site-1,site-2";
  server.port_file = (dir.path() / "server.port").string();
  server.start_timeout_s = 2.5;
  server.reconnect_grace_s = 0.1;
  server.process.workspace = dir.path().string();
  server.process.plugin_paths = {"/a b", "/c"};
  server.process.chunk_kib = 64;
  LogOptions log;
  log.verbose = true;
  log.level = "debug";
  log.file = dir.path() / "server.log";

  const auto argv = command_line("cohort", log, server);
  CHECK(argv[0] == "cohort");
  CHECK(std::find(argv.begin(), argv.end(), "server") != argv.end());
  const auto [log_back, back] = parse_back<ServerLaunch>(argv);
  CHECK(log_back.verbose);
  CHECK(log_back.level == "debug");
  CHECK(log_back.file == log.file);
  CHECK(back.port == 8102);
  CHECK(back.identity == server.identity);
  CHECK(back.run_job == server.run_job);
  CHECK(back.overrides == server.overrides);
  CHECK(back.job_id == "job-1");
  CHECK(back.sites == "site-1,site-2");
  CHECK(back.port_file == server.port_file);
  CHECK(back.start_timeout_s == 2.5);
  CHECK(back.reconnect_grace_s == 0.1);
  CHECK(back.process.workspace == server.process.workspace);
  CHECK(back.process.process_name == "server");
  CHECK_FALSE(back.process.insecure);
  CHECK(back.process.plugin_paths == server.process.plugin_paths);
  CHECK(back.process.chunk_kib == 64);
}

TEST_CASE("launch: a client's command line parses back, lists one value per flag") {
  ClientLaunch client;
  client.server = "127.0.0.1:9000";
  client.sites = {"site-1", "site-2", "site-3"};
  client.exit_on_bye = true;
  client.process.insecure = true;
  client.process.process_name = "client-2";

  const auto argv = command_line("cohort", LogOptions{}, client);
  CHECK(std::count(argv.begin(), argv.end(), "--site") == 3);
  CHECK(std::count(argv.begin(), argv.end(), "--identity") == 0);  // empty lists say nothing
  CHECK(std::count(argv.begin(), argv.end(), "--kit") == 0);        // nor do empty texts
  CHECK(std::count(argv.begin(), argv.end(), "--log-level") == 0);  // nor defaults
  CHECK(std::count(argv.begin(), argv.end(), "--chunk-kib") == 0);
  const auto [log_back, back] = parse_back<ClientLaunch>(argv);
  CHECK(log_back.level == "info");
  CHECK(back.server == "127.0.0.1:9000");
  CHECK(back.sites == client.sites);
  CHECK(back.exit_on_bye);
  CHECK(back.process.insecure);
  CHECK(back.process.process_name == "client-2");
}

TEST_CASE("launch: a simulate's recipe is positional, its unset options say nothing") {
  cohort::test::TempDir dir;
  const auto recipe = dir.path() / "recipe.toml";
  std::ofstream(recipe) << "[job]\n";
  SimulateLaunch simulate;
  simulate.recipe = recipe.string();
  simulate.overrides = {"job.seed=3"};
  auto argv = command_line("cohort", LogOptions{}, simulate);
  CHECK(argv == std::vector<std::string>{"cohort", "simulate", recipe.string(), "--set", "job.seed=3"});
  auto back = parse_back<SimulateLaunch>(argv).second;
  CHECK_FALSE(back.clients.has_value());
  CHECK(back.workers.empty());

  simulate.clients = 12;
  simulate.workers = "auto";
  back = parse_back<SimulateLaunch>(command_line("cohort", LogOptions{}, simulate)).second;
  CHECK(back.recipe == recipe.string());
  CHECK(back.clients == 12);
  CHECK(back.workers == "auto");
  CHECK(back.overrides == simulate.overrides);
}

TEST_CASE("launch: a recipe probe is a command of two words, its recipe's parts shared") {
  cohort::test::TempDir dir;
  const auto recipe = dir.path() / "recipe.toml";
  std::ofstream(recipe) << "[job]\n";
  RecipeProbeLaunch probe;
  probe.recipe = {recipe.string(), {"/plugins"}, {"job.num_rounds=1"}};
  probe.sites = 8;
  const auto argv = command_line("cohort", LogOptions{}, probe);
  CHECK(argv == std::vector<std::string>{"cohort", "recipe", "probe", recipe.string(), "--plugin-path", "/plugins",
                                         "--set", "job.num_rounds=1", "--sites", "8"});
  const auto back = parse_back<RecipeProbeLaunch>(argv).second;
  CHECK(back.recipe.file == recipe.string());
  CHECK(back.recipe.plugin_paths == probe.recipe.plugin_paths);
  CHECK(back.recipe.overrides == probe.recipe.overrides);
  CHECK(back.sites == 8);
}

TEST_CASE("launch: a kit's process is its command and the kit") {
  ServerLaunch server;
  server.kit = "/kits/server";
  CHECK(command_line("cohort", LogOptions{}, server) == std::vector<std::string>{"cohort", "server", "--kit", "/kits/server"});
}

TEST_CASE("launch: the runtime's checks apply to what it parses back") {
  ServerLaunch server;
  server.port = 70000;
  CHECK_THROWS_WITH_AS(parse_back<ServerLaunch>(command_line("cohort", LogOptions{}, server)),
                       doctest::Contains("--port"), CLI::ValidationError);
}

TEST_CASE("launch: the value after a log flag is not the command") {
  CHECK(is_valued_log_flag("--log-level"));
  CHECK(is_valued_log_flag("--log-file"));
  CHECK_FALSE(is_valued_log_flag("--verbose"));
  CHECK_FALSE(is_valued_log_flag("server"));
}

TEST_CASE("launch: memprofile's run of one setting parses back into the same description") {
  MemprofileLaunch setting;
  setting.single = 5;
  setting.num_rounds = 3;
  setting.num_clients = 4;
  setting.model_size_mb = 12.5;
  setting.allocator = "jemalloc";
  setting.mmap_threshold_kib = 0;
  setting.heaptrack = true;
  setting.transport = "mpi";
  setting.output = "/tmp/a folder/gc5";
  const auto argv = command_line("cohort", {}, setting);
  CHECK(std::find(argv.begin(), argv.end(), "--arena-max") == argv.end());  // unset: left out
  const auto [log, back] = parse_back<MemprofileLaunch>(argv);
  CHECK(*back.single == 5);
  CHECK(back.num_rounds == 3);
  CHECK(back.num_clients == 4);
  CHECK(back.model_size_mb == 12.5);
  CHECK(back.allocator == "jemalloc");
  CHECK(!back.arena_max);
  CHECK(*back.mmap_threshold_kib == 0);
  CHECK(back.heaptrack);
  CHECK(!back.insecure);
  CHECK(back.transport == "mpi");
  CHECK(back.output == setting.output);
}
