// cohort job: the admin CLI (submit, list, show, abort, download, logs, metrics, wait, status) with an
// admin startup kit.
#include "cli/commands.hpp"

#include "cli/admin_kit.hpp"
#include "config/recipe_file.hpp"
#include "config/text_file.hpp"
#include "config/toml_file.hpp"
#include "jobs/job_directory.hpp"
#include "jobs/job_state.hpp"
#include "process/child_process.hpp"
#include "process/launch.hpp"
#include "process/runtime_commands.hpp"
#include "provisioning/local_project.hpp"
#include "provisioning/startup_kit.hpp"

#include <cohort/error.hpp>
#include <cstdlib>
#include <ctime>
#include <fstream>
#include <iomanip>
#include <iostream>
#include <sstream>
#include <thread>

#include <unistd.h>

namespace fs = std::filesystem;

namespace cohort::cli {

namespace {

using nlohmann::json;

struct JobArgs {
  std::string kit;
  std::string recipe;
  std::string job_id;
  std::string destination;
  double timeout_s = 0;
  std::vector<std::string> plugin_path;
  /// submit: `--set KEY=VALUE`, applied to the recipe before it is sent.
  std::vector<std::string> overrides;
  /// "text" or "json" (the schema: README, "From Python").
  std::string format = "text";
  bool json() const { return format == "json"; }
};

/// Prints `value` as one line of JSON.
void print_json(const nlohmann::json& value) { std::cout << value.dump() << "\n"; }

/// How long a command tries a server that does not listen yet (one still starting).
constexpr std::chrono::seconds kStartingServerPatience{10};

/// Sends the request; prints the error and returns nothing when the server refused it.
/// A server that does not listen yet is tried again for `patience`.
std::optional<json> call(const JobArgs& a, const admin::AdminRequest& request,
                         const std::filesystem::path& download_to = {},
                         std::chrono::seconds patience = kStartingServerPatience) {
  const json reply = admin::admin_request_patiently(
      admin_endpoint(a.kit), request, download_to, patience, [patience](const std::string& why) {
        std::cerr << why << ": the server may be starting; trying again for up to " << patience.count() << " s\n";
      });
  if (!reply.value("ok", false)) {
    std::cerr << "error: " << reply.value("error", std::string("the server refused the request")) << "\n";
    return std::nullopt;
  }
  return reply;
}

std::string when(std::int64_t t) {
  if (t == 0) return "-";
  std::time_t time = static_cast<std::time_t>(t);
  char text[32];
  std::strftime(text, sizeof text, "%Y-%m-%d %H:%M:%S", std::localtime(&time));
  return text;
}

void print_job(const json& j) {
  std::cout << "job        " << j.value("id", "") << "\nname       " << j.value("name", "") << "\nstatus     "
            << j.value("status", "") << "\nsubmitter  " << j.value("submitter", "") << " ("
            << j.value("submitter_role", "") << ", org '" << j.value("submitter_org", "") << "')\nrounds     "
            << j.value("rounds_completed", 0) << " of " << j.value("num_rounds", 0) << "\nsubmitted  "
            << when(j.value("submitted_at", std::int64_t{0})) << "\nstarted    " << when(j.value("started_at", std::int64_t{0}))
            << "\nended      " << when(j.value("ended_at", std::int64_t{0})) << "\nresumed    "
            << j.value("resumes", 0) << (j.value("resumes", 0) == 1 ? " time" : " times") << "\n";
  if (j.contains("epsilon") && j["epsilon"].is_number())
    std::cout << "privacy    ε = " << j["epsilon"].get<double>() << " spent\n";
  if (!j.value("message", "").empty()) std::cout << "message    " << j.value("message", "") << "\n";
  if (!j.value("last_error", "").empty()) std::cout << "last error " << j.value("last_error", "") << "\n";
}

/// The files that travel with the recipe (e.g. its Python script and the script's
/// folder): the runtime checks the recipe with this machine's plugins and lists them.
/// Exits with the runtime's error (FILE:LINE:COL) when the recipe is bad.
std::vector<fs::path> travelling_files(const JobArgs& a) {
  char listing[] = "/tmp/cohort-submit-XXXXXX";
  const int fd = ::mkstemp(listing);
  if (fd < 0) throw IoError::from_errno(listing, "create a temporary file", errno);
  ::close(fd);
  const process::RecipeFilesLaunch files_of{{a.recipe, a.plugin_path, a.overrides}};
  const int status = process::run_to_end(process::command_line(process::runtime_executable().string(), {}, files_of), listing);
  std::ifstream in(listing);
  std::vector<fs::path> files;
  std::string line;
  std::string output;
  while (std::getline(in, line)) {
    output += line + "\n";
    files.emplace_back(line);
  }
  fs::remove(listing);
  if (status != 0) {
    std::cerr << output;
    throw process::ExitStatusError(status, "the recipe cannot be submitted as it is");
  }
  return files;
}

/// The submit request: the recipe, and the files that travel with it with their paths
/// relative to the deepest folder holding them all and the recipe (the job's app/).
admin::AdminRequest submission(const JobArgs& a) {
  // The overrides are applied here: the server stores and runs the recipe they make, which
  // names them in its first line.
  admin::AdminRequest request{admin::Command::submit, "", config::read_recipe_file(a.recipe, a.overrides).text,
                              a.recipe};
  const fs::path recipe = fs::absolute(a.recipe).lexically_normal();
  auto files = travelling_files(a);
  std::erase(files, recipe);
  if (files.empty()) return request;
  auto inside = [](const fs::path& file, const fs::path& folder) {
    const auto relative = file.lexically_relative(folder);
    return !relative.empty() && *relative.begin() != "..";
  };
  fs::path root = recipe.parent_path();
  for (const auto& file : files)
    while (!inside(file, root)) root = root.parent_path();
  std::uint64_t total = 0;
  for (const auto& file : files) {
    total += fs::file_size(file);
    if (total > jobs::kMaxAppBytes || request.files.size() == jobs::kMaxAppFiles)
      throw ConfigError({a.recipe}, "the files that travel with the job (under " + root.string() +
                                  ") come to more than " + std::to_string(jobs::kMaxAppFiles) + " files or " +
                                  std::to_string(jobs::kMaxAppBytes >> 20) +
                                  " MiB; keep data out of the script's folder");
    const auto path = file.lexically_relative(root).generic_string();
    jobs::app_path(path);  // a hidden folder on the way is refused here, naming it
    request.files.push_back({path, config::read_text_file(file)});
  }
  request.file = recipe.lexically_relative(root).generic_string();
  return request;
}

int submit(const JobArgs& a) {
  const auto request = submission(a);
  const auto reply = call(a, request);
  if (!reply) return process::kExitFailure;
  if (a.json()) {
    print_json({{"job_id", (*reply)["job_id"]}, {"files", request.files.size()}});
    return process::kExitOk;
  }
  if (!request.files.empty())
    std::cerr << "sent " << request.files.size() << " files with the recipe (the job's app/ folder)\n";
  std::cout << (*reply)["job_id"].get<std::string>() << "\n";
  return process::kExitOk;
}

int list(const JobArgs& a) {
  const auto reply = call(a, {admin::Command::list});
  if (!reply) return process::kExitFailure;
  if (a.json()) {
    print_json({{"jobs", (*reply)["jobs"]}});
    return process::kExitOk;
  }
  std::cout << std::left << std::setw(38) << "ID" << std::setw(24) << "NAME" << std::setw(21) << "STATUS"
            << std::setw(24) << "SUBMITTER" << "SUBMITTED\n";
  for (const auto& j : (*reply)["jobs"]) {
    std::cout << std::setw(38) << j.value("id", "") << std::setw(24) << j.value("name", "") << std::setw(21)
              << j.value("status", "") << std::setw(24) << j.value("submitter", "")
              << when(j.value("submitted_at", std::int64_t{0})) << "\n";
  }
  return process::kExitOk;
}

int show(const JobArgs& a) {
  const auto reply = call(a, {admin::Command::show, a.job_id});
  if (!reply) return process::kExitFailure;
  if (a.json()) print_json((*reply)["job"]);
  else print_job((*reply)["job"]);
  return process::kExitOk;
}

int abort_job(const JobArgs& a) {
  if (!call(a, {admin::Command::abort, a.job_id})) return process::kExitFailure;
  if (a.json()) print_json({{"job_id", a.job_id}, {"abort_requested", true}});
  else std::cout << "abort requested for job " << a.job_id << "\n";
  return process::kExitOk;
}

int download(const JobArgs& a) {
  const std::filesystem::path dest = std::filesystem::path(a.destination.empty() ? a.job_id : a.destination);
  const auto reply = call(a, {admin::Command::download, a.job_id}, dest);
  if (!reply) return process::kExitFailure;
  if (a.json()) {
    print_json({{"job", (*reply)["job"]}, {"folder", std::filesystem::absolute(dest).string()}, {"files", (*reply)["files"]}});
    return process::kExitOk;
  }
  std::uintmax_t bytes = 0;
  for (const auto& f : (*reply)["files"]) bytes += f.value("size", std::uintmax_t{0});
  std::cout << "job " << a.job_id << " (" << (*reply)["job"].value("status", "") << "): " << (*reply)["files"].size()
            << " files, " << bytes << " bytes in " << std::filesystem::absolute(dest).string() << "\n";
  return process::kExitOk;
}

int logs(const JobArgs& a) {
  const auto reply = call(a, {admin::Command::logs, a.job_id});
  if (!reply) return process::kExitFailure;
  if (a.json()) print_json({{"job_id", a.job_id}, {"text", (*reply)["text"]}, {"cursor", (*reply)["cursor"]}});
  else std::cout << (*reply)["text"].get<std::string>();
  return process::kExitOk;
}

int metrics(const JobArgs& a) {
  const auto reply = call(a, {admin::Command::metrics, a.job_id});
  if (!reply) return process::kExitFailure;
  if (a.json()) {
    print_json({{"job_id", a.job_id}, {"rows", (*reply)["rows"]}});
    return process::kExitOk;
  }
  std::cout << std::left << std::setw(7) << "ROUND" << std::setw(14) << "SITE" << "METRICS\n";
  for (const auto& row : (*reply)["rows"]) {
    std::cout << std::setw(7) << row.value("round", 0) << std::setw(14) << row.value("site", "");
    for (const auto& [name, value] : row["metrics"].items()) std::cout << name << "=" << value.get<double>() << " ";
    std::cout << "\n";
  }
  return process::kExitOk;
}

int status(const JobArgs& a) {
  const auto reply = call(a, {admin::Command::status});
  if (!reply) return process::kExitFailure;
  if (a.json()) {
    print_json({{"server", (*reply)["server"]}, {"sites", (*reply)["sites"]}, {"running", (*reply)["running"]}});
    return process::kExitOk;
  }
  auto joined = [](const json& names) {
    std::string text;
    for (const auto& n : names) text += (text.empty() ? "" : ", ") + n.get<std::string>();
    return text.empty() ? std::string("none") : text;
  };
  std::cout << "server   " << reply->value("server", "") << "\nsites    " << joined((*reply)["sites"])
            << "\nrunning  " << joined((*reply)["running"]) << "\n";
  return process::kExitOk;
}

int wait(const JobArgs& a) {
  const auto start = std::chrono::steady_clock::now();
  std::string last;
  // Progress goes to stdout as text, to stderr beside JSON (whose stdout is the final record).
  std::ostream& progress = a.json() ? std::cerr : std::cout;
  auto timed_out = [&] {
    return a.timeout_s > 0 &&
           std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count() > a.timeout_s;
  };
  for (;;) {
    std::optional<json> reply;
    try {
      reply = call(a, {admin::Command::show, a.job_id}, {}, std::chrono::seconds(0));
    } catch (const admin::ServerUnreachable& e) {
      // A server restarting: keep waiting for it (its jobs resume).
      if (last != "unreachable")
        progress << "job " << a.job_id << ": server unreachable, still waiting (" << e.what() << ")" << std::endl;
      last = "unreachable";
      if (timed_out()) {
        std::cerr << "error: the server did not answer within " << a.timeout_s << " s\n";
        return process::kExitFailure;
      }
      std::this_thread::sleep_for(std::chrono::seconds(1));
      continue;
    }
    if (!reply) return process::kExitFailure;
    const json& j = (*reply)["job"];
    const std::string status = j.value("status", "");
    std::ostringstream line;
    line << status << ", round " << j.value("rounds_completed", 0) << " of " << j.value("num_rounds", 0);
    if (line.str() != last) {
      progress << "job " << a.job_id << ": " << line.str() << std::endl;
      last = line.str();
    }
    const auto state = jobs::parse_job_state(status);
    if (state && jobs::is_finished(*state)) {
      if (a.json()) print_json(j);
      else if (!j.value("message", "").empty()) std::cout << "  " << j.value("message", "") << "\n";
      return state == jobs::JobState::completed ? process::kExitOk : process::kExitFailure;
    }
    if (timed_out()) {
      std::cerr << "error: job " << a.job_id << " still " << status << " after " << a.timeout_s << " s\n";
      return process::kExitFailure;
    }
    std::this_thread::sleep_for(std::chrono::seconds(1));
  }
}

}  // namespace

void add_job_command(CLI::App& app, GlobalOptions&, Command& run) {
  process::CommandGroup<JobArgs> group(
      app, "job", "Admin commands on the server's jobs (needs an admin kit)", run, [](CLI::App& cmd, JobArgs& a) {
        cmd.add_option("--kit", a.kit, "The admin startup kit (default: $COHORT_ADMIN_KIT)")->check(process::existing_folder());
        cmd.add_option("--format", a.format, "text, or json (one object: README, \"From Python\")")
            ->capture_default_str()
            ->check(CLI::IsMember({"text", "json"}));
      });
  auto& a = group.args();
  auto* submit_command = group.add(
      "submit", "Submit a recipe with the files it names (its Python script and the script's folder); prints the job id",
      &submit);
  submit_command->add_option("recipe", a.recipe, "Recipe file")->required()->check(process::recipe_file());
  submit_command->add_option("-p,--plugin-path", a.plugin_path, "Search DIR for plugins before the defaults");
  submit_command->add_option("--set", a.overrides, "KEY=VALUE: override a setting of the recipe for this job")
      ->allow_extra_args(false);
  group.add("list", "List every job", &list);
  group.add("status", "The server's connected sites and running jobs", &status);
  group.add("show", "Show one job", &show)->add_option("id", a.job_id, "Job id")->required();
  group.add("abort", "Abort a job", &abort_job)->add_option("id", a.job_id, "Job id")->required();
  auto* dl = group.add("download", "Download a job's results", &download);
  dl->add_option("id", a.job_id, "Job id")->required();
  dl->add_option("dest", a.destination, "Folder to write (default: ./ID)");
  group.add("logs", "Print the end of a job's server log", &logs)->add_option("id", a.job_id, "Job id")->required();
  group.add("metrics", "A job's metrics, round by round (metrics.csv)", &metrics)
      ->add_option("id", a.job_id, "Job id")
      ->required();
  auto* w = group.add("wait", "Wait for a job to finish, showing progress; exit 0 when COMPLETED", &wait);
  w->add_option("id", a.job_id, "Job id")->required();
  w->add_option("--timeout", a.timeout_s, "Give up after S seconds (0: never)")->check(process::number_at_least(0));
}

}  // namespace cohort::cli
