// The model-stream grammar without sockets: ModelWriter's frames fed to a FrameReader,
// and every way a peer can break the grammar, each rejected with its reason.
#include "net/frame_reader.hpp"
#include "net/model_writer.hpp"
#include "support/model_stream.hpp"

#include <ATen/ops/arange.h>
#include <ATen/ops/equal.h>
#include <ATen/ops/ones.h>

#include <doctest/doctest.h>

#include <cstring>

using namespace cohort::net;
using cohort::Model;
using cohort::ResultSink;
using cohort::TensorInfo;

namespace {

/// Records what a stream did; builds the model through a ModelBuilder.
class RecordingSink final : public ResultSink {
 public:
  struct Log {
    Model model;
    bool committed = false;
    std::string abandoned;
    std::size_t chunks = 0;
  };
  RecordingSink(Log& log, bool hold_each_chunk = false, bool throw_on_tensor = false)
      : log_(log), hold_(hold_each_chunk), throw_(throw_on_tensor) {}
  void begin_tensor(const TensorInfo& info) override {
    if (throw_) throw std::runtime_error("no room for " + info.name);
    builder_.begin_tensor(info);
  }
  std::span<std::byte> chunk_destination(std::uint64_t offset, std::size_t len) override {
    return builder_.chunk_destination(offset, len);
  }
  void chunk_received(std::uint64_t offset, std::span<const std::byte> data) override {
    ++log_.chunks;
    builder_.chunk_received(offset, data);
  }
  bool hold_after_chunk() override { return hold_; }
  void commit() override {
    log_.committed = true;
    log_.model = builder_.take();
  }
  void abandon(const std::string& reason) override { log_.abandoned = reason; }

 private:
  Log& log_;
  cohort::ModelBuilder builder_;
  bool hold_;
  bool throw_;
};

/// Hands every message to the test; the model of a TASK goes to `sink`.
class Handler final : public FrameReader::Handler {
 public:
  Reception on_message(Message& message) override {
    messages.push_back(message);
    Reception r;
    r.sink = std::move(next_sink);
    r.hold = hold;
    return r;
  }
  void on_stream_rejected(const std::string& reason) override { rejected.push_back(reason); }
  std::vector<Message> messages;
  std::vector<std::string> rejected;
  std::unique_ptr<ResultSink> next_sink;
  bool hold = false;
};

/// A reader whose announced model goes into a RecordingSink, past its handshake unless
/// told otherwise.
struct Receiver {
  explicit Receiver(bool hold_each_chunk = false, bool throw_on_tensor = false, bool established = true) {
    handler.next_sink = std::make_unique<RecordingSink>(log, hold_each_chunk, throw_on_tensor);
    if (established) reader.set_established();
  }
  Handler handler;
  RecordingSink::Log log;
  FrameReader reader{{}, handler};
};

using Bytes = std::vector<std::byte>;

void append(Bytes& out, const Bytes& more) { out.insert(out.end(), more.begin(), more.end()); }

Bytes frame(const Message& m) { return encode_frame(m); }

Bytes chunk(std::size_t n, std::byte fill = std::byte{1}) {
  Bytes out;
  auto header = encode_header(FrameType::chunk, static_cast<std::uint32_t>(n));
  out.assign(header.begin(), header.end());
  out.insert(out.end(), n, fill);
  return out;
}

/// The whole stream ModelWriter makes of `model`.
Bytes written(const Model& model, std::size_t chunk_bytes) { return cohort::test::written_stream(model, chunk_bytes); }

/// Feeds `bytes` the way a transport does. Returns how many pauses the reader asked for.
/// Throws ProtocolError from the reader; fails the test when the bytes end mid-buffer.
int feed(FrameReader& reader, const Bytes& bytes) {
  std::size_t at = 0;
  int holds = 0;
  while (at < bytes.size()) {
    auto buffer = reader.next_buffer();
    REQUIRE(buffer.size() <= bytes.size() - at);
    if (!buffer.empty()) std::memcpy(buffer.data(), bytes.data() + at, buffer.size());
    at += buffer.size();
    holds += reader.consume() ? 1 : 0;
  }
  return holds;
}

Bytes established_task(bool has_model = true) {
  TaskHeader task;
  task.task_id = 1;
  task.job_id = "job";
  task.name = "train";
  task.has_model = has_model;
  return frame(task);
}

Model sample_model() {
  Model m;
  m.tensors.push_back({"w", at::arange(0, 1000, at::kFloat).reshape({10, 100})});
  // Non-contiguous: the writer streams a contiguous copy.
  m.tensors.push_back({"t", at::arange(0, 12, at::kDouble).reshape({3, 4}).t()});
  m.tensors.push_back({"empty", at::ones({0}, at::kFloat)});
  m.tensors.push_back({"steps", at::arange(0, 7, at::kLong)});
  return m;
}

std::string protocol_error(const Bytes& stream, bool established = true) {
  Receiver receiver(false, false, established);
  auto& [handler, log, reader] = receiver;
  try {
    feed(reader, stream);
  } catch (const ProtocolError& e) {
    return e.what();
  }
  return "no error";
}

}  // namespace

