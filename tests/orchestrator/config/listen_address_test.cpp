// The HTTP listen addresses of the project file and the commands, read without binding.
#include "config/listen_address.hpp"

#include <doctest/doctest.h>

using cohort::config::parse_listen_address;

TEST_CASE("listen address: HOST:PORT with an IP address, port 0 only where any port will do") {
  CHECK(parse_listen_address("127.0.0.1:9400").port == 9400);
  CHECK(parse_listen_address("[::1]:9400").host == "::1");
  CHECK(parse_listen_address("[::1]:9400").text() == "[::1]:9400");
  CHECK_THROWS_WITH(parse_listen_address("9400"), "\"9400\" is not HOST:PORT (e.g. \"127.0.0.1:9400\")");
  CHECK_THROWS_WITH(parse_listen_address("127.0.0.1:0"), "\"127.0.0.1:0\": the port must be a number in [1, 65535]");
  CHECK_THROWS_WITH(parse_listen_address("127.0.0.1:x"), "\"127.0.0.1:x\": the port must be a number in [1, 65535]");
  CHECK_THROWS_WITH(parse_listen_address("example.org:80"), "\"example.org:80\": \"example.org\" is not an IP address");
  CHECK(parse_listen_address("127.0.0.1:0", /*any_port=*/true).port == 0);
}
