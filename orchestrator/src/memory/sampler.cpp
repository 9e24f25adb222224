// A thread that samples the memory of a process.
#include "memory/memory.hpp"

#include <atomic>
#include <condition_variable>
#include <mutex>
#include <thread>

namespace cohort::memory {

Sample sample_now(CpuMeter& cpu) {
  Sample s;
  s.process = process_memory();
  s.children_rss_bytes = children_rss_bytes();
  s.allocator = allocator_stats();
  s.system = system_memory();
  s.cpu_percent = cpu.percent();
  s.tensor_bytes = tensor_bytes();
  s.cleanups = cleanups_run();
  return s;
}

struct Sampler::State {
  std::chrono::milliseconds interval{1000};
  std::function<void(const Sample&)> on_sample;
  std::chrono::steady_clock::time_point start = std::chrono::steady_clock::now();
  CpuMeter cpu;
  std::mutex mutex;
  std::condition_variable wake;
  bool stop = false;
  std::atomic<std::int64_t> round{-1};
  std::atomic<std::uint64_t> max_rss{0};
  std::thread thread;

  void take_one() {
    std::lock_guard lock(mutex);
    Sample s = sample_now(cpu);
    s.round = round.load();
    s.elapsed_seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    if (s.process.rss_bytes > max_rss.load()) max_rss = s.process.rss_bytes;
    on_sample(s);
  }
};

Sampler::Sampler(std::chrono::milliseconds interval, std::function<void(const Sample&)> on_sample)
    : state_(std::make_shared<State>()) {
  state_->interval = interval;
  state_->on_sample = std::move(on_sample);
  state_->thread = std::thread([state = state_.get()] {
    std::unique_lock lock(state->mutex);
    while (!state->stop) {
      lock.unlock();
      state->take_one();
      lock.lock();
      state->wake.wait_for(lock, state->interval, [state] { return state->stop; });
    }
  });
}

Sampler::~Sampler() {
  {
    std::lock_guard lock(state_->mutex);
    state_->stop = true;
  }
  state_->wake.notify_all();
  state_->thread.join();
  state_->take_one();
}

void Sampler::set_round(std::int64_t round) { state_->round = round; }
void Sampler::sample() { state_->take_one(); }
std::uint64_t Sampler::max_rss_bytes() const { return state_->max_rss.load(); }

}  // namespace cohort::memory
