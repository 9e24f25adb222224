// A thread that writes the memory time series of a process.
#include <cohort/memory.hpp>

#include <atomic>
#include <condition_variable>
#include <cstdio>
#include <mutex>
#include <stdexcept>
#include <thread>

namespace cohort::memory {

Sample sample_now(CpuMeter& cpu) {
  Sample s;
  s.process = process_memory();
  s.allocator = allocator_stats();
  s.system = system_memory();
  s.cpu_percent = cpu.percent();
  s.tensor_bytes = tensor_bytes();
  s.cleanups = cleanups_run();
  return s;
}

struct Sampler::State {
  std::FILE* file = nullptr;
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

  void write_one() {
    Sample s;
    {
      std::lock_guard lock(mutex);
      s = sample_now(cpu);
      s.round = round.load();
      s.elapsed_seconds =
          std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
      constexpr double MiB = 1024.0 * 1024.0;
      char tensor[32] = "";
      if (s.tensor_bytes) std::snprintf(tensor, sizeof tensor, "%.2f", *s.tensor_bytes / MiB);
      std::fprintf(file, "%.3f,%.2f,%.2f,%.2f,%.2f,%s,%.1f,%.1f,%.2f,%.1f,%llu,%lld,%s\n", s.elapsed_seconds,
                   s.process.rss_bytes / MiB, s.process.peak_rss_bytes / MiB,
                   s.allocator.live_bytes / MiB, s.allocator.free_bytes / MiB, tensor,
                   s.system.total_bytes / MiB, s.system.available_bytes / MiB,
                   s.system.used_percent, s.cpu_percent, static_cast<unsigned long long>(s.cleanups),
                   static_cast<long long>(s.round), to_string(s.allocator.allocator).data());
      std::fflush(file);
    }
    std::uint64_t seen = max_rss.load();
    while (s.process.rss_bytes > seen && !max_rss.compare_exchange_weak(seen, s.process.rss_bytes)) {
    }
    if (on_sample) on_sample(s);
  }
};

Sampler::Sampler(std::filesystem::path csv, std::chrono::milliseconds interval,
                 std::function<void(const Sample&)> on_sample)
    : state_(std::make_shared<State>()) {
  if (!csv.parent_path().empty()) std::filesystem::create_directories(csv.parent_path());
  state_->file = std::fopen(csv.c_str(), "w");
  if (!state_->file) throw std::runtime_error("cannot write memory samples to " + csv.string());
  std::fputs("elapsed_s,rss_mb,peak_rss_mb,alloc_live_mb,alloc_free_mb,tensor_mb,sys_total_mb,"
             "sys_available_mb,sys_used_percent,cpu_percent,cleanups,round,allocator\n",
             state_->file);
  state_->interval = interval;
  state_->on_sample = std::move(on_sample);
  state_->thread = std::thread([state = state_.get()] {
    std::unique_lock lock(state->mutex);
    while (!state->stop) {
      lock.unlock();
      state->write_one();
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
  state_->write_one();
  std::fclose(state_->file);
}

void Sampler::set_round(std::int64_t round) { state_->round = round; }
void Sampler::sample() { state_->write_one(); }
std::uint64_t Sampler::max_rss_bytes() const { return state_->max_rss.load(); }

}  // namespace cohort::memory
