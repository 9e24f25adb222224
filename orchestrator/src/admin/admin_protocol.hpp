#pragma once
// The admin protocol, on its own port and over mutual TLS (admin certificates only):
// one request per connection.
//
//   message = u32 length (little endian) | JSON text       (at most kMaxAdminMessage)
//   request = {"command": "submit" | "list" | "show" | "abort" | "download" | "logs", ...}
//   reply   = {"ok": true, ...} | {"ok": false, "error": "..."}
//   download: the reply lists {"path", "size"} per file; the files' bytes follow, in order.

#include <nlohmann/json.hpp>

#include <cstdint>
#include <string>

namespace cohort::admin {

inline constexpr std::uint32_t kMaxAdminMessage = 16u << 20;

/// The 4-byte length header of `json`'s text, then the text.
std::string encode_message(const nlohmann::json& json);

}  // namespace cohort::admin
