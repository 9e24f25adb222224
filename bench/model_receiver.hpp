#pragma once
// One end of a model transfer benchmark: hands each model that arrives (after a TASK or a
// RESULT header) to a callback, built straight in its tensors by a ModelBuilder, as a
// site or the server receives one. Used over TCP (transfer.cpp) and MPI (mpi_transfer.cpp).

#include "net/link.hpp"

#include <cohort/stream.hpp>

#include <functional>
#include <memory>
#include <string>
#include <variant>

namespace cohort::bench {

class ModelReceiver final : public net::LinkHandler {
 public:
  explicit ModelReceiver(std::function<void(Model)> received, std::function<void()> closed = {})
      : received_(std::move(received)), closed_(std::move(closed)) {}
  net::Reception on_message(net::Link&, net::Message& m) override {
    if (!std::holds_alternative<net::TaskHeader>(m) && !std::holds_alternative<net::ResultHeader>(m)) return {};
    class Sink final : public ResultSink {
     public:
      explicit Sink(ModelReceiver* r) : r_(r) {}
      void begin_model(std::uint32_t n, std::uint64_t bytes) override { builder_.begin_model(n, bytes); }
      void begin_tensor(const TensorInfo& t) override { builder_.begin_tensor(t); }
      std::span<std::byte> chunk_destination(std::uint64_t o, std::size_t n) override {
        return builder_.chunk_destination(o, n);
      }
      void chunk_received(std::uint64_t o, std::span<const std::byte> d) override { builder_.chunk_received(o, d); }
      void commit() override { r_->received_(builder_.take()); }

     private:
      ModelReceiver* r_;
      ModelBuilder builder_;
    };
    return net::Reception{std::make_unique<Sink>(this), false};
  }
  void on_closed(net::Link&, const std::string&) override {
    if (closed_) closed_();
  }

 private:
  std::function<void(Model)> received_;
  std::function<void()> closed_;
};

}  // namespace cohort::bench
