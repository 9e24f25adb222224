#include "admin/admin_client.hpp"

#include "admin/admin_protocol.hpp"

#include <cohort/error.hpp>
#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/write.hpp>

#include <fstream>
#include <thread>

namespace asio = boost::asio;
namespace fs = std::filesystem;
using tcp = asio::ip::tcp;
using nlohmann::json;

namespace cohort::admin {

json admin_request(const AdminEndpoint& endpoint, const AdminRequest& request, const fs::path& download_to) {
  const std::string where = endpoint.host + ":" + std::to_string(endpoint.port);
  asio::io_context io;
  auto tls = tls::make_client_context(endpoint.tls);
  asio::ssl::stream<tcp::socket> stream(io, tls);
  boost::system::error_code ec;
  tcp::resolver resolver(io);
  const auto addresses = resolver.resolve(endpoint.host, std::to_string(endpoint.port), ec);
  if (!ec) asio::connect(stream.lowest_layer(), addresses, ec);
  if (ec) throw ServerUnreachable("cannot reach the server's admin port at " + where + ": " + ec.message(), true);
  stream.handshake(asio::ssl::stream_base::client, ec);
  if (ec) throw ServerUnreachable("TLS handshake with " + where + " failed: " + ec.message(), false);
  if (const auto name = tls::peer_common_name(stream.native_handle()); name != endpoint.server_name)
    throw ProtocolError("the server at " + where,
                        "presented a certificate for '" + name + "', not '" + endpoint.server_name + "'");

  asio::write(stream, asio::buffer(encode_message(to_json(request))), ec);
  for (const auto& file : request.files) {
    if (!ec) asio::write(stream, asio::buffer(file.bytes), ec);
  }
  std::array<unsigned char, 4> header;
  if (!ec) asio::read(stream, asio::buffer(header), ec);
  if (ec)
    throw ServerUnreachable("the server at " + where + " closed the connection (" + ec.message() +
                                "): was this certificate refused? see the server's log",
                            false);
  std::uint32_t size = 0;
  try {
    size = message_length(header);
  } catch (const AdminProtocolError& e) {
    throw ProtocolError("the server at " + where, std::string("its reply: ") + e.what());
  }
  std::string text(size, '\0');
  asio::read(stream, asio::buffer(text), ec);
  if (ec) throw ProtocolError("the server at " + where, "its reply was cut short: " + ec.message());
  json reply = json::parse(text);
  if (reply.value("ok", false) && reply.contains("files") && !download_to.empty()) {
    const fs::path root = fs::absolute(download_to).lexically_normal();
    std::vector<char> buffer(1 << 20);
    for (const auto& f : reply["files"]) {
      const fs::path relative = fs::path(f.at("path").get<std::string>()).lexically_normal();
      if (relative.is_absolute() || relative.empty() || *relative.begin() == "..")
        throw ProtocolError("the server at " + where, "sent a file outside the job folder: " + relative.string());
      const fs::path target = root / relative;
      fs::create_directories(target.parent_path());
      const fs::path partial = target.string() + ".partial";
      std::ofstream out(partial, std::ios::binary | std::ios::trunc);
      for (std::uintmax_t left = f.at("size").get<std::uintmax_t>(); left > 0;) {
        const auto n = static_cast<std::size_t>(std::min<std::uintmax_t>(left, buffer.size()));
        asio::read(stream, asio::buffer(buffer.data(), n), ec);
        if (ec) throw ProtocolError("the server at " + where, "the download was cut short in " + relative.string() + ": " + ec.message());
        out.write(buffer.data(), static_cast<std::streamsize>(n));
        left -= n;
      }
      out.close();
      fs::rename(partial, target);
    }
  }
  stream.shutdown(ec);
  return reply;
}

json admin_request_patiently(const AdminEndpoint& endpoint, const AdminRequest& request, const fs::path& download_to,
                             std::chrono::milliseconds patience,
                             const std::function<void(const std::string& why)>& on_retry) {
  const auto start = std::chrono::steady_clock::now();
  bool retried = false;
  for (;;) {
    try {
      return admin_request(endpoint, request, download_to);
    } catch (const ServerUnreachable& e) {
      const auto waited = std::chrono::steady_clock::now() - start;
      if (!e.nothing_sent || waited >= patience) {
        if (!retried) throw;
        const auto seconds = std::chrono::duration_cast<std::chrono::seconds>(waited).count();
        throw ServerUnreachable(std::string(e.what()) + " (tried for " + std::to_string(seconds) + " s)",
                                e.nothing_sent);
      }
      if (!retried && on_retry) on_retry(e.what());
      retried = true;
      std::this_thread::sleep_for(std::chrono::milliseconds(200));
    }
  }
}

}  // namespace cohort::admin
