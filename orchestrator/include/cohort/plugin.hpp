#pragma once
/// @file plugin.hpp
/// The plugin boundary. A plugin is a shared library that exports one descriptor
/// through Boost.DLL under the alias `cohort_plugin_v1`:
/// @code
///   std::unique_ptr<cohort::Controller> make(const cohort::PluginConfig& config);
///   COHORT_PLUGIN(cohort::controller_plugin("my-workflow", "1.0.0", "What it does", &make))
/// @endcode
/// The host checks the descriptor's magic, ABI version and build fingerprint before it
/// calls anything, and says exactly what mismatched.

#include <cohort/export.hpp>
#include <cohort/args.hpp>
#include <cohort/controller.hpp>
#include <cohort/executor.hpp>
#include <cohort/hooks.hpp>
#include <cohort/site_workflow.hpp>

#include <boost/dll/alias.hpp>
#include <torch/version.h>

#include <cstdint>
#include <filesystem>
#include <memory>
#include <string_view>

namespace cohort {

/// "cohortp1" in ASCII: tells a cohort descriptor from anything else.
inline constexpr std::uint64_t kPluginMagic = 0x636f686f72747031ULL;
/// Version of the descriptor layout after the stable prefix and of the API headers.
/// 2: typed site-workflow timers (Timer), JobInfo in job.hpp, the SDK in libcohort_sdk.
/// 3: Executor::model_placement (where a task's model lands).
/// 4: Controller::resumable, save_state, restore_state; SiteWorkflow::on_job_resumed.
/// 5: Controller::averages_results; AveragePrivacy and WeightedAverage::set_privacy.
/// 6: the memory toolkit (cohort::memory) left the SDK for the host's libcohort_memory;
///    IoError and ProtocolError (error.hpp).
/// 7: ExecutorContext::log_scalar (and kMaxScalarTagBytes).
/// 8: WeightedAverage::weight_of and add_reduced (secure aggregation); join_sites and
///    split_sites (job.hpp).
/// 9: in-place aggregation: WeightedAverage::Options::in_place, reuse_reference, in_place.
inline constexpr std::uint32_t kPluginAbiVersion = 9;
/// The exported alias; its name carries the ABI version a host looks for first.
inline constexpr const char* kPluginSymbol = "cohort_plugin_v1";

/// What a plugin provides.
enum class PluginKind : std::uint32_t { controller = 1, executor = 2, hook = 3 };

/// "controller", "executor" or "hook".
COHORT_API std::string_view to_string(PluginKind kind);

/// The folder of libcohort_sdk (`<libdir>` in the build tree as installed): the default
/// plugins are in its `cohort/plugins`, cohort's Python packages in its `cohort/python`.
COHORT_API std::filesystem::path sdk_directory();

/// What the plugin was compiled with. Host and plugin must agree on all of it.
struct BuildFingerprint {
  /// Compiler family and major version, e.g. "gcc 12".
  const char* compiler;
  int torch_major;
  int torch_minor;
  /// libstdc++'s dual ABI switch (_GLIBCXX_USE_CXX11_ABI).
  int cxx11_abi;
};

#define COHORT_STRINGIFY_IMPL(x) #x
#define COHORT_STRINGIFY(x) COHORT_STRINGIFY_IMPL(x)
#if defined(__clang__)
#define COHORT_COMPILER_ID "clang " COHORT_STRINGIFY(__clang_major__)
#elif defined(__GNUC__)
#define COHORT_COMPILER_ID "gcc " COHORT_STRINGIFY(__GNUC__)
#else
#define COHORT_COMPILER_ID "unknown"
#endif

/// The fingerprint of the translation unit that expands it.
#define COHORT_BUILD_FINGERPRINT                                                  \
  ::cohort::BuildFingerprint {                                                    \
    COHORT_COMPILER_ID, TORCH_VERSION_MAJOR, TORCH_VERSION_MINOR, _GLIBCXX_USE_CXX11_ABI \
  }

/// How often a workflow cleans memory up unless the recipe says otherwise.
struct MemoryDefaults {
  std::int64_t server_memory_gc_rounds = 0;
  std::int64_t client_memory_gc_rounds = 0;
};

/// Who drives the rounds. Client-controlled workflows (Swarm) take their memory
/// settings as `memory_gc_rounds` (trainer and aggregator roles) instead of the
/// server/client pair.
enum class WorkflowStyle : std::uint32_t { server_controlled = 0, client_controlled = 1 };

/// What a plugin factory gets: its own arguments (to parse into a typed struct, then
/// finish()), the job they are for, and the recipe's `[model]` table (for executors that
/// build the network; others ignore it).
struct PluginConfig {
  const Args& args;
  const JobInfo& job;
  const Args& model;
};

using ControllerFactory = std::unique_ptr<Controller> (*)(const PluginConfig&);
using ExecutorFactory = std::unique_ptr<Executor> (*)(const PluginConfig&);
using HookFactory = std::unique_ptr<Hook> (*)(const PluginConfig&);
/// Client-controlled controllers: the part that runs on each site.
using SiteWorkflowFactory = std::unique_ptr<SiteWorkflow> (*)(const PluginConfig&);

/// The exported descriptor. The first five fields are the stable prefix: they keep
/// their layout in every ABI version, so a host can name a plugin it cannot load.
struct PluginDescriptor {
  // Stable prefix.
  std::uint64_t magic;
  std::uint32_t abi_version;
  PluginKind kind;
  const char* name;
  const char* version;
  // ABI 1.
  const char* description;
  BuildFingerprint build;
  MemoryDefaults memory_defaults;
  WorkflowStyle workflow_style;
  ControllerFactory make_controller;
  ExecutorFactory make_executor;
  HookFactory make_hook;
  /// Set by client-controlled controllers (WorkflowStyle::client_controlled).
  SiteWorkflowFactory make_site_workflow;
};

/// The usual factory: `Parse(config.args, config.job)` reads the plugin's arguments into
/// its typed config, the rest of the table is checked (unknown keys are errors), and a `T`
/// is made from the config:
/// @code
///   COHORT_PLUGIN(cohort::controller_plugin("cyclic", "1.0.0", "...",
///                 &cohort::make_from_config<cohort::Controller, Cyclic, &parse_config>))
/// @endcode
template <class Interface, class T, auto Parse>
std::unique_ptr<Interface> make_from_config(const PluginConfig& config) {
  auto parsed = Parse(config.args, config.job);
  config.args.finish();
  return std::make_unique<T>(std::move(parsed));
}

/// A descriptor of `kind` with its stable prefix and build fingerprint filled in (the
/// fingerprint of the translation unit that includes this header: the plugin's).
constexpr PluginDescriptor plugin_descriptor(PluginKind kind, const char* name, const char* version,
                                             const char* description) {
  PluginDescriptor d{};
  d.magic = kPluginMagic;
  d.abi_version = kPluginAbiVersion;
  d.kind = kind;
  d.name = name;
  d.version = version;
  d.description = description;
  d.build = COHORT_BUILD_FINGERPRINT;
  return d;
}

/// A controller plugin's descriptor.
constexpr PluginDescriptor controller_plugin(const char* name, const char* version, const char* description,
                                             ControllerFactory factory, MemoryDefaults memory_defaults = {}) {
  PluginDescriptor d = plugin_descriptor(PluginKind::controller, name, version, description);
  d.memory_defaults = memory_defaults;
  d.make_controller = factory;
  return d;
}

/// A client-controlled controller plugin's descriptor: the server part (which starts the
/// workflow and watches it) and the part each site runs.
constexpr PluginDescriptor client_controlled_plugin(const char* name, const char* version, const char* description,
                                                    ControllerFactory server, SiteWorkflowFactory site,
                                                    MemoryDefaults memory_defaults = {}) {
  PluginDescriptor d = controller_plugin(name, version, description, server, memory_defaults);
  d.workflow_style = WorkflowStyle::client_controlled;
  d.make_site_workflow = site;
  return d;
}

/// An executor plugin's descriptor.
constexpr PluginDescriptor executor_plugin(const char* name, const char* version, const char* description,
                                           ExecutorFactory factory) {
  PluginDescriptor d = plugin_descriptor(PluginKind::executor, name, version, description);
  d.make_executor = factory;
  return d;
}

/// A hook plugin's descriptor.
constexpr PluginDescriptor hook_plugin(const char* name, const char* version, const char* description,
                                       HookFactory factory) {
  PluginDescriptor d = plugin_descriptor(PluginKind::hook, name, version, description);
  d.make_hook = factory;
  return d;
}

/// Exports `DESCRIPTOR` (a PluginDescriptor expression) as this library's plugin.
/// Use once per plugin library, at namespace scope.
#define COHORT_PLUGIN(DESCRIPTOR)                                                      \
  namespace cohort_plugin_export {                                                     \
  const ::cohort::PluginDescriptor cohort_plugin_descriptor = DESCRIPTOR;              \
  }                                                                                    \
  BOOST_DLL_ALIAS(cohort_plugin_export::cohort_plugin_descriptor, cohort_plugin_v1)

}  // namespace cohort
