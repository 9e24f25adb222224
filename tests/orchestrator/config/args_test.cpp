#include "config/toml_file.hpp"
#include "support/temp_dir.hpp"

#include "support/config_error.hpp"

#include <doctest/doctest.h>

#include <functional>

using cohort::Args;
using cohort::test::config_error_of;

namespace {

Args parse(const std::string& text) {
  return cohort::config::parse_toml(text, "args.toml").table("args");
}

}  // namespace

TEST_CASE("args: typed values and defaults are recorded as resolved") {
  Args a = parse("[args]\nlr = 0.5\nname = 'x'\nsites = ['a', 'b']\nweights = { a = 2 }\nflag = true\nn = 3\n");
  CHECK(a.get<double>("lr", 1.0) == 0.5);
  CHECK(a.get<std::string>("name", "") == "x");
  CHECK((a.get<std::vector<std::string>>("sites", {}) == std::vector<std::string>{"a", "b"}));
  CHECK(a.get<std::map<std::string, double>>("weights", {}).at("a") == 2.0);
  CHECK(a.get<bool>("flag", false));
  CHECK(a.get<std::int64_t>("n", 0) == 3);
  CHECK(a.get<double>("missing", 0.25) == 0.25);
  a.finish();
  auto resolved = a.resolved();
  REQUIRE(resolved.size() == 7);
  CHECK((resolved[0] == std::pair<std::string, std::string>{"lr", "0.5"}));
  CHECK((resolved[6] == std::pair<std::string, std::string>{"missing", "0.25"}));
}

TEST_CASE("args: an integer is accepted where a float is expected") {
  Args a = parse("[args]\nlr = 1\n");
  CHECK(a.get<double>("lr", 0.0) == 1.0);
}

TEST_CASE("args: wrong type names the position and what was expected") {
  Args a = parse("[args]\nlr = 'fast'\n");
  CHECK(config_error_of([&] { a.get<double>("lr", 1.0); }) == "args.toml:2:6: args.lr: expected a number, found a string");
}

TEST_CASE("args: out of range names the bounds") {
  Args a = parse("[args]\nmomentum = 2.0\n");
  CHECK(config_error_of([&] { a.get<double>("momentum", 0.9, cohort::between(0, 1)); }) ==
        "args.toml:2:12: args.momentum: value 2 is out of range: expected between 0 and 1");
}

TEST_CASE("args: unknown key suggests the closest known one") {
  Args a = parse("[args]\nlerning_rate = 0.1\n");
  a.get<double>("learning_rate", 0.1);
  CHECK(config_error_of([&] { a.finish(); }) ==
        "args.toml:2:1: unknown key 'lerning_rate' in [args]; did you mean 'learning_rate'?");
}

TEST_CASE("args: unknown key far from every known one gets no suggestion") {
  Args a = parse("[args]\ncompletely_else = 1\n");
  a.get<double>("lr", 0.1);
  CHECK(config_error_of([&] { a.finish(); }) == "args.toml:2:1: unknown key 'completely_else' in [args]");
}

TEST_CASE("args: a missing required key points at the table") {
  Args a = parse("x = 1\n[args]\nother = 1\n");
  CHECK(config_error_of([&] { a.required<std::string>("file"); }) == "args.toml:2:1: missing required key 'file' in [args]");
}

TEST_CASE("args: a reserved key is rejected with the reason") {
  Args a = parse("[args]\nmemory_gc_rounds = 1\n");
  CHECK(config_error_of([&] { a.reject("memory_gc_rounds", "it belongs in [memory]"); }) ==
        "args.toml:2:20: args.memory_gc_rounds: reserved key: it belongs in [memory]");
}

TEST_CASE("args: list elements are type-checked") {
  Args a = parse("[args]\nsites = ['a', 2]\n");
  CHECK(config_error_of([&] { a.get<std::vector<std::string>>("sites", {}); }) ==
        "args.toml:2:9: args.sites: expected a string, found an integer");
}

TEST_CASE("args: a table where a value is expected") {
  Args a = parse("[args]\n[args.lr]\nx = 1\n");
  CHECK(config_error_of([&] { a.get<double>("lr", 1.0); }) == "args.toml:2:1: args.lr: expected a number, found a table");
}

TEST_CASE("args: a file is found beside the recipe and a relative one travels with the job") {
  cohort::test::TempDir dir;
  cohort::test::write_text(dir / "code" / "train.py", "");
  cohort::test::write_text(dir / "code" / "data.bin", "");
  const auto recipe = (dir / "jobs" / "r.toml").string();
  const std::string text = "[args]\nscript = '../code/train.py'\nweights = '" + (dir / "code" / "data.bin").string() +
                           "'\nmissing = 'nowhere.py'\n";
  const Args root = cohort::config::parse_toml(text, recipe);
  const Args a = root.table("args");
  CHECK(a.file("script", Args::with_its_folder) == dir / "code" / "train.py");
  CHECK(a.file("weights") == dir / "code" / "data.bin");  // absolute: on every machine already
  CHECK(config_error_of([&] { a.file("missing"); }) ==
        recipe + ":4:11: args.missing: '" + (dir / "jobs" / "nowhere.py").string() + "' is not a file");
  // Every table of the document shares the list: the recipe reads it from any of them.
  const auto named = root.named_files();
  REQUIRE(named.size() == 1);
  CHECK(named[0].path == dir / "code" / "train.py");
  CHECK(named[0].with_folder);
  CHECK(named[0].where.line == 2);
}
