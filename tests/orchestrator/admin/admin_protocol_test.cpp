// The admin protocol's requests: one reader, one writer, and every way a request can be
// malformed named.
#include "admin/admin_protocol.hpp"

#include <doctest/doctest.h>

using namespace cohort::admin;

namespace {

std::string error_of(const std::string& text) {
  try {
    parse_request(text);
  } catch (const AdminProtocolError& e) {
    return e.what();
  }
  return "";
}

}  // namespace

TEST_CASE("admin protocol: each request reads back as it was written") {
  for (const AdminRequest& r : {AdminRequest{Command::submit, "", "[job]\nname = \"x\"\n", "dir/job.toml"},
                                AdminRequest{Command::list}, AdminRequest{Command::show, "id-1"},
                                AdminRequest{Command::abort, "id-2"}, AdminRequest{Command::download, "id-3"},
                                AdminRequest{Command::logs, "id-4"}, AdminRequest{Command::status},
                                AdminRequest{Command::metrics, "id-5"},
                                AdminRequest{Command::logs, "id-6", "", "recipe.toml", {}, std::uint64_t{1234}},
                                AdminRequest{Command::tracking, "id-7"},
                                AdminRequest{Command::tracking, "id-8", "", "recipe.toml", {}, std::uint64_t{99}}}) {
    CAPTURE(to_string(r.command));
    CHECK(parse_request(to_json(r).dump()) == r);
    const std::string message = encode_message(to_json(r));
    std::array<unsigned char, 4> header;
    std::copy_n(message.begin(), 4, header.begin());
    CHECK(message_length(header) == message.size() - 4);
  }
}

TEST_CASE("admin protocol: a submit announces its files, whose bytes follow it") {
  AdminRequest r{Command::submit, "", "[job]\n", "recipes/r.toml", {{"code/train.py", "print(1)\n"}, {"code/__init__.py", ""}}};
  const auto json = to_json(r);
  CHECK(json["files"].dump() == R"([{"path":"code/train.py","size":9},{"path":"code/__init__.py","size":0}])");
  CHECK(json["files"].dump().find("print") == std::string::npos);  // the bytes are not in the JSON
  const auto read = parse_request(json.dump());
  REQUIRE(read.files.size() == 2);
  CHECK(read.files[0].path == "code/train.py");
  CHECK(read.files[0].bytes.size() == 9);  // sized, for the connection to fill in
  CHECK(read.files[1].bytes.empty());
}

TEST_CASE("admin protocol: a submit's files are checked before a byte of them is read") {
  auto submit = [](const std::string& files) {
    return R"({"command": "submit", "recipe": "", "file": "r.toml", "files": )" + files + "}";
  };
  CHECK(error_of(submit("7")) == "request: 'files' must be a list");
  CHECK(error_of(submit(R"([{"path": "a.py"}])")) == R"(request: each of 'files' must be {"path": TEXT, "size": BYTES})");
  CHECK(error_of(submit(R"([{"path": "../a.py", "size": 1}])")) == "request: job file '../a.py': '..' in it");
  CHECK(error_of(submit(R"([{"path": "/etc/passwd", "size": 1}])")) == "request: job file '/etc/passwd': an absolute path");
  CHECK(error_of(submit(R"([{"path": "a.py", "size": 1}, {"path": "a.py", "size": 1}])")) ==
        "request: job file 'a.py' is listed twice");
  CHECK(error_of(submit(R"([{"path": "a.py", "size": 40000000}, {"path": "b.py", "size": 40000000}])")) ==
        "request: the files come to more than the 64 MiB a job may carry");
}

TEST_CASE("admin protocol: a malformed request says which field and why") {
  CHECK(error_of("{").find("request: not JSON") == 0);
  CHECK(error_of("[1, 2]") == "request: not a JSON object");
  CHECK(error_of(R"({"job_id": "x"})") == "request: 'command' must be a string");
  CHECK(error_of(R"({"command": 7})") == "request: 'command' must be a string");
  CHECK(error_of(R"({"command": "delete"})") ==
        "request: unknown command 'delete' (submit, list, show, abort, download, logs, status, metrics, tracking)");
  CHECK(error_of(R"({"command": "show"})") == "request: show needs 'job_id'");
  CHECK(error_of(R"({"command": "abort", "job_id": 12})") == "request: 'job_id' must be a string");
  CHECK(error_of(R"({"command": "list", "job_id": "x"})") == "request: list takes no 'job_id'");
  CHECK(error_of(R"({"command": "status", "job_id": "x"})") == "request: status takes no 'job_id'");
  CHECK(error_of(R"({"command": "show", "job_id": "x", "cursor": 3})") == "request: show takes no 'cursor'");
  CHECK(error_of(R"({"command": "logs", "job_id": "x", "cursor": -3})") ==
        "request: 'cursor' must be a byte offset (an unsigned integer)");
  CHECK(error_of(R"({"command": "submit", "recipe": "", "file": "a", "sites": []})") == "request: submit takes no 'sites'");
  CHECK(error_of(R"({"command": "submit", "file": "a"})") == "request: submit needs 'recipe'");
}

TEST_CASE("admin protocol: a message longer than the limit is refused by its header") {
  CHECK(message_length({0, 0, 0, 1}) == kMaxAdminMessage);
  CHECK_THROWS_WITH_AS(message_length({1, 0, 0, 1}), "message of 16777217 bytes exceeds the limit of 16777216",
                       AdminProtocolError);
}
