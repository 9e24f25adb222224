#include "client/client_job.hpp"

#include "plugin/registry.hpp"

#include <doctest/doctest.h>

#include <cstdlib>

namespace {

cohort::recipe::Recipe recipe(const std::string& controller, const std::string& memory) {
  auto dirs = cohort::plugin::Registry::default_directories();
  dirs.push_back(COHORT_FIXTURE_PLUGIN_DIR);
  return cohort::recipe::parse_recipe(
      "[job]\nnum_rounds = 3\nmin_clients = 1\n[controller]\nplugin = \"" + controller +
          "\"\n[executor]\nplugin = \"synthetic\"\n[memory]\n" + memory,
      "recipe.toml", dirs);
}

/// Sets an environment variable for one scope.
struct ScopedEnv {
  ScopedEnv(const char* name, const char* value) : name_(name) { setenv(name, value, 1); }
  ~ScopedEnv() { unsetenv(name_); }
  const char* name_;
};

}  // namespace

TEST_CASE("client memory: server-controlled workflows use client_memory_gc_rounds") {
  auto m = cohort::client::client_memory(recipe("fedavg", "client_memory_gc_rounds = 5\ncuda_empty_cache = true"));
  CHECK(m.gc_rounds == 5);
  CHECK(m.cuda_empty_cache);
  CHECK(m.clear_cache);
}

TEST_CASE("client memory: Swarm-style workflows use memory_gc_rounds (default 1) on their sites") {
  CHECK(cohort::client::client_memory(recipe("swarm-style", "")).gc_rounds == 1);
  CHECK(cohort::client::client_memory(recipe("swarm-style", "memory_gc_rounds = 3")).gc_rounds == 3);
}

TEST_CASE("client memory: the environment overrides the recipe") {
  ScopedEnv rounds("COHORT_CLIENT_MEMORY_GC_ROUNDS", "2");
  ScopedEnv cuda("COHORT_CUDA_EMPTY_CACHE", "true");
  auto m = cohort::client::client_memory(recipe("fedavg", "client_memory_gc_rounds = 5"));
  CHECK(m.gc_rounds == 2);
  CHECK(m.cuda_empty_cache);
}

TEST_CASE("client memory: a malformed environment variable is an error that names it") {
  ScopedEnv rounds("COHORT_CLIENT_MEMORY_GC_ROUNDS", "often");
  CHECK_THROWS_WITH(cohort::client::client_memory(recipe("fedavg", "")),
                    "COHORT_CLIENT_MEMORY_GC_ROUNDS='often': expected a non-negative integer");
}
