#include "recipe/recipe.hpp"

#include "plugin/registry.hpp"
#include "support/temp_dir.hpp"

#include <doctest/doctest.h>

using cohort::ConfigError;
namespace recipe = cohort::recipe;

namespace {

std::vector<std::filesystem::path> search_path() {
  auto dirs = cohort::plugin::Registry::default_directories();
  dirs.push_back(COHORT_FIXTURE_PLUGIN_DIR);
  return dirs;
}

const char* kValid = R"(
[job]
name = "test"
num_rounds = 2
min_clients = 2

[controller]
plugin = "fedavg"

[executor]
plugin = "synthetic"

[model]
arch = "synthetic"
size_mb = 0.01
)";

recipe::Recipe parse(const std::string& text) { return recipe::parse_recipe(text, "recipe.toml", search_path()); }

/// The error a recipe raises, as "LINE:COL: message" (the file name is always recipe.toml).
std::string error_of(const std::string& text) {
  try {
    parse(text);
  } catch (const ConfigError& e) {
    std::string what = e.what();
    const std::string prefix = "recipe.toml:";
    return what.rfind(prefix, 0) == 0 ? what.substr(prefix.size()) : what;
  }
  return "no error";
}

/// kValid with `line` replaced by `replacement`.
std::string valid_with(const std::string& line, const std::string& replacement) {
  std::string text = kValid;
  auto at = text.find(line);
  REQUIRE(at != std::string::npos);
  return text.replace(at, line.size(), replacement);
}

}  // namespace

TEST_CASE("recipe: a valid recipe resolves FedAvg's memory defaults") {
  auto r = parse(kValid);
  CHECK(r.job.name == "test");
  CHECK(r.job.num_rounds == 2);
  CHECK(r.controller_plugin->name() == "fedavg");
  CHECK(r.memory.server_memory_gc_rounds == 0);
  CHECK(r.memory.client_memory_gc_rounds == 0);
  CHECK(r.memory.clear_cache);
  CHECK_FALSE(r.client_controlled);
}

TEST_CASE("recipe: a client-controlled workflow defaults memory_gc_rounds to 1") {
  auto r = parse(valid_with("plugin = \"fedavg\"", "plugin = \"swarm-style\""));
  CHECK(r.client_controlled);
  CHECK(r.memory.memory_gc_rounds == 1);
}

TEST_CASE("recipe: rendering fills in every default, plugin args included") {
  auto text = recipe::render(parse(kValid));
  CHECK(text.find("server_memory_gc_rounds = 0") != std::string::npos);
  CHECK(text.find("[controller.args]") != std::string::npos);
  CHECK(text.find("key_metric = 'accuracy'") != std::string::npos);
  CHECK(text.find("steps = 1") != std::string::npos);
}

TEST_CASE("recipe rejects: TOML syntax error") {
  CHECK(error_of("[job]\nname = \"x\nnum_rounds = 1\n").rfind("2:10: TOML syntax error: ", 0) == 0);
}

TEST_CASE("recipe rejects: a missing [job] table") {
  CHECK(error_of("[controller]\nplugin = \"fedavg\"\n") == "1:1: missing required table [job]");
}

TEST_CASE("recipe rejects: a missing num_rounds") {
  CHECK(error_of(valid_with("num_rounds = 2\n", "")) == "2:1: missing required key 'num_rounds' in [job]");
}

TEST_CASE("recipe rejects: a wrong type") {
  CHECK(error_of(valid_with("num_rounds = 2", "num_rounds = \"two\"")) ==
        "4:14: job.num_rounds: expected an integer, found a string");
}

TEST_CASE("recipe rejects: negative rounds") {
  CHECK(error_of(valid_with("num_rounds = 2", "num_rounds = -3")) ==
        "4:14: job.num_rounds: value -3 is out of range: expected at least 1");
}

TEST_CASE("recipe rejects: an unknown key with a suggestion") {
  CHECK(error_of(valid_with("min_clients = 2", "min_clients = 2\nnum_round = 3")) ==
        "6:1: unknown key 'num_round' in [job]; did you mean 'num_rounds'?");
}

