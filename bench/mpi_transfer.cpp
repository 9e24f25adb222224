// cohort_mpi_transfer, run by the "mpi" suite under `mpirun -n 2`: one model from rank 0 to
// rank 1 and back through cohort's MPI transport (TASK + chunks from tensor storage,
// received straight into fresh tensors, sent back as a RESULT), next to raw MPI_Send /
// MPI_Recv loops moving the same bytes between the same ranks in 1 MiB messages: one with
// the same memory as the model's (rank 0 sends its 1 GiB model, rank 1 receives into fresh
// memory and sends that back, rank 0 receives into fresh memory), one sending from a hot
// 1 MiB buffer (the interconnect's best case). Repetitions interleave the three.
//
//   cohort_mpi_transfer BYTES REPETITIONS [PAUSE_SECONDS]
//
// Both ranks idle PAUSE_SECONDS (default 0) before each transfer: on a virtual machine
// whose balloon reports free memory to the host, memory freed that long ago is the host's
// again, and the next transfer lands in pages the host must back anew, as a model does in
// a round that follows seconds of training; with a pause every transfer meets that, not
// only those that lose the race with the reporting.
//
// Rank 0 prints one line per repetition: "cohort GBPS raw_model GBPS raw_hot GBPS"; each
// rank prints, per transfer, what the transfer cost it: "profile REP rank R TRANSFER
// minflt N sys_s S user_s U" (minor page faults, system and user CPU seconds, all threads).
#include "model_receiver.hpp"
#include "mpi/mpi_transport.hpp"

#include "memory/memory.hpp"

#include <ATen/ops/full.h>
#include <mpi.h>
#include <spdlog/logger.h>
#include <spdlog/sinks/stdout_sinks.h>

#include <sys/resource.h>

#include <condition_variable>
#include <cstring>
#include <future>
#include <iostream>
#include <mutex>
#include <thread>

using namespace cohort;
using Clock = std::chrono::steady_clock;