TEST_CASE("frame reader: a model written by ModelWriter arrives whole, in chunks, into its tensors") {
  const Model model = sample_model();
  Receiver receiver;
  auto& [handler, log, reader] = receiver;
  Bytes stream = established_task();
  append(stream, written(model, 1024));
  CHECK(feed(reader, stream) == 0);
  REQUIRE(log.committed);
  CHECK(log.abandoned.empty());
  REQUIRE(handler.messages.size() == 1);
  CHECK(std::holds_alternative<TaskHeader>(handler.messages[0]));
  REQUIRE(log.model.tensors.size() == model.tensors.size());
  for (std::size_t i = 0; i < model.tensors.size(); ++i) {
    CHECK(log.model.tensors[i].name == model.tensors[i].name);
    CHECK(at::equal(log.model.tensors[i].tensor, model.tensors[i].tensor.contiguous()));
  }
  // 4000 float bytes in chunks of at most 1024, then 96 and 56 bytes in one chunk each.
  CHECK(log.chunks == 4 + 1 + 1);
}

TEST_CASE("frame reader: chunks never split an element, whatever the chunk size asked for") {
  Model model;
  model.tensors.push_back({"d", at::arange(0, 10, at::kDouble)});
  Receiver receiver;
  auto& [handler, log, reader] = receiver;
  Bytes stream = established_task();
  append(stream, written(model, 12));  // 12 bytes: one double per chunk
  feed(reader, stream);
  CHECK(log.committed);
  CHECK(log.chunks == 10);
}

TEST_CASE("frame reader: a message without a model stream, heartbeats, and the handshake rule") {
  Handler handler;
  FrameReader reader({}, handler);
  Bytes stream = frame(Hello{kProtocolVersion, "site-1", "client-1", "cohort"});
  feed(reader, stream);
  CHECK(handler.messages.size() == 1);
  reader.set_established();
  Bytes more = frame(Heartbeat{});
  append(more, established_task(false));
  feed(reader, more);
  CHECK(handler.messages.size() == 2);  // the heartbeat is not handed on
}

TEST_CASE("frame reader: SCALARS between two chunks of a tensor reach the handler, the model goes on") {
  Model model;
  model.tensors.push_back({"w", at::arange(0, 64, at::kFloat)});
  Receiver receiver;
  auto& [handler, log, reader] = receiver;
  Bytes stream = established_task();
  const Bytes model_bytes = written(model, 64);  // 256 bytes of floats: 4 chunks
  // Cut after the first chunk's payload: MODEL_BEGIN, TENSOR, CHUNK header and 64 bytes.
  const Bytes begin = frame(ModelBegin{1, 256});
  const Bytes tensor = frame(cohort::TensorInfo{"w", c10::ScalarType::Float, {64}, 256, 0});
  const std::size_t cut = begin.size() + tensor.size() + kFrameHeaderBytes + 64;
  stream.insert(stream.end(), model_bytes.begin(), model_bytes.begin() + cut);
  append(stream, frame(Scalars{"job", 0, {{"loss", 3, 0.5, 0}}, 0}));
  stream.insert(stream.end(), model_bytes.begin() + cut, model_bytes.end());
  feed(reader, stream);
  REQUIRE(log.committed);
  CHECK(at::equal(log.model.tensors[0].tensor, model.tensors[0].tensor));
  REQUIRE(handler.messages.size() == 2);
  CHECK(std::get<Scalars>(handler.messages[1]).scalars.at(0).tag == "loss");
}

TEST_CASE("frame reader: a reception with hold pauses reading, and so does a sink after each chunk") {
  Model model;
  model.tensors.push_back({"w", at::arange(0, 64, at::kFloat)});
  Receiver receiver(/*hold_each_chunk=*/true);
  auto& [handler, log, reader] = receiver;
  handler.hold = true;
  Bytes stream = established_task();
  append(stream, written(model, 64));  // 256 bytes: 4 chunks
  CHECK(feed(reader, stream) == 1 + 4);
  CHECK(log.committed);
}

TEST_CASE("frame reader: a sink that throws loses its stream, the rest is read and dropped, the link goes on") {
  Receiver receiver(false, /*throw_on_tensor=*/true);
  auto& [handler, log, reader] = receiver;
  Bytes stream = established_task();
  append(stream, written(sample_model(), 256));
  append(stream, established_task(false));
  feed(reader, stream);
  CHECK_FALSE(log.committed);
  CHECK(log.abandoned == "no room for w");
  REQUIRE(handler.rejected.size() == 1);
  CHECK(handler.messages.size() == 2);
}

TEST_CASE("frame reader: STREAM_ABORT abandons the stream and the link goes on") {
  Receiver receiver;
  auto& [handler, log, reader] = receiver;
  Bytes stream = established_task();
  append(stream, frame(ModelBegin{1, 8}));
  append(stream, frame(TensorInfo{"w", c10::ScalarType::Float, {2}, 8, 0}));
  append(stream, chunk(4));
  append(stream, frame(StreamAbort{"source lost"}));
  append(stream, established_task(false));
  feed(reader, stream);
  CHECK_FALSE(log.committed);
  CHECK(log.abandoned == "the stream's source is gone: source lost");
  CHECK(handler.messages.size() == 2);
}

