#include "process/role_environment.hpp"

#include "memory/memory.hpp"

#include <cohort/error.hpp>
#include <cstdlib>
#include <filesystem>
#include <stdexcept>

namespace cohort::process {

std::optional<std::string> find_jemalloc() {
  for (const char* path : kJemallocPaths) {
    std::error_code ec;
    if (std::filesystem::exists(path, ec)) return std::string(path);
  }
  return std::nullopt;
}

std::map<std::string, std::string> role_environment(std::int64_t arena_max, std::int64_t mmap_threshold_kib,
                                                    bool reuse_model_memory) {
  std::map<std::string, std::string> env{{"MALLOC_ARENA_MAX", std::to_string(arena_max)}};
  if (reuse_model_memory) env[memory::kReuseModelMemoryVariable] = "true";
  if (mmap_threshold_kib > 0) env["MALLOC_MMAP_THRESHOLD_"] = std::to_string(mmap_threshold_kib * 1024);
  const char* preload = std::getenv("COHORT_ENABLE_JEMALLOC_PRELOAD");
  if (preload && std::string(preload) == "true") {
    auto jemalloc = find_jemalloc();
    if (!jemalloc)
      throw ConfigError({}, "COHORT_ENABLE_JEMALLOC_PRELOAD=true but no jemalloc is installed (apt-get install libjemalloc2)");
    const char* existing = std::getenv("LD_PRELOAD");
    env["LD_PRELOAD"] = existing && *existing ? std::string(existing) + ":" + *jemalloc : *jemalloc;
    const char* conf = std::getenv("MALLOC_CONF");
    env["MALLOC_CONF"] = conf && *conf ? conf : kDefaultMallocConf;
  }
  return env;
}

}  // namespace cohort::process
