// cohort_bench: regenerates bench/RESULTS.md on this machine.
//
//   cohort_bench [--quick] [--only SUITE] [--results FILE]
#include "suites.hpp"

#include <chrono>
#include <ctime>
#include <fstream>
#include <iostream>
#include <thread>

#include <sys/utsname.h>

int main(int argc, char** argv) {
  using namespace cohort::bench;
  Context ctx;
  ctx.cohort = COHORT_EXECUTABLE;
  ctx.work = std::filesystem::path(COHORT_BENCH_WORK);
  std::filesystem::path results = COHORT_BENCH_RESULTS;
  std::string only;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--quick") ctx.quick = true;
    else if (a == "--only" && i + 1 < argc) only = argv[++i];
    else if (a == "--results" && i + 1 < argc) results = argv[++i];
    else {
      std::cerr << "usage: cohort_bench [--quick] [--only SUITE] [--results FILE]\n";
      return 2;
    }
  }
  const std::vector<std::pair<std::string, std::vector<Row> (*)(const Context&)>> suites{
      {"transfer", &transfer},           {"aggregation", &aggregation}, {"server-memory", &server_memory},
      {"round-overhead", &round_overhead}, {"scale", &scale},             {"drift", &drift},
      {"light-commands", &light_commands}, {"python", &python}, {"study", &study}, {"privacy", &privacy}, {"tracking", &tracking}, {"secure-aggregation", &secure_aggregation},
#ifdef COHORT_WITH_MPI
      {"mpi", &mpi},
#endif
  };
  std::vector<Row> rows;
  const auto start = std::chrono::steady_clock::now();
  for (const auto& [name, suite] : suites) {
    if (!only.empty() && only != name) continue;
    std::cout << "bench " << name << " ..." << std::endl;
    const auto suite_start = std::chrono::steady_clock::now();
    for (auto& row : suite(ctx)) {
      std::cout << "  " << row.setting << ": " << row.figure.median << " " << row.unit
                << (row.goal.empty() ? "" : row.met ? "  (goal " + row.goal + ": met)" : "  (goal " + row.goal + ": NOT met)")
                << "\n";
      rows.push_back(row);
    }
    std::cout << "  " << std::chrono::duration_cast<std::chrono::seconds>(std::chrono::steady_clock::now() - suite_start).count()
              << " s\n";
  }
  const auto seconds = std::chrono::duration_cast<std::chrono::seconds>(std::chrono::steady_clock::now() - start).count();
  utsname host{};
  uname(&host);
  std::time_t now = std::time(nullptr);
  char date[32];
  std::strftime(date, sizeof date, "%Y-%m-%d %H:%M", std::localtime(&now));
  std::ofstream out(results);
  out << "# Benchmark results\n\nRegenerate with `make bench` (" << seconds << " s for this table). Measured "
      << date << " on " << host.machine << ", " << std::thread::hardware_concurrency()
      << " CPUs" << (ctx.quick ? ", QUICK mode (smaller models, fewer rounds)" : "")
      << ". Every figure comes from real server and client processes over mutual TLS on loopback;"
      << " medians of the repetitions given by n.\n\n"
      << markdown(rows);
  std::cout << "wrote " << results << " in " << seconds << " s\n";
  return 0;
}
