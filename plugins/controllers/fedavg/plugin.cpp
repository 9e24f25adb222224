#include "fedavg.hpp"

COHORT_PLUGIN(cohort::controller_plugin(
    "fedavg", "1.0.0", "Federated averaging with streaming, weighted aggregation",
    &cohort::make_from_config<cohort::Controller, cohort::fedavg::FedAvg, &cohort::fedavg::parse_config>,
    cohort::MemoryDefaults{0, 0}))
