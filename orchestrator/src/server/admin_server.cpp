#include "server/admin_server.hpp"

#include "admin/admin_protocol.hpp"
#include "jobs/job_directory.hpp"
#include "jobs/job_files.hpp"
#include "jobs/tracking.hpp"
#include "provisioning/project.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <spdlog/logger.h>

#include <cmath>
#include <fstream>
#include <sstream>

namespace asio = boost::asio;
namespace fs = std::filesystem;
using tcp = asio::ip::tcp;
using nlohmann::json;

namespace cohort::admin {

namespace {

/// A refusal: "kind" tells a program what happened (the admin protocol's error kinds).
json error(const std::string& message, const char* kind = "refused") {
  return json{{"ok", false}, {"error", message}, {"kind", kind}};
}

/// A log's text from byte `cursor` on (at most 1 MiB), or without a cursor its last 64 KiB;
/// and where the next read goes on.
std::pair<std::string, std::uint64_t> log_text(const fs::path& file, std::optional<std::uint64_t> cursor) {
  std::ifstream in(file, std::ios::binary | std::ios::ate);
  if (!in) return {"", cursor.value_or(0)};
  const auto size = static_cast<std::uint64_t>(in.tellg());
  const std::uint64_t from = cursor ? std::min(*cursor, size) : (size > (64u << 10) ? size - (64u << 10) : 0);
  const std::uint64_t to = std::min(size, from + (1u << 20));
  in.seekg(static_cast<std::streamoff>(from));
  std::string text(static_cast<std::size_t>(to - from), '\0');
  in.read(text.data(), static_cast<std::streamsize>(text.size()));
  return {std::move(text), to};
}

/// "address:port" of the socket's peer.
std::string peer_address(const asio::ip::tcp::socket& socket) {
  boost::system::error_code ignored;
  const auto ep = socket.remote_endpoint(ignored);
  return ep.address().to_string() + ":" + std::to_string(ep.port());
}

/// Every file of the job's folder but those being written (relative paths and sizes),
/// added to `files` for sending.
json job_files(const jobs::JobDirectory& directory, std::vector<std::pair<fs::path, std::uintmax_t>>& files) {
  json list = json::array();
  std::error_code ec;
  for (auto it = fs::recursive_directory_iterator(directory.root(), ec); !ec && it != fs::recursive_directory_iterator();
       it.increment(ec)) {
    if (!it->is_regular_file() || it->path().string().ends_with(".partial")) continue;
    const auto size = it->file_size();
    list.push_back(json{{"path", fs::relative(it->path(), directory.root()).string()}, {"size", size}});
    files.emplace_back(it->path(), size);
  }
  return list;
}

/// Exactly the listed size of each file (a log may grow meanwhile), in 1 MiB pieces.
asio::awaitable<void> send_files(asio::ssl::stream<asio::ip::tcp::socket>& stream,
                                 const std::vector<std::pair<fs::path, std::uintmax_t>>& files,
                                 boost::system::error_code& ec) {
  std::vector<char> buffer(1 << 20);
  for (const auto& [file, size] : files) {
    std::ifstream in(file, std::ios::binary);
    for (std::uintmax_t left = size; left > 0 && !ec;) {
      const auto n = static_cast<std::size_t>(std::min<std::uintmax_t>(left, buffer.size()));
      std::fill_n(buffer.data(), n, '\0');
      in.read(buffer.data(), static_cast<std::streamsize>(n));
      co_await asio::async_write(stream, asio::buffer(buffer.data(), n), asio::redirect_error(asio::use_awaitable, ec));
      left -= n;
    }
  }
}

}  // namespace

AdminServer::AdminServer(AdminServerOptions options, server::JobScheduler& scheduler, jobs::JobStore& store,
                         std::shared_ptr<spdlog::logger> log)
    : options_(std::move(options)), scheduler_(scheduler), store_(store), log_(std::move(log)) {}

AdminServer::~AdminServer() { stop(); }

void AdminServer::start() {
  tls_ = std::make_unique<asio::ssl::context>(tls::make_server_context(options_.tls));
  const tcp::endpoint endpoint(asio::ip::make_address(options_.host), options_.port);
  acceptor_ = std::make_unique<tcp::acceptor>(io_);
  acceptor_->open(endpoint.protocol());
  acceptor_->set_option(tcp::acceptor::reuse_address(true));
  boost::system::error_code ec;
  acceptor_->bind(endpoint, ec);
  if (ec) throw std::runtime_error("admin port " + std::to_string(options_.port) + ": " + ec.message());
  acceptor_->listen();
  port_ = acceptor_->local_endpoint().port();
  asio::co_spawn(io_, accept_loop(), [log = log_](std::exception_ptr e) {
    if (!e) return;
    try {
      std::rethrow_exception(e);
    } catch (const std::exception& x) {
      log->error("admin accept loop ended: {}", x.what());
    }
  });
  thread_ = std::thread([this] { io_.run(); });
  log_->info("admin endpoint listening on {}:{}", options_.host, port_);
}

void AdminServer::stop() {
  io_.stop();
  if (thread_.joinable()) thread_.join();
}

asio::awaitable<void> AdminServer::accept_loop() {
  for (;;) {
    tcp::socket socket(io_);
    boost::system::error_code ec;
    co_await acceptor_->async_accept(socket, asio::redirect_error(asio::use_awaitable, ec));
    if (ec) {
      if (ec == asio::error::operation_aborted) co_return;
      continue;
    }
    asio::co_spawn(io_, serve(std::move(socket)), [log = log_](std::exception_ptr e) {
      if (!e) return;
      try {
        std::rethrow_exception(e);
      } catch (const std::exception& x) {
        log->warn("admin connection dropped: {}", x.what());
      }
    });
  }
}

asio::awaitable<void> AdminServer::serve(tcp::socket socket) {
  const std::string peer = peer_address(socket);
  asio::ssl::stream<tcp::socket> stream(std::move(socket), *tls_);
  // A peer that stalls is dropped: the whole exchange gets 10 minutes (downloads included).
  asio::steady_timer deadline(io_, std::chrono::minutes(10));
  deadline.async_wait([&stream](const boost::system::error_code& ec) {
    if (!ec) stream.lowest_layer().close();
  });
  boost::system::error_code ec;
  co_await stream.async_handshake(asio::ssl::stream_base::server, asio::redirect_error(asio::use_awaitable, ec));
  if (ec) {
    log_->warn("admin connection from {} refused in the TLS handshake: {}", peer, ec.message());
    co_return;
  }
  const auto subject = tls::peer_subject(stream.native_handle());
  const AdminIdentity admin{subject.common_name, subject.organization, subject.unit};

  std::array<unsigned char, 4> header;
  co_await asio::async_read(stream, asio::buffer(header), asio::redirect_error(asio::use_awaitable, ec));
  if (ec) co_return;
  std::uint32_t size = 0;
  try {
    size = message_length(header);
  } catch (const AdminProtocolError& e) {
    log_->warn("admin connection from {} ('{}'): {}; closed", peer, admin.name, e.what());
    co_return;
  }
  json reply;
  std::vector<std::pair<fs::path, std::uintmax_t>> files;
  std::string text(size, '\0');
  co_await asio::async_read(stream, asio::buffer(text), asio::redirect_error(asio::use_awaitable, ec));
  if (ec) co_return;
  const std::vector<std::string>& roles = provisioning::kAdminRoles;
  if (std::find(roles.begin(), roles.end(), admin.role) == roles.end()) {
    reply = error("refused: the certificate of '" + admin.name +
                      "' is not an admin certificate of this project (no admin role in it)",
                  "not_authorized");
    log_->warn("admin connection from {}: '{}' has no admin role; refused", peer, admin.name);
  } else {
    try {
      auto request = parse_request(text);
      for (auto& file : request.files) {  // a submit's files follow it, each of its announced size
        co_await asio::async_read(stream, asio::buffer(file.bytes), asio::redirect_error(asio::use_awaitable, ec));
        if (ec) co_return;
      }
      reply = handle(admin, request, files);
    } catch (const AdminProtocolError& e) {
      reply = error(e.what(), "protocol");
    }
  }
  const std::string encoded = encode_message(reply);
  co_await asio::async_write(stream, asio::buffer(encoded), asio::redirect_error(asio::use_awaitable, ec));
  if (!ec) co_await send_files(stream, files, ec);
  co_await stream.async_shutdown(asio::redirect_error(asio::use_awaitable, ec));
  deadline.cancel();
}

json AdminServer::handle(const AdminIdentity& admin, const AdminRequest& request,
                         std::vector<std::pair<fs::path, std::uintmax_t>>& files) {
  const char* command = to_string(request.command);
  auto log_refusal = [&](const std::string& why) {
    log_->warn("admin '{}' ({}): {} {}", admin.name, admin.role, command, why);
    return error(why, "not_authorized");
  };
  if (request.command == Command::submit) {
    if (auto why = refusal(admin, Action::submit); !why.empty()) return log_refusal(why);
    try {
      const auto id = scheduler_.submit(request.recipe, request.file, request.files,
                                        server::Submitter{admin.name, admin.org, admin.role});
      return json{{"ok", true}, {"job_id", id}};
    } catch (const std::exception& e) {
      return error(e.what());
    }
  }
  if (request.command == Command::status) {
    if (auto why = refusal(admin, Action::view); !why.empty()) return log_refusal(why);
    return json{{"ok", true},
                {"server", scheduler_.server_name()},
                {"sites", scheduler_.connected_sites()},
                {"running", scheduler_.running_jobs()}};
  }
  if (request.command == Command::list) {
    if (auto why = refusal(admin, Action::view); !why.empty()) return log_refusal(why);
    json jobs = json::array();
    for (const auto& r : store_.list()) jobs.push_back(jobs::to_json(r, options_.workspace));
    return json{{"ok", true}, {"jobs", jobs}};
  }
  const auto job = store_.get(request.job_id);
  if (!job) return error("no job '" + request.job_id + "'", "not_found");
  const jobs::JobDirectory directory(options_.workspace, job->id);
  if (request.command == Command::show) {
    if (auto why = refusal(admin, Action::view, &*job); !why.empty()) return log_refusal(why);
    return json{{"ok", true}, {"job", jobs::to_json(*job, options_.workspace)}};
  }
  if (request.command == Command::abort) {
    if (auto why = refusal(admin, Action::manage, &*job); !why.empty()) return log_refusal(why);
    const auto why = scheduler_.abort(job->id, "'" + admin.name + "' (" + admin.role + ")");
    return why.empty() ? json{{"ok", true}} : error(why);
  }
  if (auto why = refusal(admin, Action::download, &*job); !why.empty()) return log_refusal(why);
  if (request.command == Command::logs) {
    auto [text, cursor] = log_text(directory.log("server"), request.cursor);
    return json{{"ok", true}, {"text", std::move(text)}, {"cursor", cursor}};
  }
  if (request.command == Command::tracking) {
    json reply = jobs::to_json(jobs::read_tracked(directory, request.cursor.value_or(0), 1u << 20));
    reply["ok"] = true;
    return reply;
  }
  if (request.command == Command::metrics) {
    json rows = json::array();
    for (const auto& row : jobs::read_metrics(directory.metrics_csv()))
      rows.push_back(json{{"round", row.round}, {"site", row.site}, {"metrics", row.metrics}});
    return json{{"ok", true}, {"rows", rows}};
  }
  // download
  return json{{"ok", true}, {"job", jobs::to_json(*job, options_.workspace)}, {"files", job_files(directory, files)}};
}

}  // namespace cohort::admin
