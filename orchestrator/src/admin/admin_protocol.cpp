#include "admin/admin_protocol.hpp"

#include <set>

namespace cohort::admin {

namespace {

struct CommandName {
  Command command;
  const char* name;
};
constexpr CommandName kCommands[] = {{Command::submit, "submit"}, {Command::list, "list"},
                                     {Command::show, "show"},     {Command::abort, "abort"},
                                     {Command::download, "download"}, {Command::logs, "logs"},
                                     {Command::status, "status"}, {Command::metrics, "metrics"},
                                     {Command::tracking, "tracking"}};

/// The fields each command takes besides "command".
std::set<std::string> fields_of(Command command) {
  switch (command) {
    case Command::submit: return {"recipe", "file", "files"};
    case Command::list:
    case Command::status: return {};
    case Command::logs:
    case Command::tracking: return {"job_id", "cursor"};
    default: return {"job_id"};
  }
}

bool takes_job_id(Command command) { return fields_of(command).count("job_id") > 0; }

std::string string_field(const nlohmann::json& request, const std::string& name, Command command) {
  const auto it = request.find(name);
  if (it == request.end())
    throw AdminProtocolError("request: " + std::string(to_string(command)) + " needs '" + name + "'");
  if (!it->is_string()) throw AdminProtocolError("request: '" + name + "' must be a string");
  return it->get<std::string>();
}

/// The list of files a submit announces, checked before a byte of them is read.
std::vector<jobs::AppFile> submitted_files(const nlohmann::json& list) {
  if (!list.is_array()) throw AdminProtocolError("request: 'files' must be a list");
  if (list.size() > jobs::kMaxAppFiles)
    throw AdminProtocolError("request: " + std::to_string(list.size()) + " files, more than the " +
                             std::to_string(jobs::kMaxAppFiles) + " a job may carry");
  std::vector<jobs::AppFile> files;
  std::set<std::string> seen;
  std::uint64_t total = 0;
  for (const auto& entry : list) {
    const auto path = entry.is_object() ? entry.find("path") : entry.end();
    const auto size = entry.is_object() ? entry.find("size") : entry.end();
    if (path == entry.end() || !path->is_string() || size == entry.end() || !size->is_number_unsigned())
      throw AdminProtocolError("request: each of 'files' must be {\"path\": TEXT, \"size\": BYTES}");
    try {
      jobs::app_path(path->get<std::string>());
    } catch (const std::invalid_argument& e) {
      throw AdminProtocolError(std::string("request: ") + e.what());
    }
    if (!seen.insert(path->get<std::string>()).second)
      throw AdminProtocolError("request: job file '" + path->get<std::string>() + "' is listed twice");
    total += size->get<std::uint64_t>();
    if (total > jobs::kMaxAppBytes)
      throw AdminProtocolError("request: the files come to more than the " + std::to_string(jobs::kMaxAppBytes >> 20) +
                               " MiB a job may carry");
    files.push_back({path->get<std::string>(), std::string(size->get<std::size_t>(), '\0')});
  }
  return files;
}

}  // namespace

const char* to_string(Command command) {
  for (const auto& c : kCommands) {
    if (c.command == command) return c.name;
  }
  return "unknown";
}

nlohmann::json to_json(const AdminRequest& r) {
  nlohmann::json json{{"command", to_string(r.command)}};
  if (r.command == Command::submit) {
    json["recipe"] = r.recipe;
    json["file"] = r.file;
    if (!r.files.empty()) {
      json["files"] = nlohmann::json::array();
      for (const auto& f : r.files) json["files"].push_back({{"path", f.path}, {"size", f.bytes.size()}});
    }
  } else if (takes_job_id(r.command)) {
    json["job_id"] = r.job_id;
  }
  if (r.cursor) json["cursor"] = *r.cursor;
  return json;
}

AdminRequest parse_request(std::string_view text) {
  nlohmann::json json;
  try {
    json = nlohmann::json::parse(text);
  } catch (const nlohmann::json::exception& e) {
    throw AdminProtocolError(std::string("request: not JSON: ") + e.what());
  }
  if (!json.is_object()) throw AdminProtocolError("request: not a JSON object");
  const auto command = json.find("command");
  if (command == json.end() || !command->is_string()) throw AdminProtocolError("request: 'command' must be a string");
  AdminRequest r;
  const std::string name = command->get<std::string>();
  bool known = false;
  for (const auto& c : kCommands) {
    if (name == c.name) {
      r.command = c.command;
      known = true;
    }
  }
  if (!known) throw AdminProtocolError("request: unknown command '" + name + "' (submit, list, show, abort, download, logs, status, metrics, tracking)");
  const auto fields = fields_of(r.command);
  for (const auto& [key, value] : json.items()) {
    if (key != "command" && !fields.count(key))
      throw AdminProtocolError("request: " + name + " takes no '" + key + "'");
  }
  if (r.command == Command::submit) {
    r.recipe = string_field(json, "recipe", r.command);
    r.file = string_field(json, "file", r.command);
    if (json.contains("files")) r.files = submitted_files(json["files"]);
  } else if (takes_job_id(r.command)) {
    r.job_id = string_field(json, "job_id", r.command);
  }
  if (const auto cursor = json.find("cursor"); cursor != json.end()) {
    if (!cursor->is_number_unsigned()) throw AdminProtocolError("request: 'cursor' must be a byte offset (an unsigned integer)");
    r.cursor = cursor->get<std::uint64_t>();
  }
  return r;
}

std::string encode_message(const nlohmann::json& json) {
  const std::string text = json.dump();
  std::string out(4, '\0');
  const auto n = static_cast<std::uint32_t>(text.size());
  for (int i = 0; i < 4; ++i) out[static_cast<std::size_t>(i)] = static_cast<char>((n >> (8 * i)) & 0xff);
  return out + text;
}

std::uint32_t message_length(const std::array<unsigned char, 4>& header) {
  std::uint32_t n = 0;
  for (int i = 0; i < 4; ++i) n |= static_cast<std::uint32_t>(header[static_cast<std::size_t>(i)]) << (8 * i);
  if (n > kMaxAdminMessage)
    throw AdminProtocolError("message of " + std::to_string(n) + " bytes exceeds the limit of " +
                             std::to_string(kMaxAdminMessage));
  return n;
}

}  // namespace cohort::admin
