#include <cohort/job.hpp>

#include <sstream>

namespace cohort {

std::string join_sites(const std::vector<std::string>& sites) {
  std::string out;
  for (const auto& s : sites) out += (out.empty() ? "" : ",") + s;
  return out;
}

std::vector<std::string> split_sites(const std::string& text) {
  std::vector<std::string> out;
  std::stringstream in(text);
  for (std::string item; std::getline(in, item, ',');)
    if (!item.empty()) out.push_back(item);
  return out;
}

}  // namespace cohort
