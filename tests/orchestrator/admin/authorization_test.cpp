#include "admin/authorization.hpp"

#include <doctest/doctest.h>

using cohort::admin::Action;
using cohort::admin::AdminIdentity;
using cohort::admin::refusal;

namespace {

cohort::jobs::JobRecord job_by(const std::string& name, const std::string& org) {
  cohort::jobs::JobRecord r;
  r.id = "j1";
  r.submitter = name;
  r.submitter_org = org;
  return r;
}

}  // namespace

TEST_CASE("authorization: NVFlare's default roles") {
  const AdminIdentity boss{"boss", "a", "project_admin"}, org_admin{"oa", "a", "org_admin"}, lead{"lead", "a", "lead"},
      member{"m", "a", "member"};
  const auto own = job_by("lead", "a"), same_org = job_by("other", "a"), other_org = job_by("x", "b");

  for (auto action : {Action::submit, Action::view, Action::manage, Action::download})
    CHECK(refusal(boss, action, &other_org).empty());

  CHECK(refusal(org_admin, Action::submit).find("org_admin may not submit") != std::string::npos);
  CHECK(refusal(org_admin, Action::view, &other_org).empty());
  CHECK(refusal(org_admin, Action::manage, &same_org).empty());
  CHECK(refusal(org_admin, Action::download, &same_org).empty());
  CHECK(refusal(org_admin, Action::manage, &other_org).find("only jobs submitted from its org 'a'") != std::string::npos);

  CHECK(refusal(lead, Action::submit).empty());
  CHECK(refusal(lead, Action::view, &other_org).empty());
  CHECK(refusal(lead, Action::manage, &own).empty());
  CHECK(refusal(lead, Action::download, &own).empty());
  CHECK(refusal(lead, Action::manage, &same_org).find("lead manages only the jobs it submitted") != std::string::npos);

  CHECK(refusal(member, Action::view, &own).empty());
  for (auto action : {Action::submit, Action::manage, Action::download}) {
    const auto why = refusal(member, action, &own);
    CHECK(why.find("role member") != std::string::npos);
    CHECK(why.find("member may only view") != std::string::npos);
  }
  CHECK(refusal(AdminIdentity{"s", "a", ""}, Action::view).find("no known admin role") != std::string::npos);
}
