#pragma once
// The benchmark suites; each returns its rows of the results table.

#include "harness.hpp"

#include "jobs/job_directory.hpp"
#include "jobs/job_files.hpp"
#include "jobs/memory_trend.hpp"

#include <map>

namespace cohort::bench {

std::vector<Row> server_memory(const Context& ctx);
std::vector<Row> drift(const Context& ctx);
std::vector<Row> transfer(const Context& ctx);
std::vector<Row> aggregation(const Context& ctx);
std::vector<Row> round_overhead(const Context& ctx);
std::vector<Row> scale(const Context& ctx);
std::vector<Row> light_commands(const Context& ctx);
std::vector<Row> python(const Context& ctx);
std::vector<Row> study(const Context& ctx);
std::vector<Row> privacy(const Context& ctx);
std::vector<Row> tracking(const Context& ctx);
std::vector<Row> secure_aggregation(const Context& ctx);
/// Only when built with MPI (COHORT_MPI).
std::vector<Row> mpi(const Context& ctx);

using jobs::by_round;
using jobs::slope;

/// Where the raw TCP pair's bytes come from and land: `hot` 1 MiB buffers that stay in the
/// cache, `fresh` memory the size of the model for the receiver (as a model lands by
/// default), `resident` memory the size of the model at both ends (as with
/// reuse_model_memory).
enum class RawMemory { hot, fresh, resident };
/// Raw TCP on loopback: `bytes` from one socket to another and back, between two threads,
/// in GB/s of bytes moved (the physical baseline of transfer and round overhead).
double raw_tcp_throughput(std::size_t bytes, RawMemory memory);
/// The same trip over mutual TLS with OpenSSL alone (hot buffers, no framing), the kits of
/// "server" and "site-1" under `kits`: the floor of any TLS transport here.
double raw_tls_throughput(std::size_t bytes, const std::filesystem::path& kits);

}  // namespace cohort::bench
