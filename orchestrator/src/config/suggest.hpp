#pragma once
// "Did you mean" for misspelt keys and names: the closest candidate by edit distance.

#include <cohort/export.hpp>

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace cohort::config {

/// Levenshtein distance between two strings.
COHORT_API std::size_t edit_distance(std::string_view a, std::string_view b);

/// The candidate closest to `word` when it is close enough to be a likely typo.
COHORT_API std::optional<std::string> closest(std::string_view word, const std::vector<std::string>& candidates);

/// "; did you mean 'x'?" or "".
COHORT_API std::string did_you_mean(std::string_view word, const std::vector<std::string>& candidates);

}  // namespace cohort::config
