#include "net/frame_reader.hpp"

namespace cohort::net {

/// State of the model stream being read, if any.
struct FrameReader::Stream {
  /// A message announced a model: the next frame must be MODEL_BEGIN.
  bool expecting_model = false;
  bool in_model = false;
  bool in_tensor = false;
  /// Where the stream goes (null: dropped, because the handler wants none or it failed).
  std::unique_ptr<ResultSink> sink;
  std::uint32_t tensors_total = 0;
  std::uint32_t tensors_seen = 0;
  std::uint64_t bytes_total = 0;
  std::uint64_t bytes_seen = 0;
  TensorInfo tensor;
  std::uint64_t tensor_received = 0;
  std::size_t element_size = 1;
};

namespace {

/// Whether `message` announces a model stream after it.
bool announces_model(const Message& message) {
  return std::visit(
      [](const auto& m) {
        if constexpr (requires { m.has_model; }) return m.has_model;
        else return false;
      },
      message);
}

std::string str(FrameType type) { return to_string(type); }

}  // namespace

FrameReader::FrameReader(Limits limits, Handler& handler)
    : limits_(limits), handler_(handler), stream_(std::make_unique<Stream>()) {}

FrameReader::~FrameReader() = default;

std::span<std::byte> FrameReader::next_buffer() {
  switch (expect_) {
    case Expect::header: return header_;
    case Expect::payload: return payload_;
    case Expect::chunk: return chunk_destination_;
  }
  return {};
}

bool FrameReader::consume() {
  switch (expect_) {
    case Expect::header: return on_header();
    case Expect::payload: return on_payload();
    case Expect::chunk: return on_chunk();
  }
  return false;
}

void FrameReader::abandon(const std::string& reason) {
  if (stream_->sink) {
    stream_->sink->abandon(reason);
    stream_->sink.reset();
  }
}

// A sink that throws rejects its stream; the connection goes on (the rest of the stream is
// read and dropped).
template <class Fn>
void FrameReader::sink_call(Fn&& fn) {
  Stream& in = *stream_;
  if (!in.sink) return;
  try {
    fn(*in.sink);
  } catch (const std::exception& e) {
    handler_.on_stream_rejected(e.what());
    in.sink->abandon(e.what());
    in.sink.reset();
  }
}

bool FrameReader::on_header() {
  std::tie(type_, length_) = decode_header(header_);
  if (type_ != FrameType::chunk) {
    if (length_ > limits_.max_control_bytes) {
      throw ProtocolError(str(type_) + " frame of " + std::to_string(length_) + " bytes exceeds the limit of " +
                          std::to_string(limits_.max_control_bytes));
    }
    payload_.resize(length_);
    expect_ = Expect::payload;
    return length_ == 0 ? on_payload() : false;
  }

  // CHUNK: raw tensor bytes, read straight into their destination.
  Stream& in = *stream_;
  if (!in.in_tensor) throw ProtocolError("CHUNK frame outside a tensor");
  if (length_ == 0) throw ProtocolError("empty CHUNK frame");
  if (length_ > limits_.max_chunk_bytes)
    throw ProtocolError("CHUNK of " + std::to_string(length_) + " bytes exceeds the limit of " +
                        std::to_string(limits_.max_chunk_bytes));
  if (length_ > in.tensor.nbytes - in.tensor_received) throw ProtocolError("CHUNK overruns tensor '" + in.tensor.name + "'");
  if (length_ % in.element_size != 0) throw ProtocolError("CHUNK splits an element of tensor '" + in.tensor.name + "'");
  std::span<std::byte> destination;
  sink_call([&](ResultSink& s) { destination = s.chunk_destination(in.tensor_received, length_); });
  if (destination.size() != length_) {
    if (staging_.size() < length_) staging_.resize(length_);
    destination = std::span<std::byte>(staging_.data(), length_);
  }
  chunk_destination_ = destination;
  expect_ = Expect::chunk;
  return false;
}

bool FrameReader::on_chunk() {
  Stream& in = *stream_;
  expect_ = Expect::header;
  const std::uint64_t offset = in.tensor_received;
  sink_call([&](ResultSink& s) { s.chunk_received(offset, chunk_destination_); });
  in.tensor_received += length_;
  in.bytes_seen += length_;
  if (in.tensor_received == in.tensor.nbytes) {
    in.in_tensor = false;
    ++in.tensors_seen;
    sink_call([](ResultSink& s) { s.end_tensor(); });
  }
  bool hold = false;
  sink_call([&](ResultSink& s) { hold = s.hold_after_chunk(); });
  return hold;
}

bool FrameReader::on_payload() {
  expect_ = Expect::header;
  Message message = decode(type_, payload_, limits_);
  if (!established_ && type_ != FrameType::hello && type_ != FrameType::welcome && type_ != FrameType::refuse)
    throw ProtocolError(str(type_) + " frame before the handshake");
  if (std::holds_alternative<Heartbeat>(message)) return false;
  // A site's scalars may come anywhere, even between two chunks of a tensor: they are not
  // part of the model stream, which goes on after them.
  if (std::holds_alternative<Scalars>(message)) return handler_.on_message(message).hold;

  Stream& in = *stream_;
  if (auto* abort = std::get_if<StreamAbort>(&message)) {
    if (!in.in_model) throw ProtocolError("STREAM_ABORT frame outside a model stream");
    if (in.sink) in.sink->abandon("the stream's source is gone: " + abort->reason);
    in.sink.reset();
    in.in_model = in.in_tensor = false;
    staging_ = {};
    return false;
  }
  if (in.expecting_model || in.in_model) {
    on_model_frame(message, type_);
    return false;
  }
  if (type_ == FrameType::model_begin || type_ == FrameType::tensor || type_ == FrameType::model_end)
    throw ProtocolError(str(type_) + " frame outside a model stream");
  const bool has_model = announces_model(message);
  Reception reception = handler_.on_message(message);
  if (has_model) {
    in.expecting_model = true;
    in.sink = std::move(reception.sink);
  }
  return reception.hold;
}

void FrameReader::on_model_frame(Message& message, FrameType type) {
  Stream& in = *stream_;
  if (in.expecting_model) {
    const auto* begin = std::get_if<ModelBegin>(&message);
    if (!begin) throw ProtocolError("expected MODEL_BEGIN, got " + str(type));
    in.expecting_model = false;
    in.in_model = true;
    in.tensors_total = begin->tensors;
    in.bytes_total = begin->total_bytes;
    in.tensors_seen = 0;
    in.bytes_seen = 0;
    sink_call([&](ResultSink& s) { s.begin_model(begin->tensors, begin->total_bytes); });
    return;
  }
  if (in.in_tensor) {
    throw ProtocolError(str(type) + " frame inside tensor '" + in.tensor.name + "' with " +
                        std::to_string(in.tensor.nbytes - in.tensor_received) + " of its bytes missing");
  }
  if (auto* tensor = std::get_if<TensorInfo>(&message)) {
    if (in.tensors_seen == in.tensors_total)
      throw ProtocolError("more tensors than the " + std::to_string(in.tensors_total) + " announced");
    if (tensor->nbytes > in.bytes_total - in.bytes_seen)
      throw ProtocolError("tensor '" + tensor->name + "' overruns the model's announced size");
    tensor->index = in.tensors_seen;
    in.tensor = std::move(*tensor);
    in.tensor_received = 0;
    in.element_size = c10::elementSize(in.tensor.dtype);
    in.in_tensor = true;
    sink_call([&](ResultSink& s) { s.begin_tensor(in.tensor); });
    if (in.tensor.nbytes == 0) {
      in.in_tensor = false;
      ++in.tensors_seen;
      sink_call([](ResultSink& s) { s.end_tensor(); });
    }
  } else if (std::holds_alternative<ModelEnd>(message)) {
    if (in.tensors_seen != in.tensors_total || in.bytes_seen != in.bytes_total)
      throw ProtocolError("model ended after " + std::to_string(in.tensors_seen) + " of " +
                          std::to_string(in.tensors_total) + " tensors");
    in.in_model = false;
    sink_call([](ResultSink& s) { s.commit(); });
    in.sink.reset();
    staging_ = {};
  } else {
    throw ProtocolError(str(type) + " frame inside a model stream");
  }
}

}  // namespace cohort::net