TEST_CASE("recipe rejects: an unknown top-level table with a suggestion") {
  CHECK(error_of(std::string(kValid) + "\n[memmory]\nclear_cache = true\n") ==
        "17:2: unknown key 'memmory' in the top level; did you mean 'memory'?");
}

TEST_CASE("recipe rejects: a plugin no directory holds, listing the available ones") {
  const auto error = error_of(valid_with("plugin = \"fedavg\"", "plugin = \"fedavgg\""));
  CHECK(error.rfind("8:10: no controller plugin named 'fedavgg'; did you mean 'fedavg'? (available controller plugins: ", 0) == 0);
  CHECK(error.find("fedavg 1.0.0") != std::string::npos);
  CHECK(error.find("swarm-style 0.1.0") != std::string::npos);
}

TEST_CASE("recipe rejects: a plugin of the wrong kind") {
  const auto error = error_of(valid_with("plugin = \"synthetic\"", "plugin = \"fedavg\""));
  CHECK(error.rfind("11:10: cannot load executor plugin 'fedavg': 'fedavg' in ", 0) == 0);
  CHECK(error.find("libcohort_plugin_fedavg.so is a controller plugin") != std::string::npos);
}

TEST_CASE("recipe rejects: a plugin file that does not exist") {
  CHECK(error_of(valid_with("plugin = \"synthetic\"", "plugin = \"./nowhere/libx.so\"")) ==
        "11:10: ./nowhere/libx.so: no such plugin file");
}

TEST_CASE("recipe rejects: an unknown key in a plugin's args") {
  CHECK(error_of(valid_with("plugin = \"fedavg\"", "plugin = \"fedavg\"\n[controller.args]\nkey_metrc = \"loss\"")) ==
        "10:1: unknown key 'key_metrc' in [controller.args]; did you mean 'key_metric'?");
}

TEST_CASE("recipe rejects: a plugin arg out of range") {
  CHECK(error_of(valid_with("plugin = \"synthetic\"", "plugin = \"synthetic\"\n[executor.args]\nsteps = -1")) ==
        "13:9: executor.args.steps: value -1 is out of range: expected at least 0");
}

TEST_CASE("recipe rejects: a plugin arg of the wrong type") {
  CHECK(error_of(valid_with("plugin = \"fedavg\"", "plugin = \"fedavg\"\n[controller.args]\nexclude_vars = \"bias\"")) ==
        "10:16: controller.args.exclude_vars: expected an array, found a string");
}

TEST_CASE("recipe rejects: a plugin arg's invalid value") {
  CHECK(error_of(valid_with("plugin = \"fedavg\"", "plugin = \"fedavg\"\n[controller.args]\nstop_condition = \"accuracy ~ 3\"")) ==
        "10:18: controller.args.stop_condition: operator '~' is not one of >=, >, <=, <");
}

TEST_CASE("recipe rejects: negative cleanup rounds") {
  CHECK(error_of(std::string(kValid) + "\n[memory]\nserver_memory_gc_rounds = -1\n") ==
        "18:27: memory.server_memory_gc_rounds: value -1 is out of range: expected at least 0");
}

TEST_CASE("recipe rejects: Swarm's memory_gc_rounds for a server-controlled workflow") {
  CHECK(error_of(std::string(kValid) + "\n[memory]\nmemory_gc_rounds = 1\n") ==
        "18:20: memory.memory_gc_rounds: memory_gc_rounds is the setting of client-controlled workflows (Swarm); "
        "the 'fedavg' workflow takes server_memory_gc_rounds and client_memory_gc_rounds");
}

TEST_CASE("recipe rejects: client_memory_gc_rounds for a client-controlled workflow") {
  CHECK(error_of(valid_with("plugin = \"fedavg\"", "plugin = \"swarm-style\"") +
                 "\n[memory]\nclient_memory_gc_rounds = 1\n") ==
        "18:27: memory.client_memory_gc_rounds: the 'swarm-style' workflow is client-controlled: its cleanup setting "
        "is memory_gc_rounds");
}

