#include "admin/admin_protocol.hpp"

namespace cohort::admin {

std::string encode_message(const nlohmann::json& json) {
  const std::string text = json.dump();
  std::string out(4, '\0');
  const auto n = static_cast<std::uint32_t>(text.size());
  for (int i = 0; i < 4; ++i) out[static_cast<std::size_t>(i)] = static_cast<char>((n >> (8 * i)) & 0xff);
  return out + text;
}

}  // namespace cohort::admin
