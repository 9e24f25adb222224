#include "jobs/round_timeline.hpp"

#include <algorithm>
#include <cstdio>
#include <limits>
#include <optional>

namespace cohort::jobs {

namespace {

/// One broadcast's start, and its sites' events: per site, event name -> seconds.
struct BroadcastEvents {
  std::optional<double> began;
  std::map<std::string, std::map<std::string, double>> sites;
};

}  // namespace

std::map<std::int64_t, RoundParts> round_parts(const std::vector<TimelineRow>& rows) {
  std::map<std::int64_t, std::map<std::int64_t, BroadcastEvents>> broadcasts;
  std::map<std::int64_t, double> round_ended;
  for (const auto& row : rows) {
    if (row.event == "round_ended") {
      round_ended[row.round] = row.seconds;
      continue;
    }
    auto& b = broadcasts[row.round][row.broadcast];
    if (row.site != "server") b.sites[row.site][row.event] = row.seconds;
    else if (row.event == "broadcast_began") b.began = row.seconds;
    // (broadcast_ended is for readers of the CSV: the parts end at the slowest result.)
  }
  std::map<std::int64_t, RoundParts> out;
  for (const auto& [round, seconds] : round_ended) {
    RoundParts parts;
    parts.round = round;
    parts.seconds = seconds;
    double on_path = 0;
    for (const auto& [index, b] : broadcasts[round]) {
      if (!b.began) continue;
      // The slowest site: the last result that ended (or the last failure).
      std::string slowest;
      double last = -1, first = std::numeric_limits<double>::infinity();
      for (const auto& [site, events] : b.sites) {
        for (const char* end : {"result_ended", "failed"}) {
          if (auto it = events.find(end); it != events.end()) {
            first = std::min(first, it->second);
            if (it->second > last) {
              last = it->second;
              slowest = site;
            }
          }
        }
      }
      if (slowest.empty()) continue;
      const auto& events = b.sites.at(slowest);
      auto at = [&](const char* event, double otherwise) {
        auto it = events.find(event);
        return it == events.end() ? otherwise : it->second;
      };
      const double sent = std::clamp(at("sent", *b.began), *b.began, last);
      const double began = std::clamp(at("result_began", last), sent, last);
      parts.send += sent - *b.began;
      parts.sites += began - sent;
      parts.receive += last - began;
      on_path += last - *b.began;
      parts.slowest_site = slowest;
      parts.slowest_after_first = last - first;
    }
    parts.server = std::max(0.0, seconds - on_path);
    out[round] = parts;
  }
  return out;
}

std::string describe(const RoundParts& p) {
  char text[256];
  std::snprintf(text, sizeof text, "%.2f s = send %.2f + sites %.2f + receive %.2f + server %.2f", p.seconds, p.send,
                p.sites, p.receive, p.server);
  std::string out = text;
  if (!p.slowest_site.empty()) {
    std::snprintf(text, sizeof text, " (slowest %s, %.2f s after the first result)", p.slowest_site.c_str(),
                  p.slowest_after_first);
    out += text;
  }
  return out;
}

}  // namespace cohort::jobs