TEST_CASE("recipe rejects: Swarm's memory keys inside executor args (reserved)") {
  CHECK(error_of(valid_with("plugin = \"synthetic\"", "plugin = \"synthetic\"\n[executor.args]\nmemory_gc_rounds = 1")) ==
        "13:20: executor.args.memory_gc_rounds: reserved key: memory_gc_rounds is a top-level recipe setting: put it "
        "in [memory]");
  CHECK(error_of(valid_with("plugin = \"synthetic\"", "plugin = \"synthetic\"\n[executor.args]\ncuda_empty_cache = true")) ==
        "13:20: executor.args.cuda_empty_cache: reserved key: cuda_empty_cache is a top-level recipe setting: put it "
        "in [memory]");
}

TEST_CASE("recipe rejects: a site listed twice") {
  CHECK(error_of(valid_with("min_clients = 2", "sites = [\"a\", \"a\"]")) ==
        "5:9: job.sites: site 'a' is listed twice");
}

TEST_CASE("recipe rejects: min_clients above the sites listed") {
  CHECK(error_of(valid_with("min_clients = 2", "sites = [\"a\"]\nmin_clients = 2")) ==
        "6:15: job.min_clients: value 2 is out of range: expected between 1 and 1");
}

TEST_CASE("recipe rejects: hooks that are not an array of tables") {
  CHECK(error_of("hooks = \"x\"\n" + std::string(kValid)) == "1:9: hooks: expected an array of tables ([[hooks]])");
}

TEST_CASE("recipe rejects: a hook plugin's missing arg") {
  CHECK(error_of(std::string(kValid) + "\n[[hooks]]\nplugin = \"recording-hook\"\n") ==
        "17:1: missing required key 'file' in [hooks[0].args]");
}

TEST_CASE("recipe rejects: a model the trainer cannot train") {
  CHECK(error_of(valid_with("plugin = \"synthetic\"", "plugin = \"torch-trainer\"")) ==
        "14:8: model.arch: torch-trainer trains mlp or cnn networks, not the synthetic model");
}

TEST_CASE("recipe rejects: an unknown model architecture") {
  std::string text = valid_with("plugin = \"synthetic\"", "plugin = \"torch-trainer\"");
  text.replace(text.find("\"synthetic\""), 11, "\"resnet\"");
  CHECK(error_of(text) == "14:8: model.arch: unknown architecture 'resnet': expected mlp, cnn or synthetic");
}

TEST_CASE("recipe: the files that travel with a python job are its script and the script's folder") {
  cohort::test::TempDir dir;
  for (const char* file : {"code/train.py", "code/helpers/__init__.py", "code/helpers/util.py", "code/.env",
                           "code/__pycache__/train.cpython-311.pyc", "code/.git/HEAD", "elsewhere.py"})
    cohort::test::write_text(dir / file, "");
  const std::string executor = "[executor]\nplugin = \"python\"\n[executor.args]\nscript = \"../code/train.py\"\n";
  const auto r = recipe::parse_recipe(valid_with("[executor]\nplugin = \"synthetic\"\n", executor),
                                      dir / "jobs" / "r.toml", search_path());
  CHECK(recipe::travelling_files(r) == std::vector<std::filesystem::path>{dir / "code/helpers/__init__.py",
                                                                          dir / "code/helpers/util.py",
                                                                          dir / "code/train.py"});
  // A script named by an absolute path is on every machine already: nothing travels.
  const std::string absolute = "[executor]\nplugin = \"python\"\n[executor.args]\nscript = \"" +
                               (dir / "code/train.py").string() + "\"\n";
  CHECK(recipe::travelling_files(recipe::parse_recipe(valid_with("[executor]\nplugin = \"synthetic\"\n", absolute),
                                                      dir / "jobs" / "r.toml", search_path()))
            .empty());
  CHECK(recipe::travelling_files(parse(kValid)).empty());
}

namespace {

/// kValid with 20 sites and a [privacy] section of `keys`.
std::string with_privacy(const std::string& keys, const std::string& controller = "fedavg") {
  return valid_with("plugin = \"fedavg\"", "plugin = \"" + controller + "\"") + "\n[simulation]\nclients = 20\n\n[privacy]\n" +
         keys;
}

}  // namespace

