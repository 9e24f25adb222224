#include "net/codec.hpp"

#include <cohort/metrics.hpp>

#include <doctest/doctest.h>

using namespace cohort::net;

namespace {

std::vector<std::byte> bytes(std::initializer_list<int> values) {
  std::vector<std::byte> out;
  for (int v : values) out.push_back(static_cast<std::byte>(v));
  return out;
}

/// The payload of an encoded frame.
std::vector<std::byte> payload_of(const Message& m) {
  auto frame = encode_frame(m);
  return {frame.begin() + kFrameHeaderBytes, frame.end()};
}

std::string decode_error(FrameType type, const std::vector<std::byte>& payload, const Limits& limits = {}) {
  try {
    decode(type, payload, limits);
  } catch (const ProtocolError& e) {
    return e.what();
  }
  return "no error";
}

}  // namespace

TEST_CASE("codec: every control message survives a round trip") {
  TaskHeader task{7, "job", "train", 3, 1, 4, {{"k", "v"}}, true, 2};
  auto decoded = std::get<TaskHeader>(decode(FrameType::task, payload_of(task), {}));
  CHECK(decoded.task_id == 7);
  CHECK(decoded.epoch == 2);
  CHECK(decoded.name == "train");
  CHECK(decoded.meta.at("k") == "v");
  ResultHeader result{7, "job", true, "", 3, 12, {{"accuracy", 0.75}}, true, 3};
  auto r = std::get<ResultHeader>(decode(FrameType::result, payload_of(result), {}));
  CHECK(r.num_steps == 12);
  CHECK(r.epoch == 3);
  CHECK(r.metrics.at("accuracy") == 0.75);
  cohort::TensorInfo t{"w", c10::ScalarType::Float, {2, 3}, 24, 0};
  auto t2 = std::get<cohort::TensorInfo>(decode(FrameType::tensor, payload_of(t), {}));
  CHECK((t2.shape == std::vector<std::int64_t>{2, 3}));
  CHECK((t2.dtype == c10::ScalarType::Float));
  Hello hello{kProtocolVersion, "site-1", "client-1", "cohort"};
  CHECK(std::get<Hello>(decode(FrameType::hello, payload_of(hello), {})).site == "site-1");
  JobAnnounce job{"job-1", "recipes/r.toml", "[job]\n", {"site-1", "site-2"}, true, 4};
  auto j = std::get<JobAnnounce>(decode(FrameType::job, payload_of(job), {}));
  CHECK(j.epoch == 4);
  CHECK(j.recipe_path == "recipes/r.toml");
  CHECK((j.sites == std::vector<std::string>{"site-1", "site-2"}));
  CHECK(j.has_model);
  JobEnd end{"job-1", "COMPLETED"};
  auto e = std::get<JobEnd>(decode(FrameType::job_end, payload_of(end), {}));
  CHECK(e.job_id == "job-1");
  CHECK(e.status == "COMPLETED");
  Scalars scalars{"job-1", 2, {{"loss", 0, 0.5, 1.7e9}, {"batch/loss", 41, -1.25, 1.8e9}}, 3};
  auto sc = std::get<Scalars>(decode(FrameType::scalars, payload_of(scalars), {}));
  CHECK(sc.job_id == "job-1");
  CHECK(sc.epoch == 2);
  CHECK(sc.dropped == 3);
  REQUIRE(sc.scalars.size() == 2);
  CHECK(sc.scalars[1].tag == "batch/loss");
  CHECK(sc.scalars[1].step == 41);
  CHECK(sc.scalars[1].value == -1.25);
  CHECK(sc.scalars[1].wall_time == 1.8e9);
}

TEST_CASE("codec rejects: a scalar's tag longer than kMaxScalarTagBytes") {
  Scalars scalars{"job-1", 0, {{std::string(cohort::kMaxScalarTagBytes + 1, 'x'), 0, 1.0, 0}}, 0};
  CHECK(decode_error(FrameType::scalars, payload_of(scalars)).find("tag") != std::string::npos);
  scalars.scalars[0].tag.pop_back();
  CHECK(std::get<Scalars>(decode(FrameType::scalars, payload_of(scalars), {})).scalars.size() == 1);
}

TEST_CASE("codec rejects: an unknown frame type") {
  auto h = bytes({0, 0, 0, 0, 99});
  CHECK_THROWS_WITH_AS(decode_header(std::span<const std::byte, 5>(h.data(), 5)), "unknown frame type 99",
                       ProtocolError);
}

