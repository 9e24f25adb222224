// A startup kit as an outsider can edit it: kit.toml, and the signature file. The first
// input byte picks which. kit.toml either reads (and then the kit written for what was
// read reads back the same) or raises a ConfigError with a line and column inside it; a
// kit whose signature file was changed is refused with a KitError naming the kit.
#include "config_location.hpp"

#include "config/text_file.hpp"
#include "provisioning/project.hpp"
#include "provisioning/startup_kit.hpp"

#include <cstdlib>
#include <unistd.h>
#include <filesystem>

using namespace cohort;
using namespace cohort::provisioning;
namespace fs = std::filesystem;

namespace {

/// A real client kit, provisioned once per process, and its signature file's text.
struct Fixture {
  fs::path startup;
  std::string signature;

  Fixture() {
    const char* shm = "/dev/shm";
    std::string root = (fs::is_directory(shm) ? fs::path(shm) : fs::temp_directory_path()) / "cohort-fuzz-kit-XXXXXX";
    if (!::mkdtemp(root.data())) std::abort();
    const auto project = parse_project(
        "[project]\nname = \"fuzz\"\n[server]\nhost = \"localhost\"\n[[clients]]\nname = \"site-1\"\n", "project.toml");
    provision(project, root, "/nonexistent/cohort");
    startup = fs::path(root) / "site-1" / "startup";
    signature = config::read_text_file(startup / kSignatureFile);
  }
  ~Fixture() { fs::remove_all(startup.parent_path().parent_path()); }
  static Fixture& instance() {
    static Fixture fixture;
    return fixture;
  }
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 1) return 0;
  const std::string text(reinterpret_cast<const char*>(data + 1), size - 1);
  if (data[0] % 2 == 0) {
    KitConfig kit;
    try {
      kit = parse_kit_toml(text, "kit.toml");
    } catch (const ConfigError& e) {
      fuzz::require_located(e, text, "kit.toml");
      return 0;
    }
    COHORT_FUZZ_REQUIRE(parse_kit_toml(kit_toml(kit), "kit.toml") == kit, "kit.toml reads back as it was written");
    return 0;
  }
  Fixture& fixture = Fixture::instance();
  config::write_text_file(fixture.startup / kSignatureFile, text);
  try {
    verify_kit(fixture.startup);
    COHORT_FUZZ_REQUIRE(text == fixture.signature, "only the signed signature file verifies");
  } catch (const KitError& e) {
    COHORT_FUZZ_REQUIRE(std::string(e.what()).find(fixture.startup.string()) != std::string::npos,
                        std::string("the refusal names the kit: ") + e.what());
  }
  return 0;
}
