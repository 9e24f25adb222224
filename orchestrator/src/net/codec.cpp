#include "net/codec.hpp"

#include <cohort/metrics.hpp>

#include <c10/core/ScalarType.h>

#include <algorithm>
#include <concepts>
#include <cstring>
#include <limits>

namespace cohort::net {

namespace {

// Which frame carries which message: the one table both directions use.
template <class T>
constexpr FrameType kFrameOf = FrameType::chunk;  // no message: CHUNK payloads are raw bytes
template <> constexpr FrameType kFrameOf<Hello> = FrameType::hello;
template <> constexpr FrameType kFrameOf<Welcome> = FrameType::welcome;
template <> constexpr FrameType kFrameOf<Refuse> = FrameType::refuse;
template <> constexpr FrameType kFrameOf<Heartbeat> = FrameType::heartbeat;
template <> constexpr FrameType kFrameOf<JobAnnounce> = FrameType::job;
template <> constexpr FrameType kFrameOf<TaskHeader> = FrameType::task;
template <> constexpr FrameType kFrameOf<ResultHeader> = FrameType::result;
template <> constexpr FrameType kFrameOf<ModelBegin> = FrameType::model_begin;
template <> constexpr FrameType kFrameOf<TensorInfo> = FrameType::tensor;
template <> constexpr FrameType kFrameOf<ModelEnd> = FrameType::model_end;
template <> constexpr FrameType kFrameOf<Bye> = FrameType::bye;
template <> constexpr FrameType kFrameOf<TaskAccepted> = FrameType::accept;
template <> constexpr FrameType kFrameOf<Relay> = FrameType::relay;
template <> constexpr FrameType kFrameOf<Deliver> = FrameType::deliver;
template <> constexpr FrameType kFrameOf<Report> = FrameType::report;
template <> constexpr FrameType kFrameOf<StreamAbort> = FrameType::stream_abort;
template <> constexpr FrameType kFrameOf<JobEnd> = FrameType::job_end;
template <> constexpr FrameType kFrameOf<ResultReceived> = FrameType::received;
template <> constexpr FrameType kFrameOf<Scalars> = FrameType::scalars;

}  // namespace

const char* to_string(FrameType type) {
  switch (type) {
    case FrameType::hello: return "HELLO";
    case FrameType::welcome: return "WELCOME";
    case FrameType::refuse: return "REFUSE";
    case FrameType::heartbeat: return "HEARTBEAT";
    case FrameType::job: return "JOB";
    case FrameType::task: return "TASK";
    case FrameType::result: return "RESULT";
    case FrameType::model_begin: return "MODEL_BEGIN";
    case FrameType::tensor: return "TENSOR";
    case FrameType::chunk: return "CHUNK";
    case FrameType::model_end: return "MODEL_END";
    case FrameType::bye: return "BYE";
    case FrameType::accept: return "ACCEPT";
    case FrameType::relay: return "RELAY";
    case FrameType::deliver: return "DELIVER";
    case FrameType::report: return "REPORT";
    case FrameType::stream_abort: return "STREAM_ABORT";
    case FrameType::job_end: return "JOB_END";
    case FrameType::received: return "RECEIVED";
    case FrameType::scalars: return "SCALARS";
  }
  return "UNKNOWN";
}

namespace {

// Wire codes of the dtypes a model may carry. Our own numbering, so that the protocol
// does not depend on libtorch's enum values.
struct DtypeCode {
  std::uint8_t code;
  c10::ScalarType type;
};
constexpr DtypeCode kDtypes[] = {
    {1, c10::ScalarType::Byte},  {2, c10::ScalarType::Char},     {3, c10::ScalarType::Short},
    {4, c10::ScalarType::Int},   {5, c10::ScalarType::Long},     {6, c10::ScalarType::Half},
    {7, c10::ScalarType::Float}, {8, c10::ScalarType::Double},   {9, c10::ScalarType::Bool},
    {10, c10::ScalarType::BFloat16},
};

// Longest strings a decoder accepts.
constexpr std::size_t kMaxId = 256;
constexpr std::size_t kMaxText = 64 * 1024;
constexpr std::size_t kMaxPath = 4096;
constexpr std::size_t kMaxRecipe = 1024 * 1024;
constexpr std::size_t kMaxHeldTasks = 64 * 1024;
constexpr std::size_t kMaxScalarsPerFrame = 64 * 1024;
// Smallest encodings of a map entry, and of a string: bound a count by the bytes left.
constexpr std::size_t kMinMetaEntry = 8, kMinMetricEntry = 12, kMinString = 4;
constexpr std::size_t kMinScalar = kMinString + 3 * 8;

using Meta = std::map<std::string, std::string>;

// Each message's payload is its list of fields, in wire order, in one `fields` function
// that both directions run: the Encoder writes each field, the Decoder reads it into
// place. `io(name, value[, most])`: `name` is what a decoding error names, `most` the
// longest string or sequence accepted. After the fields, `check` validates what
// the Decoder read (the Encoder trusts its own messages).

template <class M, class T>
concept Is = std::same_as<std::remove_const_t<M>, T>;

template <class Io, Is<Hello> M>
void fields(Io& io, M& m) {
  io.magic();
  io("version", m.version);
  io("site", m.site, kMaxId);
  io("process", m.process, kMaxId);
  io("software", m.software, kMaxId);
  io("held_tasks", m.held_tasks, kMaxHeldTasks);
}
template <class Io, Is<Welcome> M>
void fields(Io& io, M& m) {
  io("version", m.version);
  io("server", m.server, kMaxId);
  io("heartbeat_ms", m.heartbeat_ms);
}
template <class Io, class M>
  requires Is<M, Refuse> || Is<M, StreamAbort>
void fields(Io& io, M& m) {
  io("reason", m.reason, kMaxText);
}
template <class Io, class M>
  requires Is<M, Heartbeat> || Is<M, ModelEnd>
void fields(Io&, M&) {}
template <class Io, Is<JobAnnounce> M>
void fields(Io& io, M& m) {
  io("job_id", m.job_id, kMaxId);
  io("recipe_path", m.recipe_path, kMaxPath);
  io("recipe_text", m.recipe_text, kMaxRecipe);
  io("sites", m.sites, kMaxId);
  io("has_model", m.has_model);
  io("epoch", m.epoch);
}
template <class Io, Is<TaskHeader> M>
void fields(Io& io, M& m) {
  io("task_id", m.task_id);
  io("job_id", m.job_id, kMaxId);
  io("name", m.name, kMaxId);
  io("round", m.round);
  io("site_index", m.site_index);
  io("num_sites", m.num_sites);
  io("meta", m.meta);
  io("has_model", m.has_model);
  io("epoch", m.epoch);
}
template <class Io, Is<ResultHeader> M>
void fields(Io& io, M& m) {
  io("task_id", m.task_id);
  io("job_id", m.job_id, kMaxId);
  io("ok", m.ok);
  io("error", m.error, kMaxText);
  io("round", m.round);
  io("num_steps", m.num_steps);
  io("metrics", m.metrics);
  io("has_model", m.has_model);
  io("epoch", m.epoch);
}
template <class Io, Is<ModelBegin> M>
void fields(Io& io, M& m) {
  io("tensors", m.tensors);
  io("total_bytes", m.total_bytes);
}
template <class Io, Is<TensorInfo> M>
void fields(Io& io, M& m) {
  io("name", m.name, io.limits().max_name_bytes);
  io("dtype", m.dtype);
  io("shape", m.shape, io.limits().max_dims);
  io("nbytes", m.nbytes);
}
template <class Io, class M>
  requires Is<M, TaskAccepted> || Is<M, ResultReceived>
void fields(Io& io, M& m) {
  io("task_id", m.task_id);
}
template <class Io, class M>
  requires std::derived_from<std::remove_const_t<M>, SiteMessageHeader>
void fields(Io& io, M& m) {
  io("job_id", m.job_id, kMaxId);
  io("to", m.to, kMaxId);
  io("from", m.message.from, kMaxId);
  io("name", m.message.name, kMaxId);
  io("round", m.message.round);
  io("meta", m.message.meta);
  io("metrics", m.message.metrics);
  io("num_steps", m.message.num_steps);
  io("has_model", m.has_model);
  io("epoch", m.epoch);
}
template <class Io, Is<JobEnd> M>
void fields(Io& io, M& m) {
  io("job_id", m.job_id, kMaxId);
  io("status", m.status, 64);
}
template <class Io, Is<Scalar> M>
void fields(Io& io, M& m) {
  io("tag", m.tag, kMaxScalarTagBytes);
  io("step", m.step);
  io("value", m.value);
  io("wall_time", m.wall_time);
}
template <class Io, Is<Scalars> M>
void fields(Io& io, M& m) {
  io("job_id", m.job_id, kMaxId);
  io("epoch", m.epoch);
  io("scalars", m.scalars, kMaxScalarsPerFrame);
  io("dropped", m.dropped);
}
template <class Io, Is<Bye> M>
void fields(Io& io, M& m) {
  io("reason", m.reason, kMaxText);
  io("final", m.final);
}

class Encoder {
 public:
  Encoder() { bytes_.resize(kFrameHeaderBytes); }

