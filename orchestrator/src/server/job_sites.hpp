#pragma once
// A job's sites on the server: gathering them before it starts (those the recipe names, or a
// resumed job's, or min_clients of any), then which of them are connected as the server's
// I/O threads hear sites join, return and drop. Each site is announced the job once per
// joining, by whoever sees it first: the job's start or the join.

#include "server/server.hpp"

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <mutex>
#include <set>
#include <string>
#include <vector>

namespace cohort::server {

class JobSites {
 public:
  explicit JobSites(Server& server) : server_(server) {}

  /// Waits up to `timeout` for the sites `named` (all of them; at least `min_clients`
  /// when the wait runs out), or, when none are named, for `min_clients` of any, and fixes
  /// the participants. False when too few came.
  bool gather(const std::vector<std::string>& named, std::size_t min_clients, std::chrono::milliseconds timeout);

  /// The participants, in the order the job numbers them.
  const std::vector<std::string>& participants() const { return participants_; }
  bool participates(const std::string& site) const;
  /// The site's index among the participants (0 for a stranger).
  std::int64_t index(const std::string& site) const;
  /// The participants connected now.
  std::vector<std::string> connected() const;

  /// The job starts: `announce` each participant connected now (under the lock that
  /// joined() takes, so that none is announced twice).
  void start(const std::function<void(const std::string&)>& announce);
  /// The job ended: nothing more is announced.
  void stop() { started_ = false; }
  /// Whether the job has started and not ended (any thread).
  bool started() const { return started_; }

  /// A site connected: true when it is a participant of the started job that must hear of it
  /// (its first join since it dropped).
  bool joined(const std::string& site);
  /// A site came back on a new connection: true when it is a participant of the started job
  /// (it may be a new client process that has not heard of the job).
  bool returned(const std::string& site);
  /// A site dropped: true when it was a participant of the started job.
  bool lost(const std::string& site);

 private:
  Server& server_;
  std::vector<std::string> participants_;
  std::atomic<bool> started_{false};
  /// Participants connected as far as this job knows (guarded: the server calls from its
  /// I/O threads while the job runs on its own).
  std::mutex joined_mutex_;
  std::set<std::string> joined_;
};

}  // namespace cohort::server
