#include "server/job_sites.hpp"

#include <algorithm>

namespace cohort::server {

bool JobSites::gather(const std::vector<std::string>& named, std::size_t min_clients, std::chrono::milliseconds timeout) {
  if (named.empty()) {
    const bool ready =
        server_.wait_for_sites([&](const std::vector<std::string>& c) { return c.size() >= min_clients; }, timeout);
    participants_ = server_.connected_sites();
    return ready;
  }
  participants_ = named;
  const bool all = server_.wait_for_sites(
      [&](const std::vector<std::string>& connected) {
        return std::all_of(named.begin(), named.end(), [&](const std::string& s) {
          return std::find(connected.begin(), connected.end(), s) != connected.end();
        });
      },
      timeout);
  return all || connected().size() >= min_clients;
}

bool JobSites::participates(const std::string& site) const {
  return std::find(participants_.begin(), participants_.end(), site) != participants_.end();
}

std::int64_t JobSites::index(const std::string& site) const {
  auto it = std::find(participants_.begin(), participants_.end(), site);
  return it == participants_.end() ? 0 : it - participants_.begin();
}

std::vector<std::string> JobSites::connected() const {
  std::vector<std::string> out;
  for (const auto& s : server_.connected_sites()) {
    if (participates(s)) out.push_back(s);
  }
  return out;
}

void JobSites::start(const std::function<void(const std::string&)>& announce) {
  std::lock_guard lock(joined_mutex_);
  started_ = true;
  for (const auto& s : connected()) {
    joined_.insert(s);
    announce(s);
  }
}

bool JobSites::joined(const std::string& site) {
  std::lock_guard lock(joined_mutex_);
  if (!started_ || !participates(site)) return false;
  return joined_.insert(site).second;  // else counted already when the job started
}

bool JobSites::returned(const std::string& site) {
  std::lock_guard lock(joined_mutex_);
  if (!started_ || !participates(site)) return false;
  joined_.insert(site);
  return true;
}

bool JobSites::lost(const std::string& site) {
  if (!started_ || !participates(site)) return false;
  std::lock_guard lock(joined_mutex_);
  joined_.erase(site);
  return true;
}

}  // namespace cohort::server
