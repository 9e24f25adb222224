#include "dashboard/dashboard.hpp"

#include <spdlog/logger.h>

#include <algorithm>
#include <cctype>
#include <charconv>

namespace cohort::dashboard {

using nlohmann::json;
using telemetry::HttpRequest;
using telemetry::HttpResponse;
using telemetry::json_response;

namespace {

HttpResponse error_response(unsigned status, const std::string& message) {
  return json_response(status, json{{"error", message}}.dump());
}

/// The job record the role's rule needs, from a job's JSON as the admin protocol lists it.
jobs::JobRecord record_of(const json& job) {
  jobs::JobRecord r;
  r.id = job.value("id", "");
  r.submitter = job.value("submitter", "");
  r.submitter_org = job.value("submitter_org", "");
  r.submitter_role = job.value("submitter_role", "");
  return r;
}

/// Whether `id` can be a job's id (a UUID, or a simulation's chosen name): it names a
/// folder of this process's cache, so nothing that could lead out of it.
bool plain_job_id(const std::string& id) {
  const bool plain_characters = std::all_of(id.begin(), id.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_' || c == '.';
  });
  return !id.empty() && id.size() <= 128 && plain_characters && id != "." && id != "..";
}

}  // namespace

AdminSource::AdminSource(admin::AdminEndpoint endpoint, admin::AdminIdentity identity, std::filesystem::path cache)
    : endpoint_(std::move(endpoint)), identity_(std::move(identity)), cache_(std::move(cache)) {}

json AdminSource::call(const admin::AdminRequest& request, const std::filesystem::path& download_to) const {
  json reply;
  try {
    reply = admin::admin_request(endpoint_, request, download_to);
  } catch (const std::exception& e) {
    throw SourceError(502, std::string("the server did not answer: ") + e.what());
  }
  if (reply.value("ok", false)) {
    reply.erase("ok");
    return reply;
  }
  const std::string kind = reply.value("kind", "");
  throw SourceError(kind == "not_authorized" ? 403 : kind == "not_found" ? 404 : 400, reply.value("error", "refused"));
}

json AdminSource::overview() {
  json reply = call({admin::Command::status});
  reply["admin"] = json{{"name", identity_.name}, {"org", identity_.org}, {"role", identity_.role}};
  return reply;
}

json AdminSource::jobs() {
  json list = call({admin::Command::list})["jobs"];
  for (auto& job : list) {
    const auto record = record_of(job);
    job["may_abort"] = admin::refusal(identity_, admin::Action::manage, &record).empty();
    job["may_download"] = admin::refusal(identity_, admin::Action::download, &record).empty();
  }
  return list;
}

json AdminSource::tracking(const std::string& job_id, std::uint64_t cursor) {
  admin::AdminRequest request{admin::Command::tracking, job_id};
  request.cursor = cursor;
  return call(request);
}

void AdminSource::abort(const std::string& job_id) { call({admin::Command::abort, job_id}); }

std::filesystem::path AdminSource::files(const std::string& job_id, bool refresh) {
  const auto folder = cache_ / job_id;
  if (!refresh && std::filesystem::exists(folder)) return folder;
  // The id names a folder here only once the server knew it (a download of a job that is
  // not there is refused before a file is written).
  std::filesystem::remove_all(folder);
  try {
    call({admin::Command::download, job_id}, folder);
  } catch (const SourceError&) {
    std::filesystem::remove_all(folder);
    throw;
  }
  return folder;
}

Dashboard::Dashboard(config::ListenAddress listen, std::shared_ptr<JobSource> source,
                     std::shared_ptr<spdlog::logger> log)
    : source_(std::move(source)),
      log_(log),
      http_(std::move(listen), [this](const HttpRequest& request) { return answer(request); }, std::move(log)) {}

HttpResponse Dashboard::answer(const HttpRequest& request) const {
  try {
    if (request.path == "/" || request.path == "/index.html") {
      if (request.method != "GET") return error_response(405, "method not allowed: GET");
      return HttpResponse{200, "text/html; charset=utf-8", kPage};
    }
    if (request.path.starts_with("/api/")) return api(request);
    return error_response(404, "not found: " + request.path);
  } catch (const SourceError& e) {
    return error_response(e.status, e.what());
  }
}

HttpResponse Dashboard::api(const HttpRequest& request) const {
  const std::string rest = request.path.substr(5);
  if (rest.starts_with("jobs/")) {
    const auto slash = rest.find('/', 5);
    if (slash == std::string::npos) return error_response(404, "not found: " + request.path);
    return job_api(request, rest.substr(5, slash - 5), rest.substr(slash + 1));
  }
  if (rest != "overview" && rest != "jobs") return error_response(404, "not found: " + request.path);
  if (request.method != "GET") return error_response(405, "method not allowed: GET");
  if (rest == "overview") return json_response(200, source_->overview().dump());
  return json_response(200, json{{"jobs", source_->jobs()}}.dump());
}

HttpResponse Dashboard::job_api(const HttpRequest& request, const std::string& id, const std::string& action) const {
  if (!plain_job_id(id)) return error_response(400, "not a job id: '" + id + "'");
  if (action == "abort") {
    if (request.method != "POST") return error_response(405, "method not allowed: POST");
    if (!request.headers.count("x-cohort-dashboard"))
      return error_response(400, "a POST needs the header X-Cohort-Dashboard (the page sends it)");
    source_->abort(id);
    log_->info("dashboard: job {} aborted", id);
    return json_response(200, json{{"aborted", id}}.dump());
  }
  if (action == "files" || action.starts_with("files/")) {
    if (request.method != "GET") return error_response(405, "method not allowed: GET");
    return files_api(id, action == "files" ? std::string() : action.substr(6));
  }
  if (action != "tracking") return error_response(404, "not found: " + request.path);
  if (request.method != "GET") return error_response(405, "method not allowed: GET");
  std::uint64_t cursor = 0;
  if (const auto it = request.query.find("cursor"); it != request.query.end()) {
    const auto& text = it->second;
    const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), cursor);
    if (ec != std::errc() || end != text.data() + text.size())
      return error_response(400, "cursor must be a byte offset, not '" + text + "'");
  }
  return json_response(200, source_->tracking(id, cursor).dump());
}

HttpResponse Dashboard::files_api(const std::string& id, const std::string& path) const {
  namespace fs = std::filesystem;
  if (path.empty()) {
    const fs::path folder = source_->files(id, /*refresh=*/true);
    json files = json::array();
    std::error_code ec;
    for (auto it = fs::recursive_directory_iterator(folder, ec); !ec && it != fs::recursive_directory_iterator();
         it.increment(ec)) {
      if (it->is_regular_file() && !it->path().string().ends_with(".partial"))
        files.push_back(json{{"path", fs::relative(it->path(), folder).generic_string()}, {"size", it->file_size()}});
    }
    return json_response(200, json{{"files", std::move(files)}}.dump());
  }
  const fs::path relative(path);
  const bool inside = relative.is_relative() && std::none_of(relative.begin(), relative.end(), [](const fs::path& part) {
                        return part == ".." || part == ".";
                      });
  if (!inside) return error_response(400, "not a path inside the job's folder: " + path);
  const fs::path file = source_->files(id, /*refresh=*/false) / relative;
  if (!fs::is_regular_file(file)) return error_response(404, "no file '" + path + "' in job " + id);
  return HttpResponse{200, "application/octet-stream", "", file};
}

}  // namespace cohort::dashboard
