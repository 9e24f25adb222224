#pragma once
// A net::Link without a transport: it records what is sent on it and lets a test speak
// for the peer (say), feed a model stream into the sink the handler returned (stream),
// and cut the link as a dropped connection would (drop).

#include "net/link.hpp"

#include <memory>
#include <mutex>
#include <string>
#include <vector>

namespace cohort::test {

class FakeLink final : public net::Link, public std::enable_shared_from_this<FakeLink> {
 public:
  void start(std::shared_ptr<net::LinkHandler> handler) override { handler_ = std::move(handler); }
  void send(net::Message message, Done done) override { sent(std::move(message), std::nullopt, std::move(done)); }
  void send(net::Message message, Model model, Done done) override {
    sent(std::move(message), std::move(model), std::move(done));
  }
  std::uint64_t new_stream_id() override { return ++streams_; }
  void send_frame(std::vector<std::byte>, std::uint64_t, bool, bool, Done done) override {
    if (done) done(true);
  }
  void send_and_close(net::Message message, std::string reason) override {
    sent(std::move(message), std::nullopt, {});
    close(std::move(reason));
  }
  void close(std::string reason) override {
    if (close_reason_.empty()) close_reason_ = reason.empty() ? "closed" : reason;
  }
  bool closed() const override { return !close_reason_.empty(); }
  void established() override {}
  void release_hold() override {}
  const std::string& peer_name() const override { return name_; }
  const std::string& remote() const override { return remote_; }
  bool secure() const override { return false; }
  std::string security() const override { return "fake"; }
  void set_label(std::string label) override { label_ = std::move(label); }
  const std::string& label() const override { return label_; }
  std::shared_ptr<net::Link> share() override { return shared_from_this(); }

  /// The peer says `message`; what the handler answers.
  net::Reception say(net::Message message) { return handler_->on_message(*this, message); }
  /// The link drops, as a connection does: closed, then the stream being read (`open`,
  /// when given) abandoned, then the handler told.
  void drop(const std::string& reason, ResultSink* open = nullptr) {
    close(reason);
    if (open) open->abandon("connection closed: " + reason);
    if (auto handler = std::move(handler_)) handler->on_closed(*this, reason);
  }
  /// Why the link was closed ("" while open).
  const std::string& close_reason() const { return close_reason_; }

  /// What was sent, in order, and the model sent with it (when any).
  struct Sent {
    net::Message message;
    std::optional<Model> model;
  };
  std::vector<Sent> sent_messages() {
    std::lock_guard lock(mutex_);
    return sent_;
  }

 private:
  void sent(net::Message message, std::optional<Model> model, Done done) {
    {
      std::lock_guard lock(mutex_);
      sent_.push_back({std::move(message), std::move(model)});
    }
    if (done) done(true);
  }
  std::shared_ptr<net::LinkHandler> handler_;
  std::string name_, remote_ = "fake:1", label_, close_reason_;
  std::uint64_t streams_ = 0;
  std::mutex mutex_;
  std::vector<Sent> sent_;
};

}  // namespace cohort::test
