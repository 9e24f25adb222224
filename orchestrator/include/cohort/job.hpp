#pragma once
/// @file job.hpp
/// What a job is, as plugins see it. Kept free of tensor types: the recipe layer, which
/// light commands use without libtorch, fills it in.

#include <cohort/export.hpp>

#include <cstdint>
#include <string>
#include <vector>

namespace cohort {

/// A job, as the recipe's `[job]` table describes it.
struct JobInfo {
  std::string id;
  std::string name;
  std::int64_t num_rounds = 0;
  std::int64_t min_clients = 0;
  /// The run's seed (`[job] seed`, default 0; `cohort compare` gives each repeat its own).
  /// The server's choice of sites per round, Cyclic's random orders, the initial model's
  /// weights and each site's order of training samples derive from it; a site's share of the data does not, so
  /// repeats differ in chance, not in the problem.
  std::int64_t seed = 0;
  /// Sites the recipe names (empty: any site that connects).
  std::vector<std::string> sites;
};

/// A list of sites as a task's or a message's meta carries it ("site-1,site-2"), and back
/// (empty items are skipped). Site names hold no commas.
COHORT_API std::string join_sites(const std::vector<std::string>& sites);
COHORT_API std::vector<std::string> split_sites(const std::string& text);

}  // namespace cohort
