#include <cohort/stream.hpp>

#include <doctest/doctest.h>

#include <cstring>

TEST_CASE("model builder: bytes read in place or staged elsewhere both land in the tensor") {
  cohort::ModelBuilder builder;
  builder.begin_tensor({"w", at::kFloat, {4}, 16, 0});
  // first half straight into the destination, as the transport does when it can
  auto destination = builder.chunk_destination(0, 8);
  const float first[2] = {1.0f, 2.0f};
  std::memcpy(destination.data(), first, 8);
  builder.chunk_received(0, std::span<const std::byte>(destination.data(), 8));
  // second half staged in a buffer of the transport's
  const float second[2] = {3.0f, 4.0f};
  builder.chunk_received(8, std::as_bytes(std::span(second)));
  builder.end_tensor();
  builder.commit();
  REQUIRE(builder.complete());
  auto model = builder.take();
  const float* v = model.tensors[0].tensor.data_ptr<float>();
  CHECK(v[0] == 1.0f);
  CHECK(v[1] == 2.0f);
  CHECK(v[2] == 3.0f);
  CHECK(v[3] == 4.0f);
}

TEST_CASE("model builder: a record whose size contradicts its shape is refused") {
  cohort::ModelBuilder builder;
  CHECK_THROWS_WITH(builder.begin_tensor({"w", at::kFloat, {4}, 15, 0}),
                    "tensor 'w' announces 15 bytes but its shape and dtype make 16");
}
