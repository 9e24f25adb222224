// Every command's numeric options and path arguments refuse a bad value with a sentence
// that names the option and says what it takes, and exit 2 (a bad flag), whether the
// command runs in `cohort` itself or in the runtime it hands tensor work to.
#include "support/processes.hpp"
#include "support/temp_dir.hpp"

#include <doctest/doctest.h>

using namespace cohort::test;
namespace fs = std::filesystem;

namespace {

struct Case {
  std::vector<std::string> args;
  std::string says;
};

}  // namespace

TEST_CASE("command line: bad numbers and paths are refused with what is expected, status 2") {
  TempDir dir;
  const std::string recipe = (fs::path(COHORT_SOURCE_DIR) / "recipes" / "fedavg_fashion_mnist.toml").string();
  const std::string recipes = (fs::path(COHORT_SOURCE_DIR) / "recipes").string();
  const std::string missing = (dir / "missing.toml").string();
  const std::string nowhere = (dir / "nowhere").string();
  const std::string folder_listing =
      "is a folder, not a recipe; the recipes in it: cyclic_fashion_mnist.toml fedavg_fashion_mnist.toml";
  const std::vector<Case> cases{
      // cohort itself
      {{"simulate", recipe, "--clients", "0"}, "--clients: must be a whole number of at least 1, not '0'"},
      {{"simulate", recipe, "--workers", "0"}, "--workers: must be auto or a whole number of at least 1, not '0'"},
      {{"simulate", recipes}, folder_listing},
      {{"simulate", missing}, "RECIPE: no such file: '" + missing + "'"},
      {{"compare", recipe, "--repeats", "0"}, "--repeats: must be a whole number of at least 1, not '0'"},
      {{"compare", recipe, "--workers", "some"}, "--workers: must be auto or a whole number of at least 1, not 'some'"},
      {{"compare", recipes}, folder_listing},
      {{"memprofile", "--num-rounds", "0"}, "--num-rounds: must be a whole number of at least 1, not '0'"},
      {{"memprofile", "--num-clients", "-1"}, "--num-clients: must be a whole number of at least 1, not '-1'"},
      {{"memprofile", "--model-size", "0"}, "--model-size: must be a number above 0, not '0'"},
      {{"memprofile", "--single", "-1"}, "--single: must be a whole number of at least 0, not '-1'"},
      {{"memprofile", "--arena-max", "0"}, "--arena-max: must be a whole number of at least 1, not '0'"},
      {{"memprofile", "--mmap-threshold", "99999"}, "--mmap-threshold: must be a whole number from 0 to 32768, not '99999'"},
      {{"memprofile", "-n", "0"}, "--num-clients: must be a whole number of at least 1, not '0'"},  // -n is --num-clients
      {{"memprofile", "--compare", nowhere, nowhere}, "--compare: no such folder: '" + nowhere + "'"},
      {{"poc", "prepare", "-n", "0"}, "--clients: must be a whole number from 1 to 100, not '0'"},
      {{"poc", "start", "--timeout", "0"}, "--timeout: must be a whole number of at least 1, not '0'"},
      {{"provision", missing}, "project: no such file: '" + missing + "'"},
      {{"provision", recipes}, "project: '" + recipes + "' is a folder, not a file"},
      {{"job", "list", "--kit", nowhere}, "--kit: no such folder: '" + nowhere + "'"},
      {{"job", "submit", recipes}, folder_listing},
      {{"job", "wait", "some-id", "--timeout", "-1"}, "--timeout: must be a number of at least 0, not '-1'"},
      {{"kit", "start", nowhere}, "kit: no such folder: '" + nowhere + "'"},
      // the runtime
      {{"recipe", "check", recipes}, folder_listing},
      {{"recipe", "files", missing}, "FILE: no such file: '" + missing + "'"},
      {{"recipe", "probe", recipe, "--sites", "0"}, "--sites: must be a whole number of at least 1, not '0'"},
      {{"server", "--port", "70000"}, "--port: must be a whole number from 0 to 65535, not '70000'"},
      {{"server", "--run-job", recipes}, folder_listing},
      {{"server", "--identity", nowhere}, "--identity: no such folder: '" + nowhere + "'"},
      {{"server", "--reconnect-grace", "-1"}, "--reconnect-grace: must be a number of at least 0, not '-1'"},
      {{"server", "--chunk-kib", "0"}, "--chunk-kib: must be a whole number of at least 1, not '0'"},
      {{"client", "--identity", nowhere}, "--identity: no such folder: '" + nowhere + "'"},
      {{"memory-info", "--job", nowhere}, "--job: no such folder: '" + nowhere + "'"},
  };
  int n = 0;
  for (const auto& c : cases) {
    const auto done = run(cohort_command(c.args), dir / ("case-" + std::to_string(++n) + ".out"));
    std::string command;
    for (const auto& a : c.args) command += a + " ";
    INFO("cohort " << command << "\n" << done.output);
    CHECK(done.status == 2);
    CHECK(done.output.find(c.says) != std::string::npos);
  }
}
