#pragma once
// A client process: hosts one or more sites (one connection and identity each) and runs
// their tasks in turn on one worker thread. A task's model is read from the socket only
// when its turn comes, and every tensor of a task is released before the next starts.

#include "client/client_job.hpp"
#include "client/site_workflow_host.hpp"
#include "net/connection.hpp"
#include "tls/tls.hpp"

#include <boost/asio/io_context.hpp>

#include <atomic>
#include <condition_variable>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <thread>

namespace cohort::client {

/// One site hosted by the process.
struct SiteIdentity {
  std::string name;
  /// Its certificate (none with --insecure).
  std::optional<tls::TlsFiles> tls;
};

struct ClientOptions {
  /// Name of this process (memory/<process>.csv, logs/<process>.log).
  std::string process_name = "client";
  std::string server_host = "127.0.0.1";
  std::uint16_t server_port = 0;
  /// The server's certificate must carry this common name.
  std::string server_name = "server";
  std::vector<SiteIdentity> sites;
  std::filesystem::path workspace;
  std::vector<std::filesystem::path> plugin_dirs;
  net::ConnectionOptions connection;
  /// Run jobs that carry files (code, such as a Python script); false refuses them, and
  /// their tasks fail saying so (the kit's accept_job_code).
  bool accept_job_code = true;
  /// Exit when the server says a final goodbye (simulation), instead of reconnecting.
  bool exit_on_final_bye = false;
  /// Another transport than TCP (MPI): the link of a site, opened by it; no dialing, and no
  /// reconnect: the process stops (status 1) when a link closes before a final goodbye.
  std::function<std::shared_ptr<net::Link>(const std::string& site)> open_link;
  std::chrono::milliseconds reconnect_initial{500};
  std::chrono::milliseconds reconnect_max{30000};
};

class SiteLink;

class ClientProcess {
 public:
  ClientProcess(ClientOptions options, std::shared_ptr<spdlog::logger> log);
  ~ClientProcess();

  /// Connects every site and serves tasks until stop() or a final goodbye (when
  /// exit_on_final_bye). Returns the exit status: 0, or 1 after a fatal refusal.
  int run();
  /// Stops (thread-safe).
  void stop(int status = 0);
  /// A site link's connection closed (called by the link).
  void link_closed();

  const ClientOptions& options() const { return options_; }
  spdlog::logger& log() { return *log_; }
  const std::shared_ptr<spdlog::logger>& logger() const { return log_; }
  boost::asio::io_context& io() { return io_; }
  bool stopping() const { return stopping_.load(); }
  /// The hosted sites connected to the server now (welcomed).
  std::vector<std::string> connected_sites() const;

  struct TaskModel;
  /// Called by site links (on their strands). `files`, when the job carries some, fills in
  /// as they arrive.
  void announce(const net::JobAnnounce& job, std::shared_ptr<TaskModel> files);
  /// A job ended: released on the worker thread, after the tasks queued before.
  void job_ended(const net::JobEnd& end);
  /// A task arrived; `model` fills in once the connection's hold is released.
  void enqueue(std::shared_ptr<SiteLink> link, std::shared_ptr<net::Link> connection, net::TaskHeader header,
               std::shared_ptr<TaskModel> model);
  /// A sink that fills `model`.
  static std::unique_ptr<ResultSink> sink_for(std::shared_ptr<TaskModel> model);
  static std::shared_ptr<TaskModel> new_task_model();

  /// A DELIVER for one of our sites (client-controlled workflows): streamed into the site
  /// workflow's sink, or delivered whole on the worker thread in turn.
  net::Reception deliver(std::shared_ptr<SiteLink> link, std::shared_ptr<net::Link> connection,
                         const net::Deliver& deliver);
  /// Runs `work` on the worker thread, after what is queued.
  void post_work(std::function<void()> work);

 private:
  struct WorkItem {
    std::function<void()> run;
  };
  void worker_loop();
  /// Writes the job's files (when it carries some) and loads its recipe and executor; on
  /// failure, remembers why for the job's tasks to say.
  void prepare_job(const net::JobAnnounce& job, const std::shared_ptr<TaskModel>& files);
  /// Waits until `slot` is filled (or the process stops); true when it arrived whole.
  bool await(TaskModel& slot);
  ClientJob* find_job(const std::string& job_id);
  /// The workflow host of (job, site), made on first use; null for server-controlled jobs.
  SiteWorkflowHost* workflow_host(ClientJob& job, const std::shared_ptr<SiteLink>& link);
  void run_task(SiteLink& link, net::Link& connection, const net::TaskHeader& header,
                const std::shared_ptr<TaskModel>& model);
  /// Lets the task's model in (where the executor wants it): nothing when it did not arrive whole.
  std::optional<Model> receive_model(SiteLink& link, net::Link& connection, const net::TaskHeader& header,
                                     Executor* executor, std::optional<SiteExecutorContext>& ctx,
                                     const std::shared_ptr<TaskModel>& slot);
  /// Runs the task (or says why this site cannot) into `result_header`; returns the result.
  /// Logs the client's RSS (and its children's) after a task, as site `link`'s scalars.
  void track_memory(SiteLink& link, const ClientJob& job, std::int64_t round);
  Model execute(SiteLink& link, ClientJob* job, std::optional<SiteExecutorContext>& ctx, Task task,
                net::ResultHeader& result_header);
  /// Hands the result to the site's link and waits until it is written, or kept for a reconnect.
  void send_result(SiteLink& link, net::ResultHeader header, Model result);

  ClientOptions options_;
  std::shared_ptr<spdlog::logger> log_;
  boost::asio::io_context io_;
  std::vector<std::shared_ptr<SiteLink>> links_;
  std::mutex jobs_mutex_;
  std::map<std::string, std::unique_ptr<ClientJob>> jobs_;
  /// Jobs that could not be prepared here, and why.
  std::map<std::string, std::string> unprepared_;
  std::map<std::pair<std::string, std::string>, std::unique_ptr<SiteWorkflowHost>> workflows_;
  std::mutex mutex_;
  std::condition_variable work_ready_;
  std::condition_variable links_closed_;
  std::deque<WorkItem> work_;
  std::atomic<bool> stopping_{false};
  std::atomic<int> status_{0};
  std::thread worker_;
};

}  // namespace cohort::client