TEST_CASE("codec rejects: a HELLO without cohort's magic") {
  auto p = payload_of(Hello{1, "s", "p", "x"});
  p[0] = std::byte{'X'};
  CHECK(decode_error(FrameType::hello, p) == "malformed HELLO frame: magic is not cohort's: not a cohort client");
}

TEST_CASE("codec rejects: a truncated string") {
  auto p = payload_of(Refuse{"a reason"});
  p.resize(p.size() - 3);
  CHECK(decode_error(FrameType::refuse, p) == "malformed REFUSE frame: reason is truncated");
}

TEST_CASE("codec rejects: trailing bytes") {
  auto p = payload_of(Heartbeat{});
  p.push_back(std::byte{1});
  CHECK(decode_error(FrameType::heartbeat, p) == "malformed HEARTBEAT frame: payload has 1 trailing bytes");
}

TEST_CASE("codec rejects: a count larger than the frame") {
  auto p = payload_of(TaskHeader{1, "j", "train", 0, 0, 1, {}, true});
  // meta count sits just before the has_model byte and the 8-byte epoch that end it
  p[p.size() - 13] = std::byte{0xff};
  p[p.size() - 12] = std::byte{0xff};
  CHECK(decode_error(FrameType::task, p).find("meta announces") != std::string::npos);
}

TEST_CASE("codec rejects: a tensor whose bytes do not match its shape") {
  cohort::TensorInfo t{"w", c10::ScalarType::Float, {2, 3}, 25, 0};
  CHECK(decode_error(FrameType::tensor, payload_of(t)) == "malformed TENSOR frame: nbytes 25 does not match shape and dtype");
}

TEST_CASE("codec rejects: too many dimensions") {
  cohort::TensorInfo t{"w", c10::ScalarType::Float, std::vector<std::int64_t>(17, 1), 4, 0};
  CHECK(decode_error(FrameType::tensor, payload_of(t)) == "malformed TENSOR frame: ndim 17 exceeds the limit of 16");
}

TEST_CASE("codec rejects: an unknown dtype code") {
  auto p = payload_of(cohort::TensorInfo{"w", c10::ScalarType::Float, {1}, 4, 0});
  p[4 + 1] = std::byte{200};  // after the 4-byte length and the 1-byte name
  CHECK(decode_error(FrameType::tensor, p) == "malformed TENSOR frame: dtype code 200 is unknown");
}

TEST_CASE("codec rejects: a model above the limits") {
  Limits limits;
  limits.max_tensors = 10;
  limits.max_model_bytes = 1000;
  CHECK(decode_error(FrameType::model_begin, payload_of(ModelBegin{11, 10}), limits) ==
        "malformed MODEL_BEGIN frame: tensors 11 exceeds the limit of 10");
  CHECK(decode_error(FrameType::model_begin, payload_of(ModelBegin{1, 1001}), limits) ==
        "malformed MODEL_BEGIN frame: total_bytes 1001 exceeds the limit of 1000");
}

TEST_CASE("codec rejects: a site index outside the job") {
  CHECK(decode_error(FrameType::task, payload_of(TaskHeader{1, "j", "train", 0, 5, 2, {}, true})) ==
        "malformed TASK frame: site_index is outside [0, num_sites)");
}

TEST_CASE("codec rejects: a second encoding of the same message (each message has one)") {
  // An absent num_steps is written as 0; anything else there is refused.
  ResultHeader result{7, "job", true, "", 3, std::nullopt, {}, true};
  auto p = payload_of(result);
  // task_id 8, job_id 4+3, ok 1, error 4, round 8, has_num_steps 1, then num_steps.
  const std::size_t num_steps_at = 8 + 7 + 1 + 4 + 8 + 1;
  p[num_steps_at] = std::byte{5};
  CHECK(decode_error(FrameType::result, p) == "malformed RESULT frame: num_steps is 5 but has_num_steps is false");
  // Map keys come sorted and unique.
  TaskHeader task{7, "job", "train", 3, 1, 4, {{"a", "1"}, {"b", "2"}}, true};
  auto q = payload_of(task);
  const std::size_t first_key = 8 + 7 + 9 + 8 + 8 + 8 + 4 + 4;
  q[first_key] = std::byte{'c'};  // "c" then "b"
  CHECK(decode_error(FrameType::task, q) ==
        "malformed TASK frame: meta key 'b' is out of order or repeated (keys are sorted and unique)");
}
