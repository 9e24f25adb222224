// A job's folder: the files a job carries (app/) and where its recipe's paths start.
#include "jobs/job_directory.hpp"
#include "support/temp_dir.hpp"

#include <doctest/doctest.h>

using namespace cohort::jobs;
using cohort::test::TempDir;
namespace fs = std::filesystem;

namespace {

std::string refusal(const std::string& path) {
  try {
    app_path(path);
  } catch (const std::invalid_argument& e) {
    return e.what();
  }
  return "accepted";
}

}  // namespace

TEST_CASE("job directory: a job file's path stays inside app/") {
  CHECK(refusal("train.py") == "accepted");
  CHECK(refusal("code/helpers/__init__.py") == "accepted");
  CHECK(refusal("") == "job file '': an empty path");
  CHECK(refusal("/etc/passwd") == "job file '/etc/passwd': an absolute path");
  CHECK(refusal("../x.py") == "job file '../x.py': '..' in it");
  CHECK(refusal("a/../../x.py") == "job file 'a/../../x.py': not a normalized path");
  CHECK(refusal("./x.py") == "job file './x.py': not a normalized path");
  CHECK(refusal("a//x.py") == "job file 'a//x.py': not a normalized path");
  CHECK(refusal("a/") == "job file 'a/': a trailing slash");
  CHECK(refusal(".ssh/id_rsa") == "job file '.ssh/id_rsa': a hidden name '.ssh' in it");
  CHECK(refusal("a\\b.py") == "job file 'a\\b.py': a backslash or a NUL in it");
  CHECK(refusal(std::string("a\0b", 3)) == "job file 'a?b': a backslash or a NUL in it");
}

TEST_CASE("job directory: a job with files has its recipe among them, where its relative paths start") {
  TempDir dir;
  const JobDirectory plain(dir.path(), "plain");
  CHECK_FALSE(plain.app_recipe());
  CHECK(plain.recipe_location() == plain.recipe());
  CHECK(plain.app_files().empty());

  const JobDirectory job(dir.path(), "with-files");
  job.write_app_file({"code/train.py", "print('hi')\n"});
  job.write_app_file({"code/helpers/__init__.py", ""});
  job.write_app_file({"recipes/r.toml", "[job]\n"});
  job.link_recipe("recipes/r.toml");
  CHECK(job.app_recipe() == "recipes/r.toml");
  CHECK(job.recipe_location() == job.app() / "recipes/r.toml");
  CHECK(cohort::test::read_text(job.recipe()) == "[job]\n");  // recipe.toml reads through the link
  CHECK(job.app_files() == std::vector<std::string>{"code/helpers/__init__.py", "code/train.py", "recipes/r.toml"});
  CHECK(cohort::test::read_text(job.app() / "code/train.py") == "print('hi')\n");
  CHECK_THROWS_AS(job.write_app_file({"../escape.py", ""}), std::invalid_argument);
  CHECK_FALSE(fs::exists(dir / "jobs" / "escape.py"));
}
