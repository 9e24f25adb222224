#pragma once
// The dashboard: a web page served by a local process that talks to the FL server as one
// admin (its kit: mutual TLS, its certificate's role), or that `cohort simulate
// --dashboard` serves for its job. The page (page.html, uPlot built in
// at build time: it fetches nothing from elsewhere) polls a small JSON API:
//
//   GET  /                            the page
//   GET  /api/overview                the server, its sites, the jobs running, who we are
//   GET  /api/jobs                    the jobs, each with may_abort (the role's rule)
//   GET  /api/jobs/ID/tracking?cursor=N   the job's scalars from byte N of its
//                                     tracking/metrics.jsonl on (the admin protocol's
//                                     tracking command), and the cursor to go on from
//   POST /api/jobs/ID/abort           aborts the job; 403 when the role may not
//   GET  /api/jobs/ID/files           fetches the job's files (the admin protocol's
//                                     download, to this process's cache) and lists them
//   GET  /api/jobs/ID/files/PATH      one of them, as an attachment, streamed from disk
//
// A POST must carry the header X-Cohort-Dashboard (a page of another origin cannot add it
// without a CORS preflight, which is never answered): a site the browser visits cannot
// abort a job. Errors: 400 (a bad cursor, a POST without that header), 403 (the server's
// refusal for the role), 404 (no such job, no such path), 405 (another method), 502 (the
// server did not answer).

#include "admin/admin_client.hpp"
#include "admin/authorization.hpp"
#include "telemetry/http_server.hpp"

#include <nlohmann/json.hpp>

#include <cstdint>
#include <filesystem>
#include <memory>
#include <stdexcept>
#include <string>

namespace spdlog {
class logger;
}

namespace cohort::dashboard {

/// The page, with its scripts and styles inside (dashboard_page.cpp, made by CMake).
extern const char* const kPage;

/// A request the source refuses or cannot answer, with the HTTP status to say so.
struct SourceError : std::runtime_error {
  SourceError(unsigned status, const std::string& what) : std::runtime_error(what), status(status) {}
  unsigned status;
};

/// Where the page's figures come from: the FL server through the admin protocol
/// (AdminSource), or a simulation's job folder (simulate/). Each call may throw SourceError.
class JobSource {
 public:
  virtual ~JobSource() = default;
  /// {"server", "sites": [...], "running": [ids], "admin": {"name", "org", "role"}}.
  virtual nlohmann::json overview() = 0;
  /// The jobs as the admin protocol lists them, each with "may_abort".
  virtual nlohmann::json jobs() = 0;
  /// {"scalars": [...], "cursor"}: the job's tracking/metrics.jsonl from byte `cursor` on.
  virtual nlohmann::json tracking(const std::string& job_id, std::uint64_t cursor) = 0;
  virtual void abort(const std::string& job_id) = 0;
  /// The folder that holds the job's files: fetched again when `refresh` (the server's,
  /// through the admin protocol's download; a simulation's is its job folder).
  virtual std::filesystem::path files(const std::string& job_id, bool refresh) = 0;
};

/// The FL server, as the admin `identity` reaching it at `endpoint`.
class AdminSource final : public JobSource {
 public:
  /// Downloads go under `cache` (a folder of this process's own).
  AdminSource(admin::AdminEndpoint endpoint, admin::AdminIdentity identity, std::filesystem::path cache);
  nlohmann::json overview() override;
  nlohmann::json jobs() override;
  nlohmann::json tracking(const std::string& job_id, std::uint64_t cursor) override;
  void abort(const std::string& job_id) override;
  std::filesystem::path files(const std::string& job_id, bool refresh) override;

 private:
  /// The reply to `request` (a download's files written under `download_to`); SourceError
  /// for a refusal (403, 404, 400) or no answer (502).
  nlohmann::json call(const admin::AdminRequest& request, const std::filesystem::path& download_to = {}) const;
  admin::AdminEndpoint endpoint_;
  admin::AdminIdentity identity_;
  std::filesystem::path cache_;
};

class Dashboard {
 public:
  /// Serves the page on `listen`, its figures from `source`.
  Dashboard(config::ListenAddress listen, std::shared_ptr<JobSource> source, std::shared_ptr<spdlog::logger> log);
  void start() { http_.start(); }
  void stop() { http_.stop(); }
  std::uint16_t port() const { return http_.port(); }

  /// One request's answer (what the HTTP server calls).
  telemetry::HttpResponse answer(const telemetry::HttpRequest& request) const;

 private:
  telemetry::HttpResponse api(const telemetry::HttpRequest& request) const;
  telemetry::HttpResponse job_api(const telemetry::HttpRequest& request, const std::string& id,
                                  const std::string& action) const;
  telemetry::HttpResponse files_api(const std::string& id, const std::string& path) const;

  std::shared_ptr<JobSource> source_;
  std::shared_ptr<spdlog::logger> log_;
  telemetry::HttpServer http_;
};

}  // namespace cohort::dashboard
