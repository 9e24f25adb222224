#include "cyclic.hpp"

COHORT_PLUGIN(cohort::controller_plugin(
    "cyclic", "1.0.0", "The model travels from site to site, each training on the previous result",
    &cohort::make_from_config<cohort::Controller, cohort::cyclic::Cyclic, &cohort::cyclic::parse_config>,
    cohort::MemoryDefaults{1, 1}))
