#pragma once
// The MPI implementation of net::Link: a job's server on rank 0, its sites on the other
// ranks, one link per site between rank 0 and the site's rank (its MPI tag is the site's
// number, so a rank hosts as many sites as it likes). The bytes are the wire protocol's,
// framed as over TCP: a model goes out chunk by chunk straight from tensor storage (an MPI
// message per chunk, so no whole-model buffer and no 2^31-element count), and comes in
// straight into its tensors (a message that is exactly what the FrameReader asks for is
// received into it).
//
// One progress thread per process makes every MPI call (MPI_THREAD_SERIALIZED): it starts
// the sends of every link (one piece in flight per link, so a held link never stalls the
// others), tests them, and takes each arriving message with a matched probe
// (MPI_Improbe / MPI_Mrecv). A link whose reader holds (back-pressure) keeps its matched
// messages parked until released; a rendezvous-sized chunk then waits at its sender. The
// thread polls while a send is in flight and for 2 ms after anything moved; otherwise it
// waits on a condition variable (woken at once by a caller) for 20 us doubling to 1 ms,
// instead of spinning: Open MPI's blocking calls poll a core at 100 % (see README,
// "Running under MPI").

#include "net/frame_reader.hpp"
#include "net/link.hpp"

#include <chrono>
#include <condition_variable>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace spdlog {
class logger;
}

namespace cohort::mpi {

struct MpiOptions {
  net::Limits limits;
  /// Chunk size for outgoing tensor bytes (rounded down to whole elements).
  std::size_t chunk_bytes = 1u << 20;
};

/// This process's MPI: initialised on construction (MPI_THREAD_SERIALIZED), finalised on
/// destruction. One per process; the collective calls here are the main thread's, made
/// before a transport starts or after it stopped.
class MpiSession {
 public:
  MpiSession();
  ~MpiSession();
  MpiSession(const MpiSession&) = delete;
  MpiSession& operator=(const MpiSession&) = delete;

  int rank() const { return rank_; }
  int size() const { return size_; }
  /// The MPI library, for logs ("Open MPI v4.1.4").
  const std::string& library() const { return library_; }
  /// Rank 0's `text`, on every rank.
  std::string broadcast(const std::string& text) const;
  /// The largest of every rank's `value`, on every rank.
  int max(int value) const;
  /// Ends every rank of the job now (MPI_Abort) with `code`.
  [[noreturn]] void abort(int code) const;

 private:
  int rank_ = 0;
  int size_ = 1;
  std::string library_;
};

/// The links of this process, and the thread that moves their bytes.
class MpiTransport {
 public:
  MpiTransport(const MpiSession& session, MpiOptions options, std::shared_ptr<spdlog::logger> log);
  ~MpiTransport();
  MpiTransport(const MpiTransport&) = delete;
  MpiTransport& operator=(const MpiTransport&) = delete;

  /// The link to rank `peer` for channel `channel` (> 0; both ends use the same number).
  /// Open every link before start(). `label` names it in logs.
  std::shared_ptr<net::Link> open(int peer, int channel, std::string label);
  /// Heard when a peer closes a link (it stopped, failed, or its rank is going away); the
  /// reason is the peer's. Set before start().
  void on_peer_closed(std::function<void(int peer, int channel, const std::string& reason)> callback);

  /// Starts the progress thread.
  void start();
  /// Waits until every link is closed and its last bytes are out (at most `grace`), then
  /// stops the progress thread. Links still open are closed with `reason`.
  void stop(const std::string& reason, std::chrono::milliseconds grace);
  class Link;

 private:
  void progress_loop();
  /// One pass: control requests, sends of the active links, arrived messages. Returns
  /// whether anything moved.
  bool progress_once();
  /// Takes the messages that have arrived (a bounded batch). Returns whether there were any.
  bool take_arrivals();
  /// Whether every link is closed and nothing of ours is in flight.
  bool quiet() const;
  void wake();

  const MpiSession& session_;
  MpiOptions options_;
  std::shared_ptr<spdlog::logger> log_;

  std::mutex mutex_;
  std::condition_variable work_;
  bool pending_work_ = false;
  bool stopping_ = false;
  /// Links that a caller touched (queued, released, closed) since the last pass.
  std::vector<std::shared_ptr<Link>> touched_;
  std::chrono::steady_clock::time_point stop_deadline_{};

  // The progress thread's own.
  std::map<std::pair<int, int>, std::shared_ptr<Link>> links_;
  std::vector<std::shared_ptr<Link>> active_;
  std::vector<std::byte> discard_;
  std::function<void(int, int, const std::string&)> peer_closed_;
  std::thread progress_;
};

}  // namespace cohort::mpi
