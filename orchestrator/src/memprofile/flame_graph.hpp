#pragma once
// A flame graph from folded stacks ("root;caller;callee count" per line, as
// heaptrack_print -F writes them), rendered as an SVG inside a self-contained HTML page:
// hover a frame for its name and bytes. Written here because Debian ships no renderer.

#include <filesystem>
#include <string>

namespace cohort::memprofile {

/// Renders `folded` into `html` with `title`. Returns the number of stacks read.
std::size_t write_flame_graph(const std::filesystem::path& folded, const std::filesystem::path& html,
                              const std::string& title);

}  // namespace cohort::memprofile
