#pragma once
// Who may do what, as NVFlare's default authorization policy:
//   project_admin  anything
//   org_admin      no submissions; views every job; manages (abort, download, logs) the
//                  jobs submitted from its own org
//   lead           submits; views every job; manages the jobs it submitted
//   member         views only
// An admin's name, org and role come from its verified certificate (CN, O, OU).

#include "jobs/job_store.hpp"

#include <string>

namespace cohort::admin {

struct AdminIdentity {
  std::string name, org, role;
};

enum class Action {
  submit,   ///< job submit
  view,     ///< job list, show, wait
  manage,   ///< job abort
  download  ///< job download, logs
};

/// "" when allowed; else the refusal, naming the role and the rule.
std::string refusal(const AdminIdentity& admin, Action action, const jobs::JobRecord* job = nullptr);

}  // namespace cohort::admin
