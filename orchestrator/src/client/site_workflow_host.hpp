#pragma once
// Hosts one site's part of a client-controlled workflow (Swarm) in a client process: the
// SiteWorkflowContext it sees, its timers and its periodic status reports.

#include "client/client_job.hpp"

#include <cohort/site_workflow.hpp>

#include <boost/asio/steady_timer.hpp>

#include <memory>
#include <mutex>

namespace cohort::client {

class ClientProcess;
class SiteLink;

class SiteWorkflowHost final : public SiteWorkflowContext {
 public:
  SiteWorkflowHost(ClientProcess& process, ClientJob& job, std::shared_ptr<SiteLink> link,
                   std::shared_ptr<SiteWorkflow> workflow);
  ~SiteWorkflowHost() override;

  SiteWorkflow& workflow() { return *workflow_; }

  // SiteWorkflowContext
  const std::string& site() const override;
  const std::vector<std::string>& sites() const override;
  const JobInfo& job() const override;
  spdlog::logger& log() override;
  void relay(const std::string& to, const SiteMessage& message, const Model& model) override;
  void report(const SiteMessage& message, const Model& model) override;
  Model execute(Task task) override;
  void schedule(std::chrono::milliseconds delay, Timer timer) override;
  void round_done(std::int64_t round, const std::string& role) override;
  void set_status(std::int64_t round, const std::string& state, const Metrics& metrics) override;

 private:
  template <class Header>
  Header header(const SiteMessage& message, bool has_model) const;
  void send_status();
  void arm_status_timer();

  ClientProcess& process_;
  ClientJob& job_;
  std::shared_ptr<SiteLink> link_;
  /// Made through the plugin's LoadedPlugin: it holds the plugin's library loaded.
  std::shared_ptr<SiteWorkflow> workflow_;
  std::mutex status_mutex_;
  SiteMessage status_;
  std::shared_ptr<boost::asio::steady_timer> status_timer_;
};

}  // namespace cohort::client