  template <std::integral T>
  void operator()(const char*, T v) {
    if constexpr (std::is_same_v<T, bool>) little_endian(static_cast<std::uint8_t>(v ? 1 : 0));
    else little_endian(static_cast<std::make_unsigned_t<T>>(v));
  }
  void operator()(const char*, double v) {
    std::uint64_t bits;
    std::memcpy(&bits, &v, sizeof bits);
    little_endian(bits);
  }
  void operator()(const char*, const std::string& s, std::size_t = 0) {
    count(s.size());
    const auto* p = reinterpret_cast<const std::byte*>(s.data());
    bytes_.insert(bytes_.end(), p, p + s.size());
  }
  void operator()(const char*, const Scalar& s) { fields(*this, s); }
  void operator()(const char* field, const std::optional<std::int64_t>& v) {
    (*this)(field, v.has_value());
    (*this)(field, v.value_or(0));
  }
  void operator()(const char* field, c10::ScalarType type) {
    for (const auto& d : kDtypes) {
      if (d.type == type) return (*this)(field, d.code);
    }
    throw std::invalid_argument(std::string("dtype ") + c10::toString(type) + " cannot be sent");
  }
  template <class K, class V>
  void operator()(const char* field, const std::map<K, V>& m) {
    count(m.size());
    for (const auto& [k, v] : m) {
      (*this)(field, k);
      (*this)(field, v);
    }
  }
  template <class T>
  void operator()(const char* field, const std::vector<T>& items, std::size_t most) {
    count(items.size());
    for (const auto& item : items) {
      if constexpr (std::is_same_v<T, std::string>) (*this)(field, item, most);
      else (*this)(field, item);
    }
  }
  void magic() {
    const auto* p = reinterpret_cast<const std::byte*>(kMagic);
    bytes_.insert(bytes_.end(), p, p + sizeof kMagic);
  }
  const Limits& limits() const { return limits_; }

