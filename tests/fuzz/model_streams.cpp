// A peer's byte stream through the sans-I/O FrameReader, as a connection feeds it: frames
// in any order, models announced and streamed, cut anywhere. The first input byte picks
// the reader's and the sink's behaviour. Invariants: the only error is ProtocolError; the
// reader never asks a sink for bytes outside the tensor it announced; a stream opened on
// a sink ends exactly once, by commit() with every byte of every tensor there, or by
// abandon().
#include "fuzz_target.hpp"

#include "net/frame_reader.hpp"

#include <memory>
#include <vector>

using namespace cohort;
using namespace cohort::net;

namespace {

struct Flags {
  bool established, hold_reception, throw_on_tensor, hold_after_chunk, staged;
};

/// Records a stream, with every tensor's bytes in a buffer of exactly its size.
class CheckingSink final : public ResultSink {
 public:
  CheckingSink(const Flags& flags, int& open_streams) : flags_(flags), open_streams_(open_streams) {}
  ~CheckingSink() override {
    COHORT_FUZZ_REQUIRE(!begun_ || ended_, "a stream that began ends, by commit or abandon");
  }
  void begin_model(std::uint32_t tensors, std::uint64_t total_bytes) override {
    COHORT_FUZZ_REQUIRE(!begun_, "begin_model once");
    begun_ = true;
    ++open_streams_;
    announced_tensors_ = tensors;
  }
  void begin_tensor(const TensorInfo& info) override {
    end_check();
    COHORT_FUZZ_REQUIRE(!ended_, "no call after the stream ended");
    // The reader answers a sink's error with abandon() and drops the rest of the stream.
    if (flags_.throw_on_tensor) throw std::runtime_error("no room for " + info.name);
    buffer_.assign(info.nbytes, std::byte{0});
    filled_ = 0;
    ++tensors_;
    in_tensor_ = true;
  }
  std::span<std::byte> chunk_destination(std::uint64_t offset, std::size_t len) override {
    COHORT_FUZZ_REQUIRE(in_tensor_, "chunk_destination inside a tensor");
    COHORT_FUZZ_REQUIRE(offset == filled_ && len <= buffer_.size() - filled_, "a chunk stays inside its tensor");
    if (flags_.staged) return {};
    return std::span<std::byte>(buffer_.data() + offset, len);
  }
  void chunk_received(std::uint64_t offset, std::span<const std::byte> data) override {
    COHORT_FUZZ_REQUIRE(in_tensor_ && offset == filled_ && data.size() <= buffer_.size() - filled_,
                        "received bytes stay inside their tensor");
    if (flags_.staged) std::copy(data.begin(), data.end(), buffer_.begin() + static_cast<std::ptrdiff_t>(offset));
    filled_ += data.size();
  }
  void end_tensor() override {
    COHORT_FUZZ_REQUIRE(in_tensor_ && filled_ == buffer_.size(), "a tensor ends with all its bytes");
    in_tensor_ = false;
  }
  bool hold_after_chunk() override { return flags_.hold_after_chunk; }
  void commit() override {
    COHORT_FUZZ_REQUIRE(!ended_, "a stream ends once");
    COHORT_FUZZ_REQUIRE(!in_tensor_, "commit after the last tensor ended");
    COHORT_FUZZ_REQUIRE(tensors_ == announced_tensors_, "commit after every announced tensor");
    end();
  }
  void abandon(const std::string& reason) override {
    COHORT_FUZZ_REQUIRE(!ended_, "a stream ends once");
    COHORT_FUZZ_REQUIRE(!reason.empty(), "an abandoned stream says why");
    end();
  }

 private:
  void end_check() { COHORT_FUZZ_REQUIRE(!in_tensor_, "a tensor ends before the next begins"); }
  void end() {
    ended_ = true;
    if (begun_) --open_streams_;
  }

  const Flags& flags_;
  int& open_streams_;
  bool begun_ = false, ended_ = false, in_tensor_ = false;
  std::uint32_t announced_tensors_ = 0, tensors_ = 0;
  std::vector<std::byte> buffer_;
  std::uint64_t filled_ = 0;
};

class Handler final : public FrameReader::Handler {
 public:
  Handler(const Flags& flags, int& open_streams) : flags_(flags), open_streams_(open_streams) {}
  Reception on_message(Message& message) override {
    Reception r;
    r.sink = std::make_unique<CheckingSink>(flags_, open_streams_);
    r.hold = flags_.hold_reception;
    return r;
  }
  void on_stream_rejected(const std::string& reason) override {
    COHORT_FUZZ_REQUIRE(!reason.empty(), "a rejected stream says why");
  }

 private:
  const Flags& flags_;
  int& open_streams_;
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 1) return 0;
  const Flags flags{(data[0] & 1) != 0, (data[0] & 2) != 0, (data[0] & 4) != 0, (data[0] & 8) != 0, (data[0] & 16) != 0};
  // Small limits, so that an input can reach each of them.
  Limits limits;
  limits.max_control_bytes = 64 * 1024;
  limits.max_chunk_bytes = 4096;
  limits.max_model_bytes = 1 << 20;
  limits.max_tensors = 64;
  int open_streams = 0;
  {
    Handler handler(flags, open_streams);
    FrameReader reader(limits, handler);
    if (flags.established) reader.set_established();
    const std::uint8_t* in = data + 1;
    std::size_t left = size - 1;
    try {
      while (left > 0) {
        const auto buffer = reader.next_buffer();
        COHORT_FUZZ_REQUIRE(!buffer.empty(), "the reader always wants bytes");
        if (buffer.size() > left) break;  // the peer went away mid-frame
        std::memcpy(buffer.data(), in, buffer.size());
        in += buffer.size();
        left -= buffer.size();
        reader.consume();  // a hold only pauses a socket; here the bytes are all there
      }
      reader.abandon("connection closed");
    } catch (const ProtocolError& e) {
      COHORT_FUZZ_REQUIRE(std::string(e.what()).size() > 0, "a ProtocolError says what is wrong");
      reader.abandon(std::string("protocol error: ") + e.what());
    }
  }
  COHORT_FUZZ_REQUIRE(open_streams == 0, "every stream that began has ended once the reader is gone");
  return 0;
}
