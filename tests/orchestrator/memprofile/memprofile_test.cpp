#include "memprofile/flame_graph.hpp"
#include "memprofile/heaptrack_report.hpp"
#include "memprofile/memprofile.hpp"

#include "plugin/registry.hpp"
#include "recipe/recipe.hpp"
#include "support/temp_dir.hpp"

#include <doctest/doctest.h>

using namespace cohort::memprofile;
using cohort::test::TempDir;
using cohort::test::write_text;
using cohort::test::read_text;

TEST_CASE("memprofile: each setting's recipe is a valid FedAvg recipe with that cleanup") {
  MemprofileOptions o;
  o.model_size_mb = 12;
  o.mmap_threshold_kib = 0;
  auto r = cohort::recipe::parse_recipe(experiment_recipe(o, 5), "memprofile.toml",
                                        cohort::plugin::Registry::default_directories());
  CHECK(r.memory.server_memory_gc_rounds == 5);
  CHECK(r.memory.client_memory_gc_rounds == 5);
  CHECK(r.memory.server_malloc_mmap_threshold_kib == 0);
  CHECK(r.job.num_rounds == 10);
  CHECK(r.simulation.clients == 2);
}

TEST_CASE("memprofile: figures come from the first, last and largest RSS samples") {
  TempDir dir;
  const std::string header = "elapsed_s,rss_mb,peak_rss_mb,alloc_live_mb,alloc_free_mb,tensor_mb,sys_total_mb,"
                             "sys_available_mb,sys_used_percent,cpu_percent,cleanups,round,allocator\n";
  write_text(dir / "memory" / "server.csv", header + "0,150,150,1,1,,1,1,1,1,0,-1,glibc\n1,400,400,1,1,,1,1,1,1,0,0,glibc\n2,260,400,1,1,,1,1,1,1,0,1,glibc\n");
  write_text(dir / "memory" / "client-1.csv", header + "0,100,100,1,1,,1,1,1,1,0,-1,glibc\n1,120,120,1,1,,1,1,1,1,0,0,glibc\n");
  auto f = figures_of(dir.path());
  REQUIRE(f.size() == 2);
  CHECK(f[1].process == "server");
  CHECK(f[1].initial_mb == 150);
  CHECK(f[1].final_mb == 260);
  CHECK(f[1].peak_mb == 400);
  CHECK(f[1].increase_mb() == 110);
  CHECK(f[0].role == "client");
}

TEST_CASE("heaptrack: heaptrack_print's summary and peak sites are read") {
  const std::string text = R"(reading file "x.zst" - please wait, this might take some time...
PEAK MEMORY CONSUMERS
41.94M peak memory consumed over 12 calls from
c10::alloc_cpu(unsigned long)
  in /lib/x86_64-linux-gnu/libc10.so
  and 41.94M from 3 other places

1.79M peak memory consumed over 11788 calls from
gdcm::PrivateDict::LoadDefault()
  in /lib/x86_64-linux-gnu/libgdcmDICT.so.3.0

total runtime: 9.94s.
peak heap memory consumption: 87.01M
peak RSS (including heaptrack overhead): 276.68M
total memory leaked: 42.08M
)";
  auto r = parse_heaptrack_print(text, 5);
  CHECK(r.peak_heap == "87.01M");
  CHECK(r.peak_rss == "276.68M");
  CHECK(r.leaked == "42.08M");
  REQUIRE(r.top_sites.size() == 2);
  CHECK(r.top_sites[0].bytes == "41.94M");
  CHECK(r.top_sites[0].calls == "12");
  CHECK(r.top_sites[0].function == "c10::alloc_cpu(unsigned long)");
  CHECK(r.top_sites[0].library == "/lib/x86_64-linux-gnu/libc10.so");
}

TEST_CASE("flame graph: folded stacks become nested frames sized by bytes") {
  TempDir dir;
  write_text(dir / "f.folded", "main;load;alloc_cpu; 300\nmain;train; 100\nbroken line\n");
  CHECK(write_flame_graph(dir / "f.folded", dir / "f.html", "test") == 2);
  const auto html = read_text(dir / "f.html");
  CHECK(html.find("<title>main (400 B, 100.0%)</title>") != std::string::npos);
  CHECK(html.find("<title>alloc_cpu (300 B, 75.0%)</title>") != std::string::npos);
  CHECK(html.find("<title>train (100 B, 25.0%)</title>") != std::string::npos);
}