  /// The frame: header, then the payload written so far.
  std::vector<std::byte> frame(FrameType type) && {
    const auto header = encode_header(type, static_cast<std::uint32_t>(bytes_.size() - kFrameHeaderBytes));
    std::copy(header.begin(), header.end(), bytes_.begin());
    return std::move(bytes_);
  }

 private:
  void count(std::size_t n) { little_endian(static_cast<std::uint32_t>(n)); }
  template <class T>
  void little_endian(T v) {
    for (std::size_t i = 0; i < sizeof(T); ++i) bytes_.push_back(static_cast<std::byte>((v >> (8 * i)) & 0xff));
  }
  const Limits limits_{};
  std::vector<std::byte> bytes_;
};

class Decoder {
 public:
  Decoder(FrameType type, std::span<const std::byte> payload, const Limits& limits)
      : type_(type), data_(payload), limits_(limits) {}

  template <std::integral T>
  void operator()(const char* field, T& v) {
    if constexpr (std::is_same_v<T, bool>) {
      const auto byte = little_endian<std::uint8_t>(field);
      if (byte > 1) fail(field, "is not a boolean");
      v = byte == 1;
    } else {
      v = static_cast<T>(little_endian<std::make_unsigned_t<T>>(field));
    }
  }
  void operator()(const char* field, double& v) {
    const auto bits = little_endian<std::uint64_t>(field);
    std::memcpy(&v, &bits, sizeof v);
  }
  void operator()(const char* field, std::string& s, std::size_t most) {
    const std::uint32_t n = little_endian<std::uint32_t>(field);
    if (n > most) fail(field, "is " + std::to_string(n) + " bytes, more than " + std::to_string(most));
    const auto bytes = take(n, field);
    s.assign(reinterpret_cast<const char*>(bytes.data()), bytes.size());
  }
  void operator()(const char* field, std::optional<std::int64_t>& v) {
    bool present = false;
    std::int64_t value = 0;
    (*this)((std::string("has_") + field).c_str(), present);
    (*this)(field, value);
    // One encoding per message: an absent value is written as 0.
    if (!present && value != 0) fail(field, "is " + std::to_string(value) + " but has_" + field + " is false");
    v = present ? std::optional<std::int64_t>(value) : std::nullopt;
  }
  void operator()(const char* field, c10::ScalarType& type) {
    std::uint8_t code = 0;
    (*this)(field, code);
    for (const auto& d : kDtypes) {
      if (d.code == code) {
        type = d.type;
        return;
      }
    }
    fail(field, "code " + std::to_string(code) + " is unknown");
  }
  void operator()(const char* field, Meta& m) {
    const std::uint32_t n = count(field, kMinMetaEntry);
    for (std::uint32_t i = 0; i < n; ++i) (*this)("meta value", next_entry(m, "meta key"), kMaxText);
  }
  void operator()(const char* field, Metrics& m) {
    const std::uint32_t n = count(field, kMinMetricEntry);
    for (std::uint32_t i = 0; i < n; ++i) (*this)("metric value", next_entry(m, "metric name"));
  }
  void operator()(const char* field, std::vector<std::uint64_t>& items, std::size_t most) {
    const std::uint32_t n = count(field, sizeof(std::uint64_t));
    if (n > most) fail(field, "lists " + std::to_string(n) + " entries, more than " + std::to_string(most));
    items.resize(n);
    for (auto& item : items) (*this)(field, item);
  }
  void operator()(const char* field, std::vector<Scalar>& items, std::size_t most) {
    const std::uint32_t n = count(field, kMinScalar);
    if (n > most) fail(field, "lists " + std::to_string(n) + " entries, more than " + std::to_string(most));
    items.resize(n);
    for (auto& item : items) fields(*this, item);
  }
  void operator()(const char* field, std::vector<std::string>& items, std::size_t most) {
    const std::uint32_t n = count(field, kMinString);
    items.resize(n);
    for (auto& item : items) (*this)(field, item, most);
  }
  /// A tensor's shape: at most `most` dimensions, none negative.
  void operator()(const char* field, std::vector<std::int64_t>& shape, std::size_t most) {
    const std::uint32_t dims = little_endian<std::uint32_t>("ndim");
    if (dims > most) fail("ndim", std::to_string(dims) + " exceeds the limit of " + std::to_string(most));
    shape.resize(dims);
    for (auto& size : shape) {
      (*this)(field, size);
      if (size < 0) fail(field, "has a negative dimension");
    }
  }
  void magic() {
    for (char expected : kMagic) {
      if (static_cast<char>(little_endian<std::uint8_t>("magic")) != expected)
        fail("magic", "is not cohort's: not a cohort client");
    }
  }
  const Limits& limits() const { return limits_; }

