#include "net/codec.hpp"

#include <c10/core/ScalarType.h>

#include <cstring>
#include <limits>

namespace cohort::net {

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

std::uint8_t dtype_code(c10::ScalarType type) {
  for (const auto& d : kDtypes) {
    if (d.type == type) return d.code;
  }
  throw std::invalid_argument(std::string("dtype ") + c10::toString(type) + " cannot be sent");
}

constexpr std::size_t kMaxText = 64 * 1024;
constexpr std::size_t kMaxRecipe = 1024 * 1024;

class Encoder {
 public:
  void u8(std::uint8_t v) { bytes_.push_back(static_cast<std::byte>(v)); }
  void u16(std::uint16_t v) { little_endian(v); }
  void u32(std::uint32_t v) { little_endian(v); }
  void u64(std::uint64_t v) { little_endian(v); }
  void i64(std::int64_t v) { little_endian(static_cast<std::uint64_t>(v)); }
  void f64(double v) {
    std::uint64_t bits;
    std::memcpy(&bits, &v, sizeof bits);
    little_endian(bits);
  }
  void boolean(bool v) { u8(v ? 1 : 0); }
  void str(const std::string& s) {
    u32(static_cast<std::uint32_t>(s.size()));
    const auto* p = reinterpret_cast<const std::byte*>(s.data());
    bytes_.insert(bytes_.end(), p, p + s.size());
  }
  void raw(const char* p, std::size_t n) {
    const auto* b = reinterpret_cast<const std::byte*>(p);
    bytes_.insert(bytes_.end(), b, b + n);
  }
  void meta(const std::map<std::string, std::string>& m) {
    u32(static_cast<std::uint32_t>(m.size()));
    for (const auto& [k, v] : m) {
      str(k);
      str(v);
    }
  }
  void metrics(const Metrics& m) {
    u32(static_cast<std::uint32_t>(m.size()));
    for (const auto& [k, v] : m) {
      str(k);
      f64(v);
    }
  }
  void optional_i64(const std::optional<std::int64_t>& v) {
    boolean(v.has_value());
    i64(v.value_or(0));
  }
  std::vector<std::byte>& bytes() { return bytes_; }

 private:
  template <class T>
  void little_endian(T v) {
    for (std::size_t i = 0; i < sizeof(T); ++i) bytes_.push_back(static_cast<std::byte>((v >> (8 * i)) & 0xff));
  }
  std::vector<std::byte> bytes_;
};

class Decoder {
 public:
  Decoder(FrameType type, std::span<const std::byte> payload, const Limits& limits)
      : type_(type), data_(payload), limits_(limits) {}

  std::uint8_t u8(const char* field) { return static_cast<std::uint8_t>(take(1, field)[0]); }
  std::uint16_t u16(const char* field) { return little_endian<std::uint16_t>(field); }
  std::uint32_t u32(const char* field) { return little_endian<std::uint32_t>(field); }
  std::uint64_t u64(const char* field) { return little_endian<std::uint64_t>(field); }
  std::int64_t i64(const char* field) { return static_cast<std::int64_t>(u64(field)); }
  double f64(const char* field) {
    std::uint64_t bits = u64(field);
    double v;
    std::memcpy(&v, &bits, sizeof v);
    return v;
  }
  bool boolean(const char* field) {
    std::uint8_t v = u8(field);
    if (v > 1) fail(field, "is not a boolean");
    return v == 1;
  }
  std::string str(const char* field, std::size_t max_bytes) {
    std::uint32_t n = u32(field);
    if (n > max_bytes) fail(field, "is " + std::to_string(n) + " bytes, more than " + std::to_string(max_bytes));
    auto s = take(n, field);
    return std::string(reinterpret_cast<const char*>(s.data()), s.size());
  }
  std::uint32_t count(const char* field, std::size_t min_element_bytes) {
    std::uint32_t n = u32(field);
    // A count cannot exceed what the rest of the payload can hold.
    if (min_element_bytes > 0 && n > remaining() / min_element_bytes)
      fail(field, "announces " + std::to_string(n) + " entries, more than the frame holds");
    return n;
  }
  std::map<std::string, std::string> meta() {
    std::map<std::string, std::string> m;
    const std::uint32_t n = count("meta", 8);
    for (std::uint32_t i = 0; i < n; ++i) {
      std::string k = str("meta key", 256);
      m[k] = str("meta value", kMaxText);
    }
    return m;
  }
  Metrics metrics() {
    Metrics m;
    const std::uint32_t n = count("metrics", 12);
    for (std::uint32_t i = 0; i < n; ++i) {
      std::string k = str("metric name", 256);
      m[k] = f64("metric value");
    }
    return m;
  }
  std::optional<std::int64_t> optional_i64(const char* flag_field, const char* field) {
    const bool present = boolean(flag_field);
    const std::int64_t v = i64(field);
    return present ? std::optional<std::int64_t>(v) : std::nullopt;
  }
  void done() {
    if (!data_.empty()) fail("payload", "has " + std::to_string(data_.size()) + " trailing bytes");
  }
  std::size_t remaining() const { return data_.size(); }
  const Limits& limits() const { return limits_; }

