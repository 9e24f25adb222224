// An admin connection's request: a length header and JSON text. The header is refused
// above the limit; the text either reads as a request that writes back to the same
// request, or raises AdminProtocolError.
#include "fuzz_target.hpp"

#include "admin/admin_protocol.hpp"

#include <array>

using namespace cohort::admin;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 4) return 0;
  try {
    const std::uint32_t length = message_length({data[0], data[1], data[2], data[3]});
    COHORT_FUZZ_REQUIRE(length <= kMaxAdminMessage, "the header's length is within the limit");
  } catch (const AdminProtocolError&) {
  }
  const std::string_view text(reinterpret_cast<const char*>(data + 4), size - 4);
  AdminRequest request;
  try {
    request = parse_request(text);
  } catch (const AdminProtocolError& e) {
    COHORT_FUZZ_REQUIRE(std::string(e.what()).rfind("request: ", 0) == 0, "the error says it is the request's");
    return 0;
  }
  const std::string written = encode_message(to_json(request));
  COHORT_FUZZ_REQUIRE(parse_request(std::string_view(written).substr(4)) == request,
                      "a request reads back as it was written");
  return 0;
}
