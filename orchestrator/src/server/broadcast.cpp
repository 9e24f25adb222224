#include "server/broadcast.hpp"

namespace cohort::server {

using Clock = std::chrono::steady_clock;

/// One result's sink, guarded so that closing the broadcast can cut it off.
struct Broadcast::Entry {
  std::mutex mutex;
  std::unique_ptr<ResultSink> sink;
};

class Broadcast::Target final : public PendingTask {
 public:
  Target(std::shared_ptr<Broadcast> owner, std::string site) : owner_(std::move(owner)), site_(std::move(site)) {}
  std::unique_ptr<ResultSink> on_result(const ResultInfo& info, bool has_model) override {
    return owner_->open(site_, info, has_model);
  }
  void on_failure(const std::string& site, const std::string& reason) override { owner_->fail(site_, reason); }
  void on_accepted() override { owner_->accepted(site_); }
  void on_sent() override { owner_->sent(site_); }
  std::optional<Model> model_for_resend() override { return owner_->model_for_resend(site_); }

 private:
  std::shared_ptr<Broadcast> owner_;
  std::string site_;
};

class Broadcast::GuardedSink final : public ResultSink {
 public:
  GuardedSink(std::shared_ptr<Broadcast> owner, std::shared_ptr<Entry> entry, std::string site, ResultInfo info)
      : owner_(std::move(owner)), entry_(std::move(entry)), site_(std::move(site)), info_(std::move(info)) {}

  void begin_tensor(const TensorInfo& t) override {
    with_sink([&](ResultSink& s) { s.begin_tensor(t); });
  }
  void chunk_received(std::uint64_t offset, std::span<const std::byte> data) override {
    with_sink([&](ResultSink& s) { s.chunk_received(offset, data); });
  }
  void end_tensor() override {
    with_sink([](ResultSink& s) { s.end_tensor(); });
  }
  void commit() override {
    bool committed = false;
    {
      std::lock_guard lock(entry_->mutex);
      if (entry_->sink) {
        entry_->sink->commit();
        entry_->sink.reset();
        committed = true;
      }
    }
    if (committed) owner_->complete(site_, info_);
  }
  void abandon(const std::string& reason) override {
    {
      std::lock_guard lock(entry_->mutex);
      if (!entry_->sink) return;
      entry_->sink->abandon(reason);
      entry_->sink.reset();
    }
    owner_->fail(site_, "result cut off: " + reason);
  }

 private:
  template <class F>
  void with_sink(F&& f) {
    std::lock_guard lock(entry_->mutex);
    if (entry_->sink) f(*entry_->sink);
  }

