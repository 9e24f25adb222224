// The write queue of a link: order, and a relayed stream's frames kept together.
#include "net/write_queue.hpp"

#include <doctest/doctest.h>

using cohort::net::Outgoing;
using cohort::net::WriteQueue;

namespace {

Outgoing frame(std::uint8_t tag, std::uint64_t stream = 0, bool opens = false, bool closes = false) {
  return Outgoing{.frame = {std::byte{tag}}, .stream = stream, .opens = opens, .closes = closes};
}

std::uint8_t tag_of(const std::optional<Outgoing>& item) {
  REQUIRE(item);
  return static_cast<std::uint8_t>(item->frame.at(0));
}

}  // namespace

TEST_CASE("write queue: items go out in order, empty gives nothing") {
  WriteQueue queue;
  CHECK_FALSE(queue.pop());
  queue.push(frame(1));
  queue.push(frame(2));
  CHECK(tag_of(queue.pop()) == 1);
  CHECK(tag_of(queue.pop()) == 2);
  CHECK(queue.empty());
}

TEST_CASE("write queue: while a relayed stream is open only its frames go out, the rest after it closes") {
  WriteQueue queue;
  queue.push(frame(1, 7, true));        // opens stream 7
  queue.push(frame(2));                 // a control message queued meanwhile
  queue.push(frame(3, 8, true));        // another relay's first frame
  CHECK(tag_of(queue.pop()) == 1);
  CHECK_FALSE(queue.pop());  // stream 7 is open and none of its frames is queued: wait
  queue.push(frame(4, 7));
  queue.push(frame(5, 7, false, true));  // closes stream 7
  CHECK(tag_of(queue.pop()) == 4);
  CHECK(tag_of(queue.pop()) == 5);
  CHECK(tag_of(queue.pop()) == 2);
  CHECK(tag_of(queue.pop()) == 3);
  CHECK(queue.take_all().empty());
}

TEST_CASE("write queue: take_all hands back what is left, in order") {
  WriteQueue queue;
  queue.push(frame(1));
  queue.push(frame(2));
  auto all = queue.take_all();
  REQUIRE(all.size() == 2);
  CHECK(static_cast<int>(all[1].frame[0]) == 2);
  CHECK(queue.empty());
}

TEST_CASE("write queue: a frame marked between_chunks can be taken ahead of the others") {
  WriteQueue queue;
  queue.push(frame(1));
  Outgoing scalars = frame(2);
  scalars.between_chunks = true;
  queue.push(std::move(scalars));
  queue.push(frame(3));
  CHECK(tag_of(queue.pop_between_chunks()) == 2);
  CHECK_FALSE(queue.pop_between_chunks());
  CHECK(tag_of(queue.pop()) == 1);
  CHECK(tag_of(queue.pop()) == 3);
}
