#include "control_channel.hpp"

#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <system_error>

namespace cohort::python {

namespace {

constexpr std::size_t kMaxFds = 4;

bool wait_readable(int fd, std::chrono::milliseconds tick) {
  pollfd p{fd, POLLIN, 0};
  const int rc = ::poll(&p, 1, static_cast<int>(tick.count()));
  if (rc < 0 && errno != EINTR) throw std::system_error(errno, std::generic_category(), "poll");
  return rc > 0;
}

}  // namespace

void ControlChannel::send(const nlohmann::json& body, const std::vector<int>& fds) {
  const std::string text = body.dump();
  if (text.size() > kMaxFrameBytes) throw ChannelError("a control frame of " + std::to_string(text.size()) + " bytes");
  std::string frame(4, '\0');
  const auto n = static_cast<std::uint32_t>(text.size());
  for (int i = 0; i < 4; ++i) frame[i] = static_cast<char>((n >> (8 * i)) & 0xff);
  frame += text;

  iovec iov{frame.data(), frame.size()};
  msghdr msg{};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int) * kMaxFds)] = {};
  if (!fds.empty()) {
    if (fds.size() > kMaxFds) throw std::invalid_argument("too many descriptors for one frame");
    msg.msg_control = control;
    msg.msg_controllen = CMSG_SPACE(sizeof(int) * fds.size());
    cmsghdr* c = CMSG_FIRSTHDR(&msg);
    c->cmsg_level = SOL_SOCKET;
    c->cmsg_type = SCM_RIGHTS;
    c->cmsg_len = CMSG_LEN(sizeof(int) * fds.size());
    std::memcpy(CMSG_DATA(c), fds.data(), sizeof(int) * fds.size());
  }
  std::size_t sent = 0;
  while (sent < frame.size()) {
    const ssize_t rc = ::sendmsg(socket_.get(), &msg, MSG_NOSIGNAL);
    if (rc < 0) {
      if (errno == EINTR) continue;
      throw ChannelError(std::string("the script's control socket is closed (") + std::strerror(errno) + ")");
    }
    sent += static_cast<std::size_t>(rc);
    // Descriptors go with the first bytes only.
    msg.msg_control = nullptr;
    msg.msg_controllen = 0;
    iov.iov_base = frame.data() + sent;
    iov.iov_len = frame.size() - sent;
  }
}

void ControlChannel::read_exactly(std::byte* data, std::size_t n, std::vector<UniqueFd>& fds,
                                  const std::function<bool()>& keep_waiting, std::chrono::milliseconds tick) {
  std::size_t got = 0;
  while (got < n) {
    if (!wait_readable(socket_.get(), tick)) {
      if (!keep_waiting()) throw ChannelError("the script stopped in the middle of a control frame");
      continue;
    }
    iovec iov{data + got, n - got};
    msghdr msg{};
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int) * kMaxFds)] = {};
    msg.msg_control = control;
    msg.msg_controllen = sizeof(control);
    const ssize_t rc = ::recvmsg(socket_.get(), &msg, MSG_CMSG_CLOEXEC);
    if (rc < 0) {
      if (errno == EINTR) continue;
      throw ChannelError(std::string("reading the script's control socket: ") + std::strerror(errno));
    }
    for (cmsghdr* c = CMSG_FIRSTHDR(&msg); c; c = CMSG_NXTHDR(&msg, c)) {
      if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS) continue;
      const std::size_t count = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
      for (std::size_t i = 0; i < count; ++i) {
        int fd;
        std::memcpy(&fd, CMSG_DATA(c) + i * sizeof(int), sizeof(int));
        fds.emplace_back(fd);
      }
    }
    if (msg.msg_flags & MSG_CTRUNC) throw ChannelError("the script sent more descriptors than a frame carries");
    if (rc == 0) throw ChannelError("the script closed its control socket");
    got += static_cast<std::size_t>(rc);
  }
}

std::optional<Frame> ControlChannel::receive(const std::function<bool()>& keep_waiting,
                                             std::chrono::milliseconds tick) {
  while (!wait_readable(socket_.get(), tick)) {
    if (!keep_waiting()) return std::nullopt;
  }
  Frame frame;
  std::byte header[4];
  read_exactly(header, 4, frame.fds, keep_waiting, tick);
  std::uint32_t n = 0;
  for (int i = 0; i < 4; ++i) n |= std::uint32_t(std::to_integer<unsigned char>(header[i])) << (8 * i);
  if (n > kMaxFrameBytes) {
    throw ChannelError("the script announced a control frame of " + std::to_string(n) + " bytes (at most " +
                       std::to_string(kMaxFrameBytes) + ")");
  }
  std::string text(n, '\0');
  read_exactly(reinterpret_cast<std::byte*>(text.data()), n, frame.fds, keep_waiting, tick);
  try {
    frame.body = nlohmann::json::parse(text);
  } catch (const nlohmann::json::exception& e) {
    throw ChannelError(std::string("the script sent a control frame that is not JSON: ") + e.what());
  }
  if (!frame.body.is_object() || !frame.body.contains("op") || !frame.body["op"].is_string()) {
    throw ChannelError("the script sent a control frame without an \"op\"");
  }
  return frame;
}

ControlListener::ControlListener() {
  std::string pattern = (std::filesystem::temp_directory_path() / "cohort-py-XXXXXX").string();
  if (!::mkdtemp(pattern.data())) throw std::system_error(errno, std::generic_category(), "mkdtemp " + pattern);
  dir_ = pattern;
  path_ = dir_ + "/control.sock";
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  if (path_.size() >= sizeof(addr.sun_path)) throw std::runtime_error("socket path too long: " + path_);
  std::memcpy(addr.sun_path, path_.c_str(), path_.size() + 1);
  socket_ = UniqueFd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (!socket_) throw std::system_error(errno, std::generic_category(), "socket");
  if (::bind(socket_.get(), reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0 || ::listen(socket_.get(), 16) != 0) {
    throw std::system_error(errno, std::generic_category(), "listen on " + path_);
  }
}

ControlListener::~ControlListener() {
  std::error_code ignored;
  std::filesystem::remove_all(dir_, ignored);
}

std::optional<UniqueFd> ControlListener::accept(const std::function<bool()>& keep_waiting) {
  while (!wait_readable(socket_.get(), std::chrono::milliseconds(100))) {
    if (!keep_waiting()) return std::nullopt;
  }
  UniqueFd fd(::accept4(socket_.get(), nullptr, nullptr, SOCK_CLOEXEC));
  if (!fd) throw std::system_error(errno, std::generic_category(), "accept on " + path_);
  return fd;
}

}  // namespace cohort::python
