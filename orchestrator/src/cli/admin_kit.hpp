#pragma once
// The admin endpoint an admin startup kit points at (its server's admin port, the CA and
// the admin's certificate): what `cohort job` and `cohort poc start` talk to.

#include "admin/admin_client.hpp"

#include <string>

namespace cohort::cli {

/// The endpoint of the admin kit in `kit_dir` (its startup folder, or the participant
/// folder holding it; empty: $COHORT_ADMIN_KIT). Throws std::invalid_argument when there is
/// none or it is not an admin kit, and the kit's own errors when it fails verification.
admin::AdminEndpoint admin_endpoint(const std::string& kit_dir);

}  // namespace cohort::cli
