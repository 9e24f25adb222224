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
                                AdminRequest{Command::logs, "id-4"}}) {
    CAPTURE(to_string(r.command));
    CHECK(parse_request(to_json(r).dump()) == r);
    const std::string message = encode_message(to_json(r));
    std::array<unsigned char, 4> header;
    std::copy_n(message.begin(), 4, header.begin());
    CHECK(message_length(header) == message.size() - 4);
  }
}

TEST_CASE("admin protocol: a malformed request says which field and why") {
  CHECK(error_of("{").find("request: not JSON") == 0);
  CHECK(error_of("[1, 2]") == "request: not a JSON object");
  CHECK(error_of(R"({"job_id": "x"})") == "request: 'command' must be a string");
  CHECK(error_of(R"({"command": 7})") == "request: 'command' must be a string");
  CHECK(error_of(R"({"command": "delete"})") ==
        "request: unknown command 'delete' (submit, list, show, abort, download, logs)");
  CHECK(error_of(R"({"command": "show"})") == "request: show needs 'job_id'");
  CHECK(error_of(R"({"command": "abort", "job_id": 12})") == "request: 'job_id' must be a string");
  CHECK(error_of(R"({"command": "list", "job_id": "x"})") == "request: list takes no 'job_id'");
  CHECK(error_of(R"({"command": "submit", "recipe": "", "file": "a", "sites": []})") == "request: submit takes no 'sites'");
  CHECK(error_of(R"({"command": "submit", "file": "a"})") == "request: submit needs 'recipe'");
}

TEST_CASE("admin protocol: a message longer than the limit is refused by its header") {
  CHECK(message_length({0, 0, 0, 1}) == kMaxAdminMessage);
  CHECK_THROWS_WITH_AS(message_length({1, 0, 0, 1}), "message of 16777217 bytes exceeds the limit of 16777216",
                       AdminProtocolError);
}
