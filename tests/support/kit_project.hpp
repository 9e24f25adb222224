#pragma once
// A provisioned project run as in production, for integration tests: kits in dir/kits,
// participants started from their start.sh (a watchdog each), admins through `cohort job
// ... --kit`. Every started participant's stop.sh runs when the project goes, even when a
// check failed.

#include "support/processes.hpp"
#include "support/temp_dir.hpp"

#include <filesystem>
#include <map>
#include <string>
#include <vector>

namespace cohort::test {

struct KitProjectOptions {
  /// Clients site-1 .. site-N, of orgs a, b, a, b, ...
  int clients = 2;
  /// Lines added to [server] (fl_port, admin_port and schedule_timeout_s = 5 are set).
  std::string server;
  /// Tables appended to the project file (more admins).
  std::string extra;
  /// [server] host: the name sites and admins reach the server by.
  std::string host = "localhost";
};

class KitProject {
 public:
  explicit KitProject(const TempDir& dir, KitProjectOptions options = {});
  ~KitProject();
  KitProject(const KitProject&) = delete;
  KitProject& operator=(const KitProject&) = delete;

  const std::filesystem::path& kits() const { return kits_; }
  std::filesystem::path kit(const std::string& name) const { return kits_ / name / "startup"; }
  /// The server's workspace (jobs.db, jobs/<id>/).
  std::filesystem::path server_workspace() const { return kits_ / "server"; }
  std::vector<std::string> sites() const;

  /// Runs the participant's start.sh, under `wrapper` when given (`ip netns exec NS`).
  void start(const std::string& name, const std::map<std::string, std::string>& env = {},
             const std::vector<std::string>& wrapper = {});
  /// Runs its stop.sh.
  void stop(const std::string& name);
  /// Admin commands run under `wrapper` from now on.
  void run_admins_under(std::vector<std::string> wrapper) { admin_wrapper_ = std::move(wrapper); }
  /// The pid of a participant's process (its watchdog's child), once it runs.
  pid_t pid(const std::string& name) const;
  /// Kills the server's process with SIGKILL and waits until its watchdog started another.
  void kill_server();

  /// `cohort job ARGS --kit <admin kit>`.
  Finished admin(const std::vector<std::string>& args, const std::string& who = "boss@a") const;
  /// Waits until the admin endpoint answers and every site is connected.
  void wait_until_serving() const;
  /// Submits `recipe_text`; returns the job id.
  std::string submit(const std::string& recipe_text, const std::string& who = "boss@a") const;
  /// The job's status as `job show` prints it.
  std::string status(const std::string& id) const;
  /// `job show ID`'s value of `field` ("status", "rounds", "resumed", "last error").
  std::string show(const std::string& id, const std::string& field) const;

 private:
  const TempDir& dir_;
  KitProjectOptions options_;
  std::filesystem::path kits_;
  std::vector<std::string> started_;
  std::vector<std::string> admin_wrapper_;
  mutable int commands_ = 0;
};

/// A port free on 127.0.0.1 now.
std::uint16_t free_port();

}  // namespace cohort::test
