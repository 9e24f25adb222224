#include "memprofile/flame_graph.hpp"

#include <cohort/error.hpp>
#include <cstdio>
#include <fstream>
#include <map>
#include <memory>
#include <sstream>
#include <stdexcept>

namespace cohort::memprofile {

namespace {

struct Frame {
  std::uint64_t total = 0;
  std::map<std::string, std::unique_ptr<Frame>> children;
};

std::string escape(const std::string& text) {
  std::string out;
  for (char c : text) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&quot;"; break;
      default: out += c;
    }
  }
  return out;
}

std::string human_bytes(std::uint64_t bytes) {
  std::ostringstream out;
  out.precision(3);
  if (bytes >= (1ull << 30)) out << bytes / double(1ull << 30) << " GiB";
  else if (bytes >= (1ull << 20)) out << bytes / double(1ull << 20) << " MiB";
  else if (bytes >= (1ull << 10)) out << bytes / double(1ull << 10) << " KiB";
  else out << bytes << " B";
  return out.str();
}

// Warm colours from the frame name, so that a function keeps its colour across graphs.
std::string colour(const std::string& name) {
  std::size_t h = std::hash<std::string>{}(name);
  const int r = 200 + static_cast<int>(h % 55), g = 80 + static_cast<int>((h >> 8) % 120), b = static_cast<int>((h >> 16) % 60);
  return "rgb(" + std::to_string(r) + "," + std::to_string(g) + "," + std::to_string(b) + ")";
}

constexpr double kWidth = 1200, kRow = 17;

void render(const Frame& frame, const std::string& name, double x, double width, int depth, std::uint64_t root_total,
            int max_depth, std::ostringstream& svg) {
  if (width < 0.3) return;
  const double y = (max_depth - depth) * kRow;
  char percent[16];
  std::snprintf(percent, sizeof percent, "%.1f%%", 100.0 * frame.total / std::max<std::uint64_t>(1, root_total));
  const std::string label = name + " (" + human_bytes(frame.total) + ", " + percent + ")";
  svg << "<g><title>" << escape(label) << "</title><rect x=\"" << x << "\" y=\"" << y << "\" width=\"" << width
      << "\" height=\"" << kRow - 1 << "\" fill=\"" << colour(name) << "\" rx=\"2\"/>";
  if (width > 40) {
    const std::size_t fit = static_cast<std::size_t>(width / 7);
    std::string text = name.size() > fit ? name.substr(0, fit > 2 ? fit - 2 : 0) + ".." : name;
    svg << "<text x=\"" << x + 3 << "\" y=\"" << y + kRow - 5 << "\">" << escape(text) << "</text>";
  }
  svg << "</g>\n";
  double child_x = x;
  for (const auto& [child_name, child] : frame.children) {
    const double child_width = width * static_cast<double>(child->total) / std::max<std::uint64_t>(1, frame.total);
    render(*child, child_name, child_x, child_width, depth + 1, root_total, max_depth, svg);
    child_x += child_width;
  }
}

int depth_of(const Frame& f) {
  int d = 0;
  for (const auto& [n, c] : f.children) d = std::max(d, depth_of(*c));
  return d + 1;
}

}  // namespace

std::size_t write_flame_graph(const std::filesystem::path& folded, const std::filesystem::path& html,
                              const std::string& title) {
  std::ifstream in(folded);
  if (!in) throw IoError(folded, "cannot read");
  Frame root;
  std::size_t stacks = 0;
  std::string line;
  while (std::getline(in, line)) {
    const auto space = line.find_last_of(' ');
    if (space == std::string::npos) continue;
    std::uint64_t count = 0;
    try {
      count = std::stoull(line.substr(space + 1));
    } catch (...) {
      continue;
    }
    ++stacks;
    root.total += count;
    Frame* node = &root;
    std::stringstream frames(line.substr(0, space));
    std::string name;
    while (std::getline(frames, name, ';')) {
      if (name.empty()) continue;
      auto& child = node->children[name];
      if (!child) child = std::make_unique<Frame>();
      child->total += count;
      node = child.get();
    }
  }
  const int max_depth = depth_of(root);
  std::ostringstream svg;
  render(root, "all (" + title + ")", 0, kWidth, 0, root.total, max_depth, svg);
  std::ofstream out(html);
  out << "<!DOCTYPE html><html><head><meta charset=\"utf-8\"><title>" << escape(title) << "</title>"
      << "<style>body{font-family:sans-serif;margin:1em} svg text{font:11px monospace;pointer-events:none}"
      << " rect:hover{stroke:#000;stroke-width:1}</style></head><body><h2>" << escape(title) << "</h2>"
      << "<p>Heap bytes by call stack (" << human_bytes(root.total) << " in " << stacks
      << " stacks). Callers below, callees above; hover a frame for its name and size.</p>"
      << "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"" << kWidth << "\" height=\"" << (max_depth + 1) * kRow
      << "\">\n" << svg.str() << "</svg></body></html>\n";
  return stacks;
}

}  // namespace cohort::memprofile
