#pragma once
// The control socket between the client process and a script: frames of a 4-byte
// little-endian length and a JSON object, file descriptors (shared-memory regions) passed
// beside a frame with SCM_RIGHTS. The script's side is python/cohort/_channel.py.

#include "shared_region.hpp"

#include <nlohmann/json.hpp>

#include <chrono>
#include <functional>
#include <optional>
#include <string>
#include <vector>

namespace cohort::python {

/// The largest control frame either side accepts (a model's tensor list, metrics).
inline constexpr std::uint32_t kMaxFrameBytes = 64u << 20;

/// One frame and the descriptors that came with it.
struct Frame {
  nlohmann::json body;
  std::vector<UniqueFd> fds;
};

/// Thrown when the peer breaks the protocol or goes away; what() says how.
class ChannelError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

class ControlChannel {
 public:
  explicit ControlChannel(UniqueFd socket) : socket_(std::move(socket)) {}

  /// Sends `body`, with `fds` attached.
  void send(const nlohmann::json& body, const std::vector<int>& fds = {});
  /// Waits for the next frame. `keep_waiting` is asked every `tick` while none has come;
  /// false gives up (nothing returned). Throws ChannelError when the peer closed the
  /// socket or sent something that is not a frame.
  std::optional<Frame> receive(const std::function<bool()>& keep_waiting,
                               std::chrono::milliseconds tick = std::chrono::milliseconds(100));

 private:
  void read_exactly(std::byte* data, std::size_t n, std::vector<UniqueFd>& fds,
                    const std::function<bool()>& keep_waiting, std::chrono::milliseconds tick);
  UniqueFd socket_;
};

/// A listening Unix socket in a private folder of its own (mode 0700, removed with it).
class ControlListener {
 public:
  ControlListener();
  ~ControlListener();
  ControlListener(const ControlListener&) = delete;
  /// The socket's path, for the script's environment.
  const std::string& path() const { return path_; }
  /// Waits for a connection, asking `keep_waiting` every 100 ms.
  std::optional<UniqueFd> accept(const std::function<bool()>& keep_waiting);

 private:
  std::string dir_;
  std::string path_;
  UniqueFd socket_;
};

}  // namespace cohort::python
