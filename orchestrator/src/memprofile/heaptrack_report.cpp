#include "memprofile/heaptrack_report.hpp"

#include "memprofile/flame_graph.hpp"
#include "process/child_process.hpp"

#include <array>
#include <fstream>
#include <iterator>
#include <cstdio>
#include <memory>
#include <regex>
#include <sstream>
#include <stdexcept>

namespace cohort::memprofile {

HeaptrackReport parse_heaptrack_print(const std::string& text, std::size_t top) {
  HeaptrackReport r;
  std::istringstream in(text);
  std::string line;
  const std::regex site(R"(^(\S+) peak memory consumed over (\d+) calls from$)");
  auto value_after = [](const std::string& l, const std::string& key) -> std::string {
    return l.rfind(key, 0) == 0 ? l.substr(key.size()) : std::string();
  };
  while (std::getline(in, line)) {
    std::smatch m;
    if (std::regex_match(line, m, site) && r.top_sites.size() < top) {
      AllocationSite s{m[1], m[2], "", ""};
      if (std::getline(in, s.function)) {
        std::string where;
        if (std::getline(in, where) && where.rfind("  in ", 0) == 0) s.library = where.substr(5);
      }
      r.top_sites.push_back(s);
    } else if (auto v = value_after(line, "peak heap memory consumption: "); !v.empty()) {
      r.peak_heap = v;
    } else if (auto v2 = value_after(line, "peak RSS (including heaptrack overhead): "); !v2.empty()) {
      r.peak_rss = v2;
    } else if (auto v3 = value_after(line, "total memory leaked: "); !v3.empty()) {
      r.leaked = v3;
    }
  }
  return r;
}

HeaptrackReport analyse_heaptrack(const std::filesystem::path& data, const std::string& process,
                                  const std::filesystem::path& out_dir, std::size_t top) {
  std::filesystem::create_directories(out_dir);
  const auto folded = out_dir / (process + ".folded");
  const auto printed = out_dir / (process + ".heaptrack_print.txt");
  std::filesystem::remove(printed);
  const int status = process::run_to_end({"heaptrack_print", "-f", data.string(), "--print-peaks", "1",
                                          "--print-allocators", "0", "--print-temporary", "0", "--print-leaks", "0",
                                          "-n", std::to_string(top), "-s", "0", "--flamegraph-cost-type", "peak",
                                          "-F", folded.string()},
                                         printed);
  std::ifstream in(printed);
  const std::string text{std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
  if (status != 0) throw std::runtime_error("heaptrack_print failed on " + data.string() + ":\n" + text);
  HeaptrackReport r = parse_heaptrack_print(text, top);
  r.process = process;
  r.data = data;
  r.flame_graph = out_dir / (process + "-flamegraph.html");
  write_flame_graph(folded, r.flame_graph, "heaptrack: heap at peak, " + process);
  std::filesystem::remove(folded);  // hundreds of MB; the graph and the recording stay
  return r;
}

}  // namespace cohort::memprofile
