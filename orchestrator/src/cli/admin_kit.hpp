#pragma once
// The admin endpoint an admin startup kit points at (its server's admin port, the CA and
// the admin's certificate): what `cohort job` and `cohort poc start` talk to.

#include "admin/admin_client.hpp"
#include "admin/authorization.hpp"

#include <string>

namespace cohort::cli {

/// An admin kit: where its server's admin endpoint is, and who it makes its holder.
struct AdminKit {
  admin::AdminEndpoint endpoint;
  admin::AdminIdentity identity;
};

/// The admin kit in `kit_dir` (its startup folder, or the participant folder holding it;
/// empty: $COHORT_ADMIN_KIT). Throws ConfigError when there is none or it is not an admin
/// kit, and the kit's own errors when it fails verification.
AdminKit load_admin_kit(const std::string& kit_dir);

/// load_admin_kit's endpoint.
admin::AdminEndpoint admin_endpoint(const std::string& kit_dir);

}  // namespace cohort::cli
