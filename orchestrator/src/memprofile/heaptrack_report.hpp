#pragma once
// What heaptrack recorded for one process: the peak heap, what leaked, the top
// allocation sites at the peak, and a flame graph of the peak.

#include <filesystem>
#include <string>
#include <vector>

namespace cohort::memprofile {

struct AllocationSite {
  std::string bytes;     ///< as heaptrack prints it, e.g. "17.37M"
  std::string calls;
  std::string function;
  std::string library;
};

struct HeaptrackReport {
  std::string process;
  std::filesystem::path data;        ///< heaptrack's .zst recording
  std::string peak_heap;             ///< "42.32M"
  std::string peak_rss;              ///< including heaptrack's overhead
  std::string leaked;
  std::vector<AllocationSite> top_sites;
  std::filesystem::path flame_graph; ///< HTML page
};

/// Runs heaptrack_print on `data` and renders the flame graph into `out_dir`.
/// Throws std::runtime_error when heaptrack_print fails.
HeaptrackReport analyse_heaptrack(const std::filesystem::path& data, const std::string& process,
                                  const std::filesystem::path& out_dir, std::size_t top = 5);

/// Parses heaptrack_print's text (exposed for tests).
HeaptrackReport parse_heaptrack_print(const std::string& text, std::size_t top);

}  // namespace cohort::memprofile