  void done() {
    if (!data_.empty()) fail("payload", "has " + std::to_string(data_.size()) + " trailing bytes");
  }
  [[noreturn]] void fail(const char* field, const std::string& what) const {
    throw ProtocolError(std::string("malformed ") + to_string(type_) + " frame: " + field + " " + what);
  }

 private:
  /// Reads a map's next key and returns its value's place. Keys come sorted and unique, as
  /// the encoder writes them: one encoding per map.
  template <class V>
  V& next_entry(std::map<std::string, V>& m, const char* field) {
    std::string k;
    (*this)(field, k, kMaxId);
    if (!m.empty() && !(m.rbegin()->first < k))
      fail(field, "'" + k + "' is out of order or repeated (keys are sorted and unique)");
    return m.emplace_hint(m.end(), std::move(k), V{})->second;
  }
  std::uint32_t count(const char* field, std::size_t min_element_bytes) {
    const std::uint32_t n = little_endian<std::uint32_t>(field);
    // A count cannot exceed what the rest of the payload can hold.
    if (n > data_.size() / min_element_bytes)
      fail(field, "announces " + std::to_string(n) + " entries, more than the frame holds");
    return n;
  }
  std::span<const std::byte> take(std::size_t n, const char* field) {
    if (n > data_.size()) fail(field, "is truncated");
    auto s = data_.first(n);
    data_ = data_.subspan(n);
    return s;
  }
  template <class T>
  T little_endian(const char* field) {
    auto s = take(sizeof(T), field);
    T v = 0;
    for (std::size_t i = 0; i < sizeof(T); ++i) v |= static_cast<T>(std::to_integer<std::uint8_t>(s[i])) << (8 * i);
    return v;
  }

