#pragma once
// The admin protocol, on its own port and over mutual TLS (admin certificates only):
// one request per connection.
//
//   message = u32 length (little endian) | JSON text       (at most kMaxAdminMessage)
//   request = {"command": "submit", "recipe": TEXT, "file": NAME, "files": [{"path", "size"}]}
//           | {"command": "list"}
//           | {"command": "show" | "abort" | "download" | "metrics", "job_id": ID}
//           | {"command": "logs" | "tracking", "job_id": ID, "cursor": BYTES (optional)}
//           | {"command": "status"}
//   reply   = {"ok": true, ...} | {"ok": false, "error": "...", "kind": KIND}
//   KIND    = "not_authorized" (the role may not) | "not_found" (no such job)
//           | "protocol" (a malformed request) | "refused" (anything else: a bad recipe ...)
//   submit: "files" (optional) are what travels with the recipe, their bytes following the
//   request in order; then "file" is the recipe's path among them (app/, job_directory.hpp).
//   status: the reply has "server" (its name), "sites" (those connected now) and "running"
//   (the ids of the jobs running).
//   logs: "text" is the server log of the job from byte "cursor" on (without one: its last
//   64 KiB), at most 1 MiB; the reply's "cursor" is where the next request goes on.
//   metrics: "rows", each {"round", "site", "metrics": {name: value}}, as metrics.csv has them.
//   tracking: "scalars", each {"source", "tag", "step", "value", "wall_time"}, the job's
//   tracking/metrics.jsonl from byte "cursor" on (without one: from its start), whole lines
//   of at most 1 MiB; the reply's "cursor" is where the next request goes on.
//   download: the reply lists {"path", "size"} per file; the files' bytes follow, in order.
//
// A request is read by parse_request only, and written by to_json only.

#include "jobs/job_directory.hpp"

#include <cohort/error.hpp>

#include <nlohmann/json.hpp>

#include <array>
#include <optional>
#include <cstdint>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace cohort::admin {

inline constexpr std::uint32_t kMaxAdminMessage = 16u << 20;

/// A request that breaks the protocol; what() says which field and why.
class AdminProtocolError : public ProtocolError {
 public:
  using ProtocolError::ProtocolError;
};

enum class Command { submit, list, show, abort, download, logs, status, metrics, tracking };

/// "submit", "list", ...
const char* to_string(Command command);

struct AdminRequest {
  Command command = Command::list;
  /// show, abort, download, logs, metrics, tracking: the job.
  std::string job_id{};
  /// submit: the recipe's text, and its file name (for the locations in its errors).
  std::string recipe{};
  std::string file = "recipe.toml";
  /// submit: the files that travel with the recipe (paths in the job's app/); parse_request
  /// sizes their bytes, the connection fills them in.
  std::vector<jobs::AppFile> files{};
  /// logs, tracking: where in the file to go on from (none: the log's last 64 KiB, the
  /// tracking's start).
  std::optional<std::uint64_t> cursor{};

  bool operator==(const AdminRequest&) const = default;
};

/// The request as the admin CLI sends it.
nlohmann::json to_json(const AdminRequest& request);

/// Reads a request's JSON text. Throws AdminProtocolError: not JSON, not an object, an
/// unknown command, a field missing or of the wrong type, or one the command does not take,
/// a submitted file with a bad path, or more files or bytes than a job may carry.
AdminRequest parse_request(std::string_view text);

/// The 4-byte length header of `json`'s text, then the text.
std::string encode_message(const nlohmann::json& json);

/// The length a message header announces. Throws AdminProtocolError above kMaxAdminMessage.
std::uint32_t message_length(const std::array<unsigned char, 4>& header);

}  // namespace cohort::admin
