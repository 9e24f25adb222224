#include "admin/authorization.hpp"

namespace cohort::admin {

namespace {

const char* verb(Action action) {
  switch (action) {
    case Action::submit: return "submit jobs";
    case Action::view: return "view jobs";
    case Action::manage: return "abort this job";
    case Action::download: return "download this job's results or logs";
  }
  return "?";
}

}  // namespace

std::string refusal(const AdminIdentity& admin, Action action, const jobs::JobRecord* job) {
  const std::string who = "refused: '" + admin.name + "' has role " + admin.role + ", which may not " + verb(action);
  if (admin.role == "project_admin") return "";
  if (action == Action::view) {
    if (admin.role == "org_admin" || admin.role == "lead" || admin.role == "member") return "";
  } else if (action == Action::submit) {
    if (admin.role == "lead") return "";
    if (admin.role == "org_admin") return who + " (rule: org_admin may not submit jobs)";
    if (admin.role == "member") return who + " (rule: member may only view jobs)";
  } else {
    if (admin.role == "member") return who + " (rule: member may only view jobs)";
    if (!job) return who + " (no job named)";
    if (admin.role == "org_admin") {
      if (job->submitter_org == admin.org) return "";
      return who + " (rule: org_admin manages only jobs submitted from its org '" + admin.org + "'; job " + job->id +
             " was submitted by '" + job->submitter + "' of org '" + job->submitter_org + "')";
    }
    if (admin.role == "lead") {
      if (job->submitter == admin.name) return "";
      return who + " (rule: lead manages only the jobs it submitted; job " + job->id + " was submitted by '" +
             job->submitter + "')";
    }
  }
  return "refused: '" + admin.name + "' has no known admin role ('" + admin.role +
         "'; expected project_admin, org_admin, lead or member)";
}

}  // namespace cohort::admin
