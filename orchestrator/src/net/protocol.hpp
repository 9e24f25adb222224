#pragma once
// The wire protocol: length-prefixed frames over TLS (or plain TCP with --insecure).
//
//   frame   = u32 payload_length (little endian) | u8 type | payload
//   session = HELLO -> WELCOME | REFUSE, then any number of:
//             JOB [+ model], TASK [+ model], ACCEPT, RESULT [+ model], HEARTBEAT, BYE,
//             RELAY [+ model] (site -> server -> DELIVER [+ model] to another site),
//             REPORT [+ model] (site -> server), JOB_END (server -> site),
//             RECEIVED (server -> site: a result arrived whole),
//             SCALARS (site -> server: what the site's executor logged; may also come
//             between the frames of a model the site sends, even inside a tensor)
//   model   = MODEL_BEGIN, (TENSOR, CHUNK*)*, MODEL_END | STREAM_ABORT
//
// CHUNK payloads are raw tensor bytes, written from the tensor's storage and read into
// their destination; all other payloads are small records (see codec.hpp). Every limit
// below is checked before a byte of the payload is read.

#include <cohort/controller.hpp>
#include <cohort/model.hpp>
#include <cohort/stream.hpp>

#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <variant>
#include <vector>

namespace cohort::net {

/// Bumped on any incompatible change; the handshake refuses a mismatch naming both.
/// 5: HELLO lists the tasks a reconnecting site still holds; RECEIVED acknowledges a result.
/// 6: SCALARS.
inline constexpr std::uint16_t kProtocolVersion = 6;
/// First bytes of a HELLO: tells a cohort peer from a stray connection.
inline constexpr char kMagic[8] = {'C', 'O', 'H', 'O', 'R', 'T', 'F', 'L'};
/// Bytes of a frame header.
inline constexpr std::size_t kFrameHeaderBytes = 5;

enum class FrameType : std::uint8_t {
  hello = 1,
  welcome = 2,
  refuse = 3,
  heartbeat = 4,
  job = 5,
  task = 6,
  result = 7,
  model_begin = 8,
  tensor = 9,
  chunk = 10,
  model_end = 11,
  bye = 12,
  accept = 13,
  relay = 14,
  deliver = 15,
  report = 16,
  stream_abort = 17,
  job_end = 18,
  received = 19,
  scalars = 20,
};

/// Name for logs ("TASK").
const char* to_string(FrameType type);

/// What a peer may send; a frame or model beyond them closes the connection.
struct Limits {
  /// Largest payload of a non-CHUNK frame.
  std::uint32_t max_control_bytes = 4u << 20;
  /// Largest CHUNK payload accepted.
  std::uint32_t max_chunk_bytes = 16u << 20;
  /// Most tensor records in one model.
  std::uint32_t max_tensors = 1u << 20;
  /// Most bytes in one model.
  std::uint64_t max_model_bytes = 64ull << 30;
  /// Most dimensions of a tensor, and longest tensor name.
  std::uint32_t max_dims = 16;
  std::uint32_t max_name_bytes = 4096;
};

/// How a connection behaves in time.
struct Timing {
  /// Send a HEARTBEAT when nothing was written for this long.
  std::chrono::milliseconds heartbeat_interval{5000};
  /// Close the connection when nothing was read for this long.
  std::chrono::milliseconds idle_timeout{60000};
  /// Close a connection that has not completed its handshake by then.
  std::chrono::milliseconds handshake_timeout{15000};
};

struct Hello {
  std::uint16_t version = kProtocolVersion;
  /// The site this connection speaks for (must match the certificate's CN under TLS).
  std::string site;
  /// The client process hosting the site (for logs and memory files).
  std::string process;
  std::string software;
  /// Tasks this site holds from a previous connection (running, or their results waiting
  /// to be sent): the server waits for their results instead of sending them again.
  std::vector<std::uint64_t> held_tasks{};
};

struct Welcome {
  std::uint16_t version = kProtocolVersion;
  std::string server;
  std::uint32_t heartbeat_ms = 5000;
};

struct Refuse {
  std::string reason;
};

struct Heartbeat {};

/// A job the site takes part in: the recipe, as submitted, for the client to load the
/// executor and memory settings from.
struct JobAnnounce {
  std::string job_id;
  /// Where the recipe's relative paths start: the server's recipe file, or, when the job
  /// carries files, the recipe's path among them.
  std::string recipe_path;
  std::string recipe_text;
  /// The job's sites, in partition order.
  std::vector<std::string> sites;
  /// The job carries files (a script and its helpers, the recipe among them): they follow
  /// as a model, one uint8 tensor per file named by its path in the job's app/ folder.
  bool has_model = false;
  /// The job's epoch: 0 for its first run, one more each time a restarted server resumes
  /// it. Tasks, results and site messages carry it; whoever holds a newer one drops them.
  std::int64_t epoch = 0;
};

struct TaskHeader {
  std::uint64_t task_id = 0;
  std::string job_id;
  std::string name;
  std::int64_t round = 0;
  std::int64_t site_index = 0;
  std::int64_t num_sites = 0;
  std::map<std::string, std::string> meta;
  bool has_model = true;
  std::int64_t epoch = 0;  ///< the job's (JobAnnounce::epoch)
};

struct ResultHeader {
  std::uint64_t task_id = 0;
  std::string job_id;
  bool ok = true;
  std::string error;
  std::int64_t round = -1;
  std::optional<std::int64_t> num_steps;
  Metrics metrics;
  bool has_model = true;
  std::int64_t epoch = 0;  ///< the task's
};

struct ModelBegin {
  std::uint32_t tensors = 0;
  std::uint64_t total_bytes = 0;
};

struct ModelEnd {};

/// A message of a client-controlled workflow on the wire: RELAY (site -> server, for the
/// site `to`), DELIVER (server -> site `to`; `message.from` is the sender, "server" for
/// the server's own), REPORT (site -> server). The server sets `message.from` of what
/// arrives to the site the connection authenticated, whatever the sender wrote.
struct SiteMessageHeader {
  std::string job_id;
  std::string to;
  SiteMessage message;
  bool has_model = false;
  std::int64_t epoch = 0;  ///< the job's, as the sender knows it
};
struct Relay : SiteMessageHeader {};
struct Deliver : SiteMessageHeader {};
struct Report : SiteMessageHeader {};

/// A job this site took part in has ended (server -> site): the client releases the
/// job's executor, workflow and monitor.
struct JobEnd {
  std::string job_id;
  std::string status;
};

/// Ends a model stream early: its source is gone. Only inside a model stream.
struct StreamAbort {
  std::string reason;
};

/// A site took a task: its worker started on it (what task_assignment_timeout waits for).
struct TaskAccepted {
  std::uint64_t task_id = 0;
};

/// The server has a task's result whole, or will never want it (server -> site): the site
/// drops it. Until then the site keeps it, to send it again after a reconnect.
struct ResultReceived {
  std::uint64_t task_id = 0;
};

/// One scalar a site's executor logged (ExecutorContext::log_scalar).
struct Scalar {
  std::string tag;
  std::int64_t step = 0;
  double value = 0;
  /// When it was logged: seconds since the epoch, at the site.
  double wall_time = 0;
};

/// Scalars a site logged for a job (site -> server), and how many it has dropped so far
/// in that job (its queue full, a value not finite, a tag too long).
struct Scalars {
  std::string job_id;
  std::int64_t epoch = 0;
  std::vector<Scalar> scalars{};
  std::uint64_t dropped = 0;
};

struct Bye {
  std::string reason;
  /// The peer is going away for good (the client should not reconnect).
  bool final = false;
};

using Message = std::variant<Hello, Welcome, Refuse, Heartbeat, JobAnnounce, TaskHeader,
                             ResultHeader, ModelBegin, TensorInfo, ModelEnd, Bye, TaskAccepted, Relay,
                             Deliver, Report, StreamAbort, JobEnd, ResultReceived, Scalars>;

}  // namespace cohort::net