namespace {

/// The model there and back through an MpiTransport; on rank 0, GB/s of bytes moved.
double cohort_round_trip(const mpi::MpiSession& session, const Model& model, const std::shared_ptr<spdlog::logger>& log) {
  mpi::MpiTransport transport(session, mpi::MpiOptions{{}, 1u << 20}, log);
  auto link = transport.open(1 - session.rank(), 1, "bench");
  link->established();
  std::promise<Model> back;
  std::mutex mutex;
  std::condition_variable closed_cv;
  bool closed = false;
  auto on_closed = [&] {
    std::lock_guard lock(mutex);
    closed = true;
    closed_cv.notify_all();
  };
  if (session.rank() == 0) {
    link->start(std::make_shared<bench::ModelReceiver>([&](Model m) { back.set_value(std::move(m)); }, on_closed));
  } else {
    link->start(std::make_shared<bench::ModelReceiver>(
        [&](Model m) { link->send(net::ResultHeader{1, "bench", true, "", 0, 1, {}, true}, std::move(m)); }, on_closed));
  }
  session.max(0);  // both links open before either rank sends
  transport.start();
  double gbps = 0;
  if (session.rank() == 0) {
    const auto start = Clock::now();
    link->send(net::TaskHeader{1, "bench", "train", 0, 0, 1, {}, true}, model);
    Model returned = back.get_future().get();
    const double seconds = std::chrono::duration<double>(Clock::now() - start).count();
    if (returned.byte_size() != model.byte_size()) throw std::runtime_error("the model came back truncated");
    gbps = 2.0 * static_cast<double>(model.byte_size()) / seconds / 1e9;
    link->close("done");
  } else {
    std::unique_lock lock(mutex);
    closed_cv.wait(lock, [&] { return closed; });
  }
  transport.stop("done", std::chrono::seconds(10));
  return gbps;
}

/// Raw MPI: `bytes` to rank 1 and back in 1 MiB messages; on rank 0, GB/s of bytes moved.
/// Each side receives into fresh memory readied as a model's destination is. Rank 0 sends
/// `model` (its bytes, as cohort sends a model's) or, when null, one hot 1 MiB buffer over
/// and over; rank 1 sends back what it received, or the hot buffer.
double raw_round_trip(const mpi::MpiSession& session, std::size_t bytes, const char* model) {
  constexpr std::size_t message = 1u << 20;
  const std::vector<char> hot(message, 'x');
  auto fresh = [&] {
    std::unique_ptr<char[]> memory(new char[bytes]);
    memory::prepare_for_filling(memory.get(), bytes);
    return memory;
  };
  auto receive = [&](char* into, int from) {
    for (std::size_t at = 0; at < bytes; at += message)
      MPI_Recv(into + at, static_cast<int>(std::min(message, bytes - at)), MPI_BYTE, from, 7, MPI_COMM_WORLD,
               MPI_STATUS_IGNORE);
  };
  auto send = [&](const char* from, int to) {
    for (std::size_t at = 0; at < bytes; at += message)
      MPI_Send(from ? from + at : hot.data(), static_cast<int>(std::min(message, bytes - at)), MPI_BYTE, to, 7,
               MPI_COMM_WORLD);
  };
  const bool same_memory = session.max(model ? 1 : 0) == 1;
  MPI_Barrier(MPI_COMM_WORLD);
  const auto start = Clock::now();
  if (session.rank() == 0) {
    send(model, 1);
    receive(fresh().get(), 1);
  } else {
    auto received = fresh();
    receive(received.get(), 0);
    send(same_memory ? received.get() : nullptr, 0);
  }
  return 2.0 * static_cast<double>(bytes) / std::chrono::duration<double>(Clock::now() - start).count() / 1e9;
}

struct Usage {
  long minor_faults = 0;
  double system_seconds = 0, user_seconds = 0;
};

Usage usage() {
  rusage r{};
  ::getrusage(RUSAGE_SELF, &r);
  auto seconds = [](const timeval& t) { return static_cast<double>(t.tv_sec) + static_cast<double>(t.tv_usec) * 1e-6; };
  return {r.ru_minflt, seconds(r.ru_stime), seconds(r.ru_utime)};
}

/// Runs one transfer after the pause and prints what it cost this rank; returns its GB/s.
template <typename Transfer>
double profiled(const mpi::MpiSession& session, int repetition, const char* name, std::chrono::seconds pause,
                Transfer&& transfer) {
  MPI_Barrier(MPI_COMM_WORLD);
  std::this_thread::sleep_for(pause);
  const Usage before = usage();
  const double gbps = transfer();
  const Usage after = usage();
  std::cout << "profile " << repetition << " rank " << session.rank() << " " << name << " minflt "
            << after.minor_faults - before.minor_faults << " sys_s " << after.system_seconds - before.system_seconds
            << " user_s " << after.user_seconds - before.user_seconds << std::endl;
  return gbps;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 3 && argc != 4) {
    std::cerr << "usage: mpirun -n 2 cohort_mpi_transfer BYTES REPETITIONS [PAUSE_SECONDS]\n";
    return 2;
  }
  const std::size_t bytes = std::stoull(argv[1]);
  const int repetitions = std::stoi(argv[2]);
  const std::chrono::seconds pause(argc == 4 ? std::stoi(argv[3]) : 0);
  memory::enable_tensor_accounting();  // and COHORT_REUSE_MODEL_MEMORY=true keeps received models' memory
  mpi::MpiSession session;
  if (session.size() != 2) {
    std::cerr << "run it with mpirun -n 2\n";
    return 2;
  }
  auto log = std::make_shared<spdlog::logger>("mpi-transfer", std::make_shared<spdlog::sinks::stderr_sink_mt>());
  log->set_level(spdlog::level::warn);
  Model model;
  if (session.rank() == 0) {
    for (int i = 0; i < 4; ++i)
      model.tensors.push_back({"w" + std::to_string(i), at::full({static_cast<std::int64_t>(bytes / 16)}, 1.0f)});
  }
  const char* model_bytes = session.rank() == 0 ? static_cast<const char*>(model.tensors[0].tensor.data_ptr()) : nullptr;
  // The model's four tensors, one after another, as one span of bytes for the raw loop.
  std::unique_ptr<char[]> model_copy;
  if (session.rank() == 0) {
    model_copy.reset(new char[bytes]);
    for (std::size_t i = 0; i < 4; ++i)
      std::memcpy(model_copy.get() + i * (bytes / 4), model.tensors[i].tensor.data_ptr(), bytes / 4);
    model_bytes = model_copy.get();
  }
  // Warm-up, the model's size: the pair's first large messages set up its path, and the
  // first repetition lands, as every later one does without a pause, in memory freed a
  // moment ago rather than in pages no process here has touched yet.
  raw_round_trip(session, bytes, nullptr);
  for (int r = 0; r < repetitions; ++r) {
    const double cohort = profiled(session, r, "cohort-transport", pause, [&] { return cohort_round_trip(session, model, log); });
    const double raw_model = profiled(session, r, "raw-model-memory", pause, [&] { return raw_round_trip(session, bytes, model_bytes); });
    const double raw_hot = profiled(session, r, "raw-hot-buffer", pause, [&] { return raw_round_trip(session, bytes, nullptr); });
    if (session.rank() == 0) std::cout << "cohort " << cohort << " raw_model " << raw_model << " raw_hot " << raw_hot << std::endl;
  }
  return 0;
}
