#pragma once
// The environment a server or client process starts with: MALLOC_ARENA_MAX for its role,
// and jemalloc preloaded only when COHORT_ENABLE_JEMALLOC_PRELOAD=true (what `cohort`
// puts in place for a kit's process, and `cohort simulate` for its own).

#include <cstdint>
#include <map>
#include <optional>
#include <string>

namespace cohort::process {

/// Where jemalloc is looked for, in order.
inline constexpr const char* kJemallocPaths[] = {"/usr/lib/x86_64-linux-gnu/libjemalloc.so.2",
                                                "/usr/lib64/libjemalloc.so.2", "/usr/local/lib/libjemalloc.so"};
/// MALLOC_CONF when preloading jemalloc and the user set none.
inline constexpr const char* kDefaultMallocConf = "dirty_decay_ms:5000,muzzy_decay_ms:5000";

/// The first jemalloc library found, if any.
std::optional<std::string> find_jemalloc();

/// Variables to add to a process's environment: MALLOC_ARENA_MAX=`arena_max`,
/// MALLOC_MMAP_THRESHOLD_ (bytes) when `mmap_threshold_kib` > 0,
/// COHORT_REUSE_MODEL_MEMORY=true with `reuse_model_memory` (memory::set_model_memory_reuse), and with
/// COHORT_ENABLE_JEMALLOC_PRELOAD=true in our environment, LD_PRELOAD (appended to any
/// present) and MALLOC_CONF (unless already set). Throws when preloading is asked for and
/// no jemalloc is installed.
std::map<std::string, std::string> role_environment(std::int64_t arena_max, std::int64_t mmap_threshold_kib,
                                                    bool reuse_model_memory);

}  // namespace cohort::process