  FrameType type_;
  std::span<const std::byte> data_;
  const Limits& limits_;
};

// What a decoded message must satisfy beyond its fields' own limits.
template <class M>
void check(Decoder&, const M&) {}
void check(Decoder& d, const TaskHeader& m) {
  if (m.num_sites < 0 || m.site_index < 0 || (m.num_sites > 0 && m.site_index >= m.num_sites))
    d.fail("site_index", "is outside [0, num_sites)");
}
void check(Decoder& d, const ModelBegin& m) {
  const Limits& limits = d.limits();
  if (m.tensors > limits.max_tensors)
    d.fail("tensors", std::to_string(m.tensors) + " exceeds the limit of " + std::to_string(limits.max_tensors));
  if (m.total_bytes > limits.max_model_bytes)
    d.fail("total_bytes", std::to_string(m.total_bytes) + " exceeds the limit of " + std::to_string(limits.max_model_bytes));
}
void check(Decoder& d, const TensorInfo& m) {
  if (m.name.empty()) d.fail("name", "is empty");
  std::uint64_t elements = 1;
  for (const std::int64_t size : m.shape) {
    const auto n = static_cast<std::uint64_t>(size);
    if (n > 0 && elements > std::numeric_limits<std::uint64_t>::max() / n) d.fail("shape", "overflows");
    elements *= n;
  }
  const std::uint64_t element_size = c10::elementSize(m.dtype);
  if (elements > std::numeric_limits<std::uint64_t>::max() / element_size || elements * element_size != m.nbytes)
    d.fail("nbytes", std::to_string(m.nbytes) + " does not match shape and dtype");
  if (m.nbytes > d.limits().max_model_bytes) d.fail("nbytes", "exceeds the model size limit");
}

/// Decodes the alternative of Message whose frame is `type`.
template <std::size_t... I>
Message decode_alternative(Decoder& d, FrameType type, std::index_sequence<I...>) {
  Message out;
  const bool found = ((kFrameOf<std::variant_alternative_t<I, Message>> == type
                           ? (out.emplace<I>(), fields(d, std::get<I>(out)), check(d, std::get<I>(out)), true)
                           : false) ||
                      ...);
  if (!found) throw ProtocolError(std::string(to_string(type)) + " is not a control frame");
  return out;
}

}  // namespace

bool is_wire_dtype(c10::ScalarType dtype) {
  return std::any_of(std::begin(kDtypes), std::end(kDtypes), [&](const DtypeCode& d) { return d.type == dtype; });
}

FrameType frame_type(const Message& message) {
  return std::visit([](const auto& m) { return kFrameOf<std::decay_t<decltype(m)>>; }, message);
}

std::array<std::byte, kFrameHeaderBytes> encode_header(FrameType type, std::uint32_t payload_bytes) {
  std::array<std::byte, kFrameHeaderBytes> h{};
  for (int i = 0; i < 4; ++i) h[i] = static_cast<std::byte>((payload_bytes >> (8 * i)) & 0xff);
  h[4] = static_cast<std::byte>(type);
  return h;
}

std::vector<std::byte> encode_frame(const Message& message) {
  Encoder e;
  std::visit([&](const auto& m) { fields(e, m); }, message);
  return std::move(e).frame(frame_type(message));
}

std::pair<FrameType, std::uint32_t> decode_header(std::span<const std::byte, kFrameHeaderBytes> h) {
  std::uint32_t length = 0;
  for (int i = 0; i < 4; ++i) length |= static_cast<std::uint32_t>(std::to_integer<std::uint8_t>(h[i])) << (8 * i);
  const auto type = std::to_integer<std::uint8_t>(h[4]);
  if (type < static_cast<std::uint8_t>(FrameType::hello) || type > static_cast<std::uint8_t>(FrameType::scalars))
    throw ProtocolError("unknown frame type " + std::to_string(type));
  return {static_cast<FrameType>(type), length};
}

Message decode(FrameType type, std::span<const std::byte> payload, const Limits& limits) {
  Decoder d(type, payload, limits);
  Message out = decode_alternative(d, type, std::make_index_sequence<std::variant_size_v<Message>>{});
  d.done();
  return out;
}

}  // namespace cohort::net
