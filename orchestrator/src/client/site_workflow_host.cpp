#include "client/site_workflow_host.hpp"

#include "client/client_process.hpp"
#include "client/site_link.hpp"

#include <spdlog/logger.h>

#include <algorithm>

namespace cohort::client {

SiteWorkflowHost::SiteWorkflowHost(ClientProcess& process, ClientJob& job, std::shared_ptr<SiteLink> link,
                                   std::shared_ptr<SiteWorkflow> workflow)
    : process_(process), job_(job), link_(std::move(link)), workflow_(std::move(workflow)) {
  status_.name = "status";
  status_.meta["state"] = "idle";
  if (workflow_->status_interval().count() > 0) {
    status_timer_ = std::make_shared<boost::asio::steady_timer>(process_.io());
    boost::asio::post(process_.io(), [this] { arm_status_timer(); });
  }
}

SiteWorkflowHost::~SiteWorkflowHost() {
  if (status_timer_) status_timer_->cancel();
}

const std::string& SiteWorkflowHost::site() const { return link_->site(); }
const std::vector<std::string>& SiteWorkflowHost::sites() const { return job_.participants(); }
const JobInfo& SiteWorkflowHost::job() const { return job_.info(); }
spdlog::logger& SiteWorkflowHost::log() { return job_.log(); }

template <class Header>
Header SiteWorkflowHost::header(const SiteMessage& message, bool has_model) const {
  Header h;
  h.job_id = job_.info().id;
  h.message = message;
  h.message.from = site();
  h.has_model = has_model;
  h.epoch = job_.epoch();
  return h;
}

void SiteWorkflowHost::relay(const std::string& to, const SiteMessage& message, const Model& model) {
  auto connection = link_->connection();
  if (!connection) {
    job_.log().warn("site '{}': relay '{}' to '{}' not sent: not connected", site(), message.name, to);
    return;
  }
  auto h = header<net::Relay>(message, !model.tensors.empty());
  h.to = to;
  if (h.has_model) connection->send(std::move(h), model);
  else connection->send(std::move(h));
}

void SiteWorkflowHost::report(const SiteMessage& message, const Model& model) {
  auto connection = link_->connection();
  if (!connection) {
    job_.log().warn("site '{}': report '{}' not sent: not connected", site(), message.name);
    return;
  }
  auto h = header<net::Report>(message, !model.tensors.empty());
  if (h.has_model) connection->send(std::move(h), model);
  else connection->send(std::move(h));
}

Model SiteWorkflowHost::execute(Task task) {
  const auto& all = job_.participants();
  const auto index = std::find(all.begin(), all.end(), site()) - all.begin();
  SiteExecutorContext ctx(site(), index, static_cast<std::int64_t>(all.size()), job_,
                          [this] { return process_.stopping(); }, *link_);
  Model result = job_.executor().execute(std::move(task), ctx);
  link_->flush_scalars();
  return result;
}

void SiteWorkflowHost::schedule(std::chrono::milliseconds delay, Timer timer) {
  auto clock = std::make_shared<boost::asio::steady_timer>(process_.io(), delay);
  clock->async_wait([this, clock, timer = std::move(timer)](const boost::system::error_code& ec) {
    if (ec || process_.stopping()) return;
    process_.post_work([this, timer] { workflow_->on_timer(timer, *this); });
  });
}

void SiteWorkflowHost::round_done(std::int64_t round, const std::string& role) {
  job_.log().info("site '{}': round {} done as {}", site(), round, role);
  job_.task_done(round, site());
}

void SiteWorkflowHost::set_status(std::int64_t round, const std::string& state, const Metrics& metrics) {
  {
    std::lock_guard lock(status_mutex_);
    status_.round = round;
    status_.meta["state"] = state;
    for (const auto& [k, v] : metrics) status_.metrics[k] = v;
  }
  if (status_timer_) send_status();  // a change is reported at once, not at the next tick
}

void SiteWorkflowHost::send_status() {
  SiteMessage status;
  {
    std::lock_guard lock(status_mutex_);
    status = status_;
  }
  report(status, {});
}

void SiteWorkflowHost::arm_status_timer() {
  send_status();
  status_timer_->expires_after(workflow_->status_interval());
  status_timer_->async_wait([this, timer = status_timer_](const boost::system::error_code& ec) {
    if (!ec && !process_.stopping()) arm_status_timer();
  });
}

}  // namespace cohort::client
