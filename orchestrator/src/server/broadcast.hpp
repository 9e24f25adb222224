#pragma once
// The server's side of ControllerContext::broadcast(): one task to many sites, results
// streamed into the controller's reducer as they arrive, and a wait with the options'
// deadlines. Once the wait is over the broadcast is closed: sinks still open are
// abandoned and late results are dropped, so the reducer is never called again. Each
// site's steps (sent, accepted, result_began, result_ended, failed) are told to `mark`
// as they happen, for the round's timeline; once closed, `mark` is never called again
// either (a task's write or a site's acceptance can come after the job is gone).

#include "server/pending_task.hpp"

#include <cohort/controller.hpp>

#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <set>
#include <vector>

namespace cohort::server {

class Broadcast : public std::enable_shared_from_this<Broadcast> {
 public:
  /// Called from any thread with a site and one of its steps.
  using Mark = std::function<void(const std::string& site, const char* event)>;
  /// `model`, the task's, is kept (its tensors, not a copy) until the broadcast closes, to
  /// send the task again to a site that reconnects.
  Broadcast(Reducer& reducer, std::vector<std::string> targets, Mark mark = {}, std::optional<Model> model = {});

  /// The PendingTask for `site` (one per target).
  std::shared_ptr<PendingTask> pending_for(const std::string& site);

  /// In-place aggregation. `step` runs on the waiting thread (in wait()) once every
  /// target's task is written to its connection, or failed; it runs again while it
  /// returns false.
  void when_sent(std::function<bool()> step);
  /// If every target's task is written and none is being sent again, runs `take` (the
  /// reducer takes the model's memory) and returns true; when `take` returned true, the
  /// task's model is no longer the broadcast's to send: a site that needs the task again
  /// gets `reload()` (the model from its file). Otherwise returns false, running nothing.
  bool lend_model(const std::function<bool()>& take, std::function<std::optional<Model>()> reload);

  /// Blocks until every target answered, or the options say to stop waiting, or
  /// `abort` returns true; then closes and returns what came of it.
  BroadcastOutcome wait(const BroadcastOptions& options, const std::function<bool()>& abort);

  struct Entry;

 private:
  class Target;
  class GuardedSink;
  friend class Target;
  friend class GuardedSink;

  std::unique_ptr<ResultSink> open(const std::string& site, const ResultInfo& info, bool has_model);
  void complete(const std::string& site, const ResultInfo& info);
  void fail(const std::string& site, const std::string& reason);
  void accepted(const std::string& site);
  void sent(const std::string& site);
  std::optional<Model> model_for_resend(const std::string& site);
  void close(const std::string& reason);

  Reducer& reducer_;
  Mark mark_;
  std::mutex mutex_;
  std::condition_variable changed_;
  bool closed_ = false;
  std::set<std::string> outstanding_;
  std::set<std::string> accepted_;
  std::vector<ResultInfo> received_;
  std::vector<SiteFailure> failed_;
  std::vector<std::shared_ptr<Entry>> entries_;
  std::optional<Model> model_;
  /// Targets whose task (its model) is not written yet: all at first, and a site again
  /// while its task is sent again after a reconnect.
  std::set<std::string> unsent_;
  std::function<bool()> when_sent_;
  /// Set by lend_model(): where a task sent again gets its model.
  std::function<std::optional<Model>()> reload_;
};

}  // namespace cohort::server
