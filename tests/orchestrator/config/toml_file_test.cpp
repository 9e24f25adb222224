// Overrides (`--set KEY=VALUE`): typed values, bare words, new tables, and errors that name
// the argument, not the file.
#include "config/recipe_file.hpp"
#include "config/toml_file.hpp"

#include "support/config_error.hpp"

#include <doctest/doctest.h>

#include <functional>

using cohort::Args;
using cohort::test::config_error_of;
using cohort::config::parse_toml;

namespace {

const std::string kText = "[job]\nname = 'x'\nnum_rounds = 3\n[controller]\nplugin = 'fedavg'\n[controller.args]\nlr = 0.5\n";

}  // namespace

TEST_CASE("overrides: TOML values keep their type, a bare word is a string, tables merge") {
  const Args root = parse_toml(kText, "r.toml",
                               {"job.num_rounds=7", "controller.plugin=fedopt", "controller.args.optimizer=adam",
                                "controller.args.betas=[0.9, 0.99]", "simulation.workers = auto", "job.name=\"a b\""});
  CHECK(root.table("job").get<std::int64_t>("num_rounds", 0) == 7);
  CHECK(root.table("job").get<std::string>("name", "") == "a b");
  CHECK(root.table("controller").get<std::string>("plugin", "") == "fedopt");
  const Args args = root.table("controller").table("args");
  CHECK(args.get<double>("lr", 0) == 0.5);  // the file's keys beside an override stay
  CHECK(args.get<std::string>("optimizer", "") == "adam");
  CHECK((args.get<std::vector<double>>("betas", {}) == std::vector<double>{0.9, 0.99}));
  CHECK(root.table("simulation").get<std::string>("workers", "") == "auto");
}

TEST_CASE("overrides: a later one wins, and a value may replace a table") {
  const Args root = parse_toml(kText, "r.toml", {"controller.args.lr=1", "controller.args.lr=2"});
  CHECK(root.table("controller").table("args").get<double>("lr", 0) == 2.0);
  const Args replaced = parse_toml(kText, "r.toml", {"controller.args=3"});
  CHECK(config_error_of([&] { replaced.table("controller").table("args"); }).find("--set controller.args=3") == 0);
}

TEST_CASE("overrides: errors about an overridden value name the --set argument") {
  const Args wrong_type = parse_toml(kText, "r.toml", {"job.num_rounds=many"});
  CHECK(config_error_of([&] { wrong_type.table("job").get<std::int64_t>("num_rounds", 0); }).find("--set job.num_rounds=many: ") == 0);
  const Args unknown = parse_toml(kText, "r.toml", {"controller.args.lrr=0.1"});
  const auto args = unknown.table("controller").table("args");
  args.get<double>("lr", 0);
  const std::string message = config_error_of([&] { args.finish(); });
  CHECK(message.find("--set controller.args.lrr=0.1: unknown key 'lrr'") == 0);
  CHECK(message.find("did you mean 'lr'") != std::string::npos);
  // The file's own errors still name the file.
  const Args file_error = parse_toml("oops = 1\n" + kText, "r.toml", {"job.num_rounds=7"});
  file_error.table("job");
  file_error.table("controller");
  CHECK(config_error_of([&] { file_error.finish(); }).find("r.toml:1:1: unknown key 'oops'") == 0);
}

TEST_CASE("overrides: a malformed one is refused, naming it") {
  CHECK(config_error_of([] { parse_toml(kText, "r.toml", {"num_rounds"}); }) ==
        "--set num_rounds: expected KEY=VALUE, e.g. controller.args.lr=0.1");
  CHECK(config_error_of([] { parse_toml(kText, "r.toml", {"=3"}); }).find("--set =3: expected KEY=VALUE") == 0);
  CHECK(config_error_of([] { parse_toml(kText, "r.toml", {"a b=3"}); }).find("--set a b=3: 'a b' is not a TOML key") == 0);
}

TEST_CASE("overrides: the recipe a server sends its sites is the file with them applied") {
  CHECK(cohort::config::parse_toml_with_text(kText, "r.toml", {}).text == kText);
  const std::string text =
      cohort::config::parse_recipe_file(kText + "[executor]\nplugin = 's'\n", "r.toml",
                                        {"job.num_rounds=7", "job.min_clients=1", "controller.args.optimizer=adam"})
          .text;
  CHECK(text.rfind("# r.toml --set job.num_rounds=7 --set job.min_clients=1 --set controller.args.optimizer=adam\n", 0) ==
        0);
  const auto recipe = cohort::config::parse_recipe_file(text, "r.toml");
  CHECK(recipe.job.num_rounds == 7);
  CHECK(recipe.job.name == "x");
  CHECK(recipe.controller.args.get<std::string>("optimizer", "") == "adam");
}

TEST_CASE("recipe: [simulation] workers is \"auto\" (the default) or a number") {
  auto workers = [](const std::string& line) {
    return cohort::config::parse_recipe_file(
               "[job]\nnum_rounds = 1\nmin_clients = 1\n[controller]\nplugin = 'fedavg'\n[executor]\nplugin = 's'\n"
               "[simulation]\n" + line + "\n",
               "r.toml")
        .simulation.workers;
  };
  CHECK(workers("") == 0);
  CHECK(workers("workers = 'auto'") == 0);
  CHECK(workers("workers = 3") == 3);
  CHECK(config_error_of([&] { workers("workers = 'many'"); }) ==
        "r.toml:9:11: simulation.workers: expected \"auto\" or a number of client processes, found \"many\"");
  CHECK(config_error_of([&] { workers("workers = 0"); }).find("r.toml:9:11: simulation.workers") == 0);
}