TEST_CASE("frame reader: abandon() hands the open stream's sink its reason") {
  Receiver receiver;
  auto& [handler, log, reader] = receiver;
  Bytes stream = established_task();
  append(stream, frame(ModelBegin{1, 8}));
  feed(reader, stream);
  reader.abandon("connection closed: reset");
  CHECK(log.abandoned == "connection closed: reset");
}

TEST_CASE("frame reader rejects: a frame other than HELLO, WELCOME or REFUSE before the handshake") {
  CHECK(protocol_error(established_task(false), false) == "TASK frame before the handshake");
}

TEST_CASE("frame reader rejects: a control frame above the limit, before reading it") {
  Bytes stream;
  auto header = encode_header(FrameType::task, (4u << 20) + 1);
  stream.assign(header.begin(), header.end());
  CHECK(protocol_error(stream) == "TASK frame of 4194305 bytes exceeds the limit of 4194304");
}

TEST_CASE("frame reader rejects: model frames outside a model stream") {
  CHECK(protocol_error(frame(ModelBegin{1, 4})) == "MODEL_BEGIN frame outside a model stream");
  CHECK(protocol_error(frame(TensorInfo{"w", c10::ScalarType::Float, {1}, 4, 0})) ==
        "TENSOR frame outside a model stream");
  CHECK(protocol_error(frame(ModelEnd{})) == "MODEL_END frame outside a model stream");
  CHECK(protocol_error(frame(StreamAbort{"x"})) == "STREAM_ABORT frame outside a model stream");
  CHECK(protocol_error(chunk(4)) == "CHUNK frame outside a tensor");
}

TEST_CASE("frame reader rejects: an announced model that does not begin with MODEL_BEGIN") {
  Bytes stream = established_task();
  append(stream, frame(Heartbeat{}));  // heartbeats may come between frames
  append(stream, established_task(false));
  CHECK(protocol_error(stream) == "expected MODEL_BEGIN, got TASK");
}

TEST_CASE("frame reader rejects: chunks that are empty, too large, overrun their tensor or split an element") {
  auto with_tensor = [](std::uint64_t nbytes, const Bytes& tail) {
    Bytes stream = established_task();
    append(stream, frame(ModelBegin{1, nbytes}));
    append(stream, frame(TensorInfo{"w", c10::ScalarType::Float, {static_cast<std::int64_t>(nbytes / 4)}, nbytes, 0}));
    append(stream, tail);
    return stream;
  };
  Bytes empty;
  auto header = encode_header(FrameType::chunk, 0);
  empty.assign(header.begin(), header.end());
  CHECK(protocol_error(with_tensor(8, empty)) == "empty CHUNK frame");
  Bytes huge;
  header = encode_header(FrameType::chunk, (16u << 20) + 4);
  huge.assign(header.begin(), header.end());
  CHECK(protocol_error(with_tensor(64u << 20, huge)) == "CHUNK of 16777220 bytes exceeds the limit of 16777216");
  CHECK(protocol_error(with_tensor(8, chunk(12))) == "CHUNK overruns tensor 'w'");
  CHECK(protocol_error(with_tensor(8, chunk(6))) == "CHUNK splits an element of tensor 'w'");
  CHECK(protocol_error(with_tensor(8, [] {
          Bytes b = chunk(4);
          append(b, frame(ModelEnd{}));
          return b;
        }())) == "MODEL_END frame inside tensor 'w' with 4 of its bytes missing");
}

TEST_CASE("frame reader rejects: more tensors, or more bytes, than the model announced, an early end") {
  Bytes stream = established_task();
  append(stream, frame(ModelBegin{1, 4}));
  append(stream, frame(TensorInfo{"a", c10::ScalarType::Float, {1}, 4, 0}));
  append(stream, chunk(4));
  append(stream, frame(TensorInfo{"b", c10::ScalarType::Float, {1}, 4, 0}));
  CHECK(protocol_error(stream) == "more tensors than the 1 announced");

  stream = established_task();
  append(stream, frame(ModelBegin{2, 8}));
  append(stream, frame(TensorInfo{"a", c10::ScalarType::Float, {3}, 12, 0}));
  CHECK(protocol_error(stream) == "tensor 'a' overruns the model's announced size");

  stream = established_task();
  append(stream, frame(ModelBegin{2, 8}));
  append(stream, frame(TensorInfo{"a", c10::ScalarType::Float, {1}, 4, 0}));
  append(stream, chunk(4));
  append(stream, frame(ModelEnd{}));
  CHECK(protocol_error(stream) == "model ended after 1 of 2 tensors");

  stream = established_task();
  append(stream, frame(ModelBegin{1, 4}));
  append(stream, established_task(false));
  CHECK(protocol_error(stream) == "TASK frame inside a model stream");
}