TEST_CASE("recipe: [privacy] is read with its defaults and rendered") {
  const auto r = parse(with_privacy("mode = \"central\"\nclipping_norm = 0.5\nnoise_multiplier = 1.1\ntarget_delta = 1e-5\n"));
  CHECK(r.privacy.on());
  CHECK(r.privacy.clip_at == cohort::config::PrivacySettings::ClipAt::site);
  CHECK(r.privacy.clipping_norm == 0.5);
  CHECK(*r.privacy.noise_multiplier == 1.1);
  CHECK(recipe::render(r).find("[privacy]\nmode = 'central'\nclip_at = 'site'\nclipping_norm = 0.5") != std::string::npos);
  const auto adaptive = parse(with_privacy("mode = \"central\"\nclip_at = \"server\"\nclipping_norm = \"adaptive\"\n"
                                           "noise_multiplier = \"auto\"\ntarget_epsilon = 8\ntarget_delta = 1e-5\n"));
  CHECK(adaptive.privacy.adaptive);
  CHECK(adaptive.privacy.clipping_norm == 0.1);
  CHECK(adaptive.privacy.target_quantile == 0.5);
  CHECK(!adaptive.privacy.noise_multiplier);
}

TEST_CASE("recipe: bad [privacy] settings are refused with their position") {
  const std::string delta = "target_delta = 1e-5\n";
  CHECK(error_of(with_privacy("mode = \"centrall\"\nclipping_norm = 1\nnoise_multiplier = 1\n" + delta))
            .find("privacy.mode") != std::string::npos);
  CHECK(error_of(with_privacy("mode = \"central\"\nclipping_norm = 0\nnoise_multiplier = 1\n" + delta)) ==
        "22:17: privacy.clipping_norm: must be above 0");
  CHECK(error_of(with_privacy("mode = \"central\"\nclipping_norm = 1\nnoise_multiplier = -1\n" + delta))
            .find("23:20: privacy.noise_multiplier: ") == 0);
  CHECK(error_of(with_privacy("mode = \"central\"\nclipping_norm = 1\nnoise_multiplier = 1\ntarget_delta = 1\n")) ==
        "24:16: privacy.target_delta: must be above 0 and below 1");
  CHECK(error_of(with_privacy("mode = \"central\"\nclipping_norm = 1\nnoise_multiplier = 1\ntarget_delta = 0.1\n"))
            .find("24:16: privacy.target_delta: 0.1 is not below 1 / sites = 0.05") == 0);
  CHECK(error_of(with_privacy("mode = \"central\"\nclipping_norm = 1\nnoise_multiplier = 1\n"))
            .find("privacy.mode: needs target_delta") != std::string::npos);
  CHECK(error_of(with_privacy("mode = \"central\"\nclipping_norm = \"adaptive\"\nnoise_multiplier = 1\n" + delta))
            .find("needs clip_at = \"server\"") != std::string::npos);
  CHECK(error_of(with_privacy("mode = \"local\"\nclipping_norm = \"adaptive\"\nnoise_multiplier = 1\n" + delta))
            .find("needs mode = \"central\"") != std::string::npos);
  CHECK(error_of(with_privacy("clipping_norm = 1\n")).find("privacy.clipping_norm: [privacy] needs mode") != std::string::npos);
  // A fixed z whose first round alone passes the budget; a budget no z reaches.
  CHECK(error_of(with_privacy("mode = \"central\"\nclipping_norm = 1\nnoise_multiplier = 0.3\ntarget_epsilon = 1\n" + delta))
            .find("spends ε = ") != std::string::npos);
  CHECK(error_of(with_privacy("mode = \"local\"\nclipping_norm = 1\nnoise_multiplier = \"auto\"\ntarget_epsilon = 1e-6\n" + delta))
            .find("privacy.noise_multiplier: \"auto\": no noise multiplier") != std::string::npos);
}

