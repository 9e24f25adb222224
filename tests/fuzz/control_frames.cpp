// Control frames: a frame type and a payload. A payload either decodes, and then encodes
// back to exactly the same bytes (one encoding per message: nothing the decoder accepts
// is ambiguous), or raises ProtocolError naming the frame.
#include "fuzz_target.hpp"

#include "net/codec.hpp"

#include <algorithm>
#include <cstring>

using namespace cohort::net;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 1) return 0;
  const auto type = static_cast<FrameType>(data[0]);
  const std::span<const std::byte> payload(reinterpret_cast<const std::byte*>(data + 1), size - 1);
  Message message;
  try {
    message = decode(type, payload, Limits{});
  } catch (const ProtocolError& e) {
    const std::string what = e.what();
    COHORT_FUZZ_REQUIRE(!what.empty(), "a ProtocolError says what is wrong");
    return 0;
  }
  COHORT_FUZZ_REQUIRE(frame_type(message) == type, "the message decoded is of the frame's type");
  const auto frame = encode_frame(message);
  COHORT_FUZZ_REQUIRE(frame.size() == kFrameHeaderBytes + payload.size(),
                      std::string(to_string(type)) + ": re-encoded to " + std::to_string(frame.size() - kFrameHeaderBytes) +
                          " payload bytes, not " + std::to_string(payload.size()));
  COHORT_FUZZ_REQUIRE(std::equal(payload.begin(), payload.end(), frame.begin() + kFrameHeaderBytes),
                      std::string(to_string(type)) + ": re-encoded to other bytes");
  return 0;
}
