#include "config/listen_address.hpp"

#include <arpa/inet.h>

#include <charconv>
#include <stdexcept>

namespace cohort::config {

std::string ListenAddress::text() const {
  return (host.find(':') != std::string::npos ? "[" + host + "]" : host) + ":" + std::to_string(port);
}

ListenAddress parse_listen_address(const std::string& text, bool any_port) {
  const auto colon = text.rfind(':');
  if (colon == std::string::npos || colon == 0 || colon + 1 == text.size())
    throw std::invalid_argument("\"" + text + "\" is not HOST:PORT (e.g. \"127.0.0.1:9400\")");
  std::string host = text.substr(0, colon);
  if (host.front() == '[' && host.back() == ']') host = host.substr(1, host.size() - 2);
  const std::string port_text = text.substr(colon + 1);
  unsigned port = 0;
  const auto [end, ec] = std::from_chars(port_text.data(), port_text.data() + port_text.size(), port);
  if (ec != std::errc() || end != port_text.data() + port_text.size() || (port == 0 && !any_port) || port > 65535)
    throw std::invalid_argument("\"" + text + "\": the port must be a number in [" + (any_port ? "0" : "1") + ", 65535]");
  unsigned char bytes[16];
  const bool ip = inet_pton(AF_INET, host.c_str(), bytes) == 1 || inet_pton(AF_INET6, host.c_str(), bytes) == 1;
  if (!ip) throw std::invalid_argument("\"" + text + "\": \"" + host + "\" is not an IP address");
  return {host, static_cast<std::uint16_t>(port)};
}

}  // namespace cohort::config
