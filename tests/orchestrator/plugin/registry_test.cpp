#include "plugin/registry.hpp"
#include "config/toml_file.hpp"

#include "support/temp_dir.hpp"

#include <spdlog/logger.h>

#include <doctest/doctest.h>
#include <dlfcn.h>

using cohort::plugin::Registry;

namespace {

const std::filesystem::path kFixtures = COHORT_FIXTURE_PLUGIN_DIR;

std::string load_error(const std::string& file) {
  Registry registry({kFixtures});
  try {
    registry.load_file(kFixtures / file);
  } catch (const std::exception& e) {
    return e.what();
  }
  return "no error";
}

bool library_mapped(const std::filesystem::path& file) {
  void* handle = dlopen(file.c_str(), RTLD_NOW | RTLD_NOLOAD);
  if (handle) dlclose(handle);
  return handle != nullptr;
}

}  // namespace

TEST_CASE("registry: lists the built plugins with kind and version") {
  Registry registry(Registry::default_directories());
  std::map<std::string, std::string> found;
  for (const auto& l : registry.list()) {
    if (l.plugin) found[std::string(l.plugin->name())] = std::string(cohort::to_string(l.plugin->kind()));
  }
  CHECK(found["fedavg"] == "controller");
  CHECK(found["synthetic"] == "executor");
  CHECK(found["torch-trainer"] == "executor");
}

TEST_CASE("registry: explains each broken library") {
  Registry registry({kFixtures});
  std::map<std::string, std::string> problems;
  for (const auto& l : registry.list()) {
    if (!l.plugin) problems[l.file.filename().string()] = l.problem;
  }
  CHECK(problems.size() == 6);  // old ABI, bad ABI, libtorch, C++11 ABI, magic, not a plugin
  CHECK(problems["libcohort_plugin_fixture_not_a_plugin.so"] ==
        "exports no 'cohort_plugin_v1' descriptor: not a cohort plugin, or one built for another plugin ABI");
}

TEST_CASE("registry: an ABI mismatch names both versions") {
  const auto error = load_error("libcohort_plugin_fixture_bad_abi.so");
  CHECK(error.find("plugin 'bad-abi' 0.1.0 (") == 0);
  CHECK(error.find(") was built for plugin ABI 99; this cohort loads ABI " + std::to_string(cohort::kPluginAbiVersion) + ": rebuild it against this cohort") !=
        std::string::npos);
}

TEST_CASE("registry: a plugin built for the previous ABI is refused, both versions named") {
  const auto error = load_error("libcohort_plugin_fixture_old_abi.so");
  CHECK(error.find("plugin 'old-abi' 0.1.0 (") == 0);
  CHECK(error.find(") was built for plugin ABI " + std::to_string(cohort::kPluginAbiVersion - 1) +
                   "; this cohort loads ABI " + std::to_string(cohort::kPluginAbiVersion) +
                   ": rebuild it against this cohort") != std::string::npos);
}

TEST_CASE("registry: a libtorch mismatch names both versions") {
  const auto error = load_error("libcohort_plugin_fixture_bad_torch.so");
  CHECK(error.find("does not match this cohort: it was built against libtorch 0.4, cohort against 1.13") !=
        std::string::npos);
}

TEST_CASE("registry: a _GLIBCXX_USE_CXX11_ABI mismatch is named") {
  const auto error = load_error("libcohort_plugin_fixture_bad_cxx11_abi.so");
  CHECK(error.find("it was built with _GLIBCXX_USE_CXX11_ABI=0, cohort with 1") != std::string::npos);
}

TEST_CASE("registry: a symbol that is not a descriptor is refused") {
  CHECK(load_error("libcohort_plugin_fixture_bad_magic.so").find("is not a cohort plugin descriptor") !=
        std::string::npos);
}

TEST_CASE("registry: an unknown name lists what is available") {
  Registry registry(Registry::default_directories());
  try {
    registry.load(cohort::PluginKind::executor, "synthetc", {"r.toml", 3, 10});
    FAIL("expected an error");
  } catch (const cohort::ConfigError& e) {
    const std::string what = e.what();
    CHECK(what.find("r.toml:3:10: no executor plugin named 'synthetc'; did you mean 'synthetic'? "
                    "(available executor plugins: python 1.0.0, synthetic 1.0.0, torch-trainer 1.0.0; searched: ") == 0);
  }
}

TEST_CASE("registry: a plugin loaded by name that is broken says why") {
  Registry registry({kFixtures});
  try {
    registry.load(cohort::PluginKind::controller, "bad-abi", {"r.toml", 1, 1});
    FAIL("expected an error");
  } catch (const cohort::ConfigError& e) {
    CHECK(std::string(e.what()).find("cannot load controller plugin 'bad-abi': plugin 'bad-abi'") != std::string::npos);
  }
}

TEST_CASE("registry: objects keep their library loaded until they are gone") {
  cohort::test::TempDir dir;
  const auto file = kFixtures / "libcohort_plugin_fixture_good_hook.so";
  const auto events = dir / "events.txt";
  std::shared_ptr<cohort::Hook> hook;
  {
    Registry registry({kFixtures});
    auto plugin = registry.load_file(file);
    cohort::Args args = cohort::config::parse_toml("file = '" + events.string() + "'", "args.toml");
    cohort::JobInfo job;
    cohort::Args model;
    hook = plugin->make_hook({args, job, model});
  }
  // The registry and its handle are gone; the hook's deleter still holds the library.
  CHECK(library_mapped(file));
  spdlog::logger log("test");
  hook->on_event(cohort::Event{cohort::EventType::round_ended, cohort::Role::server, "job", 3, ""}, log);
  CHECK(cohort::test::read_text(events) == "server round_ended 3\n");
  hook.reset();
  CHECK_FALSE(library_mapped(file));
}