  std::shared_ptr<Broadcast> owner_;
  std::shared_ptr<Entry> entry_;
  std::string site_;
  ResultInfo info_;
};

Broadcast::Broadcast(Reducer& reducer, std::vector<std::string> targets, Mark mark, std::optional<Model> model)
    : reducer_(reducer), mark_(mark ? std::move(mark) : [](const std::string&, const char*) {}),
      outstanding_(targets.begin(), targets.end()), model_(std::move(model)), unsent_(targets.begin(), targets.end()) {}

std::optional<Model> Broadcast::model_for_resend(const std::string& site) {
  std::function<std::optional<Model>()> reload;
  {
    std::lock_guard lock(mutex_);
    if (closed_ || !outstanding_.count(site)) return std::nullopt;
    if (!reload_) {
      unsent_.insert(site);
      return model_;
    }
    reload = reload_;
  }
  return reload();  // the model's memory is the reducer's now: its file has the same bytes
}

void Broadcast::when_sent(std::function<bool()> step) {
  std::lock_guard lock(mutex_);
  when_sent_ = std::move(step);
}

bool Broadcast::lend_model(const std::function<bool()>& take, std::function<std::optional<Model>()> reload) {
  std::lock_guard lock(mutex_);
  if (!unsent_.empty() || closed_) return false;
  if (take()) {
    reload_ = std::move(reload);
    model_.reset();
    mark_("server", "model_lent");
  }
  return true;
}

std::shared_ptr<PendingTask> Broadcast::pending_for(const std::string& site) {
  return std::make_shared<Target>(shared_from_this(), site);
}

std::unique_ptr<ResultSink> Broadcast::open(const std::string& site, const ResultInfo& info, bool has_model) {
  std::unique_lock lock(mutex_);
  if (closed_ || !outstanding_.count(site)) return nullptr;  // late: the round is over
  mark_(site, "result_began");
  auto entry = std::make_shared<Entry>();
  entry->sink = reducer_.open(info);
  if (!has_model) {
    // Metrics only: the result is complete now.
    entry->sink->commit();
    outstanding_.erase(site);
    mark_(site, "result_ended");
    received_.push_back(info);
    changed_.notify_all();
    return nullptr;
  }
  entries_.push_back(entry);
  return std::make_unique<GuardedSink>(shared_from_this(), std::move(entry), site, info);
}

void Broadcast::complete(const std::string& site, const ResultInfo& info) {
  std::lock_guard lock(mutex_);
  if (!outstanding_.erase(site)) return;
  mark_(site, "result_ended");
  received_.push_back(info);
  changed_.notify_all();
}

void Broadcast::fail(const std::string& site, const std::string& reason) {
  std::lock_guard lock(mutex_);
  unsent_.erase(site);
  if (!outstanding_.erase(site)) return;
  mark_(site, "failed");
  failed_.push_back({site, reason});
  changed_.notify_all();
}

void Broadcast::accepted(const std::string& site) {
  std::lock_guard lock(mutex_);
  if (accepted_.insert(site).second && !closed_) mark_(site, "accepted");
}

void Broadcast::sent(const std::string& site) {
  std::lock_guard lock(mutex_);
  if (!closed_) mark_(site, "sent");
  unsent_.erase(site);
  if (unsent_.empty()) changed_.notify_all();
}

void Broadcast::close(const std::string& reason) {
  std::vector<std::shared_ptr<Entry>> entries;
  {
    std::lock_guard lock(mutex_);
    closed_ = true;
    for (const auto& site : outstanding_) {
      mark_(site, "failed");
      failed_.push_back({site, reason});
    }
    outstanding_.clear();
    entries.swap(entries_);
    model_.reset();  // the task's tensors are the controller's again
  }
  // Each entry's lock waits for a fold in progress; afterwards its sink is gone.
  for (const auto& entry : entries) {
    std::lock_guard lock(entry->mutex);
    if (entry->sink) {
      entry->sink->abandon(reason);
      entry->sink.reset();
    }
  }
}

BroadcastOutcome Broadcast::wait(const BroadcastOptions& options, const std::function<bool()>& abort) {
  const auto start = Clock::now();
  const auto deadline = options.timeout.count() > 0 ? start + options.timeout : Clock::time_point::max();
  std::optional<Clock::time_point> enough_since;
  std::string reason = "not waited for";
  {
    std::unique_lock lock(mutex_);
    const std::size_t total = outstanding_.size() + received_.size() + failed_.size();
    const std::size_t needed = options.min_responses == 0 ? total : std::min(options.min_responses, total);
    while (!outstanding_.empty()) {
      if (when_sent_ && unsent_.empty()) {
        auto step = std::move(when_sent_);
        when_sent_ = nullptr;
        lock.unlock();
        const bool done = step();
        lock.lock();
        if (!done) when_sent_ = std::move(step);
        continue;
      }
      const auto now = Clock::now();
      if (abort && abort()) {
        reason = "job aborted";
        break;
      }
      if (now >= deadline) {
        reason = "timed out after " + std::to_string(options.timeout.count()) + " ms";
        break;
      }
      if (options.assignment_timeout.count() > 0 && now >= start + options.assignment_timeout) {
        // Sites that have not even started on the task are given up on; the others go on.
        std::vector<std::string> idle;
        for (const auto& site : outstanding_) {
          if (!accepted_.count(site)) idle.push_back(site);
        }
        for (const auto& site : idle) {
          outstanding_.erase(site);
          mark_(site, "failed");
          failed_.push_back({site, "did not take its task within " + std::to_string(options.assignment_timeout.count()) + " ms"});
        }
        if (outstanding_.empty()) break;
      }
      if (received_.size() >= needed) {
        if (!enough_since) enough_since = now;
        if (now >= *enough_since + options.wait_after_min) {
          reason = "not waited for: " + std::to_string(received_.size()) + " results were enough";
          break;
        }
      }
      auto wake = std::min(deadline, now + std::chrono::milliseconds(50));
      if (enough_since) wake = std::min(wake, *enough_since + options.wait_after_min);
      changed_.wait_until(lock, wake);
    }
  }
  close(reason);
  std::lock_guard lock(mutex_);
  return BroadcastOutcome{received_, failed_};
}

}  // namespace cohort::server