TEST_CASE("recipe: [privacy] is refused for a workflow that does not average through the SDK, saying which do") {
  const std::string keys = "mode = \"central\"\nclipping_norm = 1\nnoise_multiplier = 1\ntarget_delta = 1e-5\n";
  const auto cyclic = error_of(with_privacy(keys, "cyclic"));
  CHECK(cyclic.find("21:8: privacy.mode: controller 'cyclic' does not average") == 0);
  CHECK(cyclic.find("works with fedavg and fedopt") != std::string::npos);
  CHECK(error_of(with_privacy(keys, "fedopt")) == "no error");
}

TEST_CASE("recipe: central noise on fewer than 10 sites a round is warned about, with its size") {
  const auto few = parse(with_privacy("mode = \"central\"\nclipping_norm = 2\nnoise_multiplier = 1\ntarget_delta = 1e-5\n"));
  const auto warning = cohort::config::privacy_warning(few.privacy, few.job.min_clients);
  REQUIRE(warning);
  CHECK(warning->find("central noise with 2 sites a round") != std::string::npos);
  CHECK(warning->find("z·C/2 = 1,") != std::string::npos);
  CHECK(!cohort::config::privacy_warning(few.privacy, 10));
  const auto local = parse(with_privacy("mode = \"local\"\nclipping_norm = 2\nnoise_multiplier = 1\ntarget_delta = 1e-5\n"));
  CHECK(!cohort::config::privacy_warning(local.privacy, 2));
}

namespace {

/// kValid with 20 sites and a [secure_aggregation] section of `keys`.
std::string with_secure(const std::string& keys, const std::string& controller = "fedavg", int per_round = 5) {
  std::string text = valid_with("plugin = \"fedavg\"", "plugin = \"" + controller + "\"");
  text.replace(text.find("min_clients = 2"), 15, "min_clients = " + std::to_string(per_round));
  return text + "\n[simulation]\nclients = 20\n\n[secure_aggregation]\n" + keys;
}

}  // namespace

TEST_CASE("recipe: [secure_aggregation] is read with its defaults and rendered") {
  const auto r = parse(with_secure("neighbours = 5\nthreshold = 3\n"));
  CHECK(r.secure_aggregation.on);
  CHECK(r.secure_aggregation.neighbours == 5);
  CHECK(r.secure_aggregation.threshold_for(5) == 3);
  CHECK(r.secure_aggregation.quantization_bits == 22);
  CHECK(recipe::render(r).find("[secure_aggregation]\nneighbours = 5\nthreshold = 3\nclipping_range = 8\n") != std::string::npos);
  const auto all = parse(with_secure(""));
  CHECK(all.secure_aggregation.neighbours == 0);
  CHECK(all.secure_aggregation.threshold_for(10) == 6);  // a majority
  CHECK(parse(with_secure("threshold = 0.8\n")).secure_aggregation.threshold_for(10) == 8);
  CHECK_FALSE(parse(with_secure("enabled = false\n")).secure_aggregation.on);
}

TEST_CASE("recipe: bad [secure_aggregation] settings are refused with their position and why") {
  CHECK(error_of(with_secure("neighbours = 4\n")).find("secure_aggregation.neighbours: 4 is even") != std::string::npos);
  CHECK(error_of(with_secure("neighbours = 5\nthreshold = 2\n"))
            .find("secure_aggregation.threshold: threshold 2 is not above half of a group of 5 sites") != std::string::npos);
  CHECK(error_of(with_secure("neighbours = 5\nthreshold = 6\n"))
            .find("threshold 6 is more than the 5 sites of a group") != std::string::npos);
  CHECK(error_of(with_secure("threshold = 0.4\n")).find("must be above 0.5") != std::string::npos);
  CHECK(error_of(with_secure("quantization_bits = 30\n"))
            .find("30 bits leave room for 4 sites in a sum modulo 2^32; the job samples") != std::string::npos);
  CHECK(error_of(with_secure("", "cyclic")).find("controller 'cyclic' does not average") != std::string::npos);
  CHECK(error_of(with_secure("", "fedavg", 2)).find("a sum of 2 sites tells a site the other's update") != std::string::npos);
  CHECK(error_of(with_secure("neighbours = \"most\"\n")).find("expected \"all\" or a number of sites") != std::string::npos);
}