  [[noreturn]] void fail(const char* field, const std::string& what) const {
    throw ProtocolError(std::string("malformed ") + to_string(type_) + " frame: " + field + " " + what);
  }

 private:
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


void encode_body(Encoder& e, const Hello& m) {
  e.raw(kMagic, sizeof kMagic);
  e.u16(m.version);
  e.str(m.site);
  e.str(m.process);
  e.str(m.software);
}
void encode_body(Encoder& e, const Welcome& m) {
  e.u16(m.version);
  e.str(m.server);
  e.u32(m.heartbeat_ms);
}
void encode_body(Encoder& e, const Refuse& m) { e.str(m.reason); }
void encode_body(Encoder&, const Heartbeat&) {}
void encode_body(Encoder& e, const JobAnnounce& m) {
  e.str(m.job_id);
  e.str(m.recipe_path);
  e.str(m.recipe_text);
  e.u32(static_cast<std::uint32_t>(m.sites.size()));
  for (const auto& s : m.sites) e.str(s);
}
void encode_site_message(Encoder& e, const SiteMessageHeader& m) {
  e.str(m.job_id);
  e.str(m.peer);
  e.str(m.name);
  e.i64(m.round);
  e.meta(m.meta);
  e.metrics(m.metrics);
  e.optional_i64(m.num_steps);
  e.boolean(m.has_model);
}
void encode_body(Encoder& e, const Relay& m) { encode_site_message(e, m); }
void encode_body(Encoder& e, const Deliver& m) { encode_site_message(e, m); }
void encode_body(Encoder& e, const Report& m) { encode_site_message(e, m); }
void encode_body(Encoder& e, const StreamAbort& m) { e.str(m.reason); }
void encode_body(Encoder& e, const JobEnd& m) {
  e.str(m.job_id);
  e.str(m.status);
}
void encode_body(Encoder& e, const TaskHeader& m) {
  e.u64(m.task_id);
  e.str(m.job_id);
  e.str(m.name);
  e.i64(m.round);
  e.i64(m.site_index);
  e.i64(m.num_sites);
  e.meta(m.meta);
  e.boolean(m.has_model);
}
void encode_body(Encoder& e, const ResultHeader& m) {
  e.u64(m.task_id);
  e.str(m.job_id);
  e.boolean(m.ok);
  e.str(m.error);
  e.i64(m.round);
  e.optional_i64(m.num_steps);
  e.metrics(m.metrics);
  e.boolean(m.has_model);
}
void encode_body(Encoder& e, const ModelBegin& m) {
  e.u32(m.tensors);
  e.u64(m.total_bytes);
}
void encode_body(Encoder& e, const TensorInfo& m) {
  e.str(m.name);
  e.u8(dtype_code(m.dtype));
  e.u32(static_cast<std::uint32_t>(m.shape.size()));
  for (auto d : m.shape) e.i64(d);
  e.u64(m.nbytes);
}
void encode_body(Encoder&, const ModelEnd&) {}
void encode_body(Encoder& e, const TaskAccepted& m) { e.u64(m.task_id); }
void encode_body(Encoder& e, const Bye& m) {
  e.str(m.reason);
  e.boolean(m.final);
}

Hello decode_hello(Decoder& d) {
  Hello m;
  for (char expected : kMagic) {
    if (static_cast<char>(d.u8("magic")) != expected) d.fail("magic", "is not cohort's: not a cohort client");
  }
  m.version = d.u16("version");
  m.site = d.str("site", 256);
  m.process = d.str("process", 256);
  m.software = d.str("software", 256);
  return m;
}

template <class T>
T decode_site_message(Decoder& d) {
  T m;
  m.job_id = d.str("job_id", 256);
  m.peer = d.str("peer", 256);
  m.name = d.str("name", 256);
  m.round = d.i64("round");
  m.meta = d.meta();
  m.metrics = d.metrics();
  m.num_steps = d.optional_i64("has_num_steps", "num_steps");
  m.has_model = d.boolean("has_model");
  return m;
}

TensorInfo decode_tensor(Decoder& d) {
  TensorInfo m;
  m.name = d.str("name", d.limits().max_name_bytes);
  if (m.name.empty()) d.fail("name", "is empty");
  const std::uint8_t code = d.u8("dtype");
  bool known = false;
  for (const auto& entry : kDtypes) {
    if (entry.code == code) {
      m.dtype = entry.type;
      known = true;
    }
  }
  if (!known) d.fail("dtype", "code " + std::to_string(code) + " is unknown");
  const std::uint32_t dims = d.u32("ndim");
  if (dims > d.limits().max_dims) d.fail("ndim", std::to_string(dims) + " exceeds the limit of " + std::to_string(d.limits().max_dims));
  std::uint64_t elements = 1;
  for (std::uint32_t i = 0; i < dims; ++i) {
    std::int64_t size = d.i64("shape");
    if (size < 0) d.fail("shape", "has a negative dimension");
    if (size > 0 && elements > std::numeric_limits<std::uint64_t>::max() / static_cast<std::uint64_t>(size))
      d.fail("shape", "overflows");
    elements *= static_cast<std::uint64_t>(size);
    m.shape.push_back(size);
  }
  m.nbytes = d.u64("nbytes");
  const std::uint64_t element_size = c10::elementSize(m.dtype);
  if (elements > std::numeric_limits<std::uint64_t>::max() / element_size || elements * element_size != m.nbytes)
    d.fail("nbytes", std::to_string(m.nbytes) + " does not match shape and dtype");
  if (m.nbytes > d.limits().max_model_bytes) d.fail("nbytes", "exceeds the model size limit");
  return m;
}

}  // namespace

FrameType frame_type(const Message& message) {
  return std::visit(
      [](const auto& m) -> FrameType {
        using T = std::decay_t<decltype(m)>;
        if constexpr (std::is_same_v<T, Hello>) return FrameType::hello;
        else if constexpr (std::is_same_v<T, Welcome>) return FrameType::welcome;
        else if constexpr (std::is_same_v<T, Refuse>) return FrameType::refuse;
        else if constexpr (std::is_same_v<T, Heartbeat>) return FrameType::heartbeat;
        else if constexpr (std::is_same_v<T, JobAnnounce>) return FrameType::job;
        else if constexpr (std::is_same_v<T, TaskHeader>) return FrameType::task;
        else if constexpr (std::is_same_v<T, ResultHeader>) return FrameType::result;
        else if constexpr (std::is_same_v<T, ModelBegin>) return FrameType::model_begin;
        else if constexpr (std::is_same_v<T, TensorInfo>) return FrameType::tensor;
        else if constexpr (std::is_same_v<T, ModelEnd>) return FrameType::model_end;
        else if constexpr (std::is_same_v<T, TaskAccepted>) return FrameType::accept;
        else if constexpr (std::is_same_v<T, Relay>) return FrameType::relay;
        else if constexpr (std::is_same_v<T, Deliver>) return FrameType::deliver;
        else if constexpr (std::is_same_v<T, Report>) return FrameType::report;
        else if constexpr (std::is_same_v<T, StreamAbort>) return FrameType::stream_abort;
        else if constexpr (std::is_same_v<T, JobEnd>) return FrameType::job_end;
        else return FrameType::bye;
      },
      message);
}

std::array<std::byte, kFrameHeaderBytes> encode_header(FrameType type, std::uint32_t payload_bytes) {
  std::array<std::byte, kFrameHeaderBytes> h{};
  for (int i = 0; i < 4; ++i) h[i] = static_cast<std::byte>((payload_bytes >> (8 * i)) & 0xff);
  h[4] = static_cast<std::byte>(type);
  return h;
}

std::vector<std::byte> encode_frame(const Message& message) {
  Encoder e;
  for (std::size_t i = 0; i < kFrameHeaderBytes; ++i) e.u8(0);
  std::visit([&](const auto& m) { encode_body(e, m); }, message);
  auto& bytes = e.bytes();
  auto header = encode_header(frame_type(message), static_cast<std::uint32_t>(bytes.size() - kFrameHeaderBytes));
  std::copy(header.begin(), header.end(), bytes.begin());
  return std::move(bytes);
}

std::pair<FrameType, std::uint32_t> decode_header(std::span<const std::byte, kFrameHeaderBytes> h) {
  std::uint32_t length = 0;
  for (int i = 0; i < 4; ++i) length |= static_cast<std::uint32_t>(std::to_integer<std::uint8_t>(h[i])) << (8 * i);
  const auto type = std::to_integer<std::uint8_t>(h[4]);
  if (type < static_cast<std::uint8_t>(FrameType::hello) || type > static_cast<std::uint8_t>(FrameType::job_end))
    throw ProtocolError("unknown frame type " + std::to_string(type));
  return {static_cast<FrameType>(type), length};
}

Message decode(FrameType type, std::span<const std::byte> payload, const Limits& limits) {
  Decoder d(type, payload, limits);
  Message out;
  switch (type) {
    case FrameType::hello: out = decode_hello(d); break;
    case FrameType::welcome: {
      Welcome m;
      m.version = d.u16("version");
      m.server = d.str("server", 256);
      m.heartbeat_ms = d.u32("heartbeat_ms");
      out = m;
      break;
    }
    case FrameType::refuse: out = Refuse{d.str("reason", kMaxText)}; break;
    case FrameType::heartbeat: out = Heartbeat{}; break;
    case FrameType::job: {
      JobAnnounce m;
      m.job_id = d.str("job_id", 256);
      m.recipe_path = d.str("recipe_path", 4096);
      m.recipe_text = d.str("recipe_text", kMaxRecipe);
      const std::uint32_t n = d.count("sites", 4);
      for (std::uint32_t i = 0; i < n; ++i) m.sites.push_back(d.str("site", 256));
      out = m;
      break;
    }
    case FrameType::task: {
      TaskHeader m;
      m.task_id = d.u64("task_id");
      m.job_id = d.str("job_id", 256);
      m.name = d.str("name", 256);
      m.round = d.i64("round");
      m.site_index = d.i64("site_index");
      m.num_sites = d.i64("num_sites");
      if (m.num_sites < 0 || m.site_index < 0 || (m.num_sites > 0 && m.site_index >= m.num_sites))
        d.fail("site_index", "is outside [0, num_sites)");
      m.meta = d.meta();
      m.has_model = d.boolean("has_model");
      out = m;
      break;
    }
    case FrameType::result: {
      ResultHeader m;
      m.task_id = d.u64("task_id");
      m.job_id = d.str("job_id", 256);
      m.ok = d.boolean("ok");
      m.error = d.str("error", kMaxText);
      m.round = d.i64("round");
      m.num_steps = d.optional_i64("has_num_steps", "num_steps");
      m.metrics = d.metrics();
      m.has_model = d.boolean("has_model");
      out = m;
      break;
    }
    case FrameType::model_begin: {
      ModelBegin m;
      m.tensors = d.u32("tensors");
      m.total_bytes = d.u64("total_bytes");
      if (m.tensors > limits.max_tensors)
        d.fail("tensors", std::to_string(m.tensors) + " exceeds the limit of " + std::to_string(limits.max_tensors));
      if (m.total_bytes > limits.max_model_bytes)
        d.fail("total_bytes", std::to_string(m.total_bytes) + " exceeds the limit of " + std::to_string(limits.max_model_bytes));
      out = m;
      break;
    }
    case FrameType::tensor: out = decode_tensor(d); break;
    case FrameType::model_end: out = ModelEnd{}; break;
    case FrameType::bye: {
      Bye m;
      m.reason = d.str("reason", kMaxText);
      m.final = d.boolean("final");
      out = m;
      break;
    }
    case FrameType::accept: out = TaskAccepted{d.u64("task_id")}; break;
    case FrameType::relay: out = decode_site_message<Relay>(d); break;
    case FrameType::deliver: out = decode_site_message<Deliver>(d); break;
    case FrameType::report: out = decode_site_message<Report>(d); break;
    case FrameType::stream_abort: out = StreamAbort{d.str("reason", kMaxText)}; break;
    case FrameType::job_end: {
      JobEnd m;
      m.job_id = d.str("job_id", 256);
      m.status = d.str("status", 64);
      out = m;
      break;
    }
    case FrameType::chunk: throw ProtocolError("CHUNK is not a control frame");
  }
  d.done();
  return out;
}

}  // namespace cohort::net
