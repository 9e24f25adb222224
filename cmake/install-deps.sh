#!/usr/bin/env bash
# Installs the Debian packages cohort builds and runs with, and nothing else.
# Idempotent: when every package is already installed it returns at once
# without touching apt, so the Makefile can call it before every build.
#   install-deps.sh        what `make demo`, `make test` and the sanitizer builds need
#   install-deps.sh fuzz   that, and clang's runtime with libFuzzer for `make fuzz`
set -euo pipefail

packages=(
  # toolchain
  g++ make cmake ninja-build ccache pkg-config zlib1g-dev
  # libraries (see DESIGN.md "Stack")
  libboost-dev libboost-filesystem-dev libssl-dev
  libtorch-dev python3-torch python3-numpy
  libtomlplusplus-dev libspdlog-dev doctest-dev libcli11-dev
  libjemalloc2 libjemalloc-dev libsqlite3-dev nlohmann-json3-dev libcsv-dev libdeflate-dev
  prometheus-cpp-dev
  # real data and profiling
  dataset-fashion-mnist heaptrack gnuplot-nox time
  # ss -K (the reconnect tests and bench/soak.sh cut connections), ip netns (multi-host)
  iproute2
  # `cohort mpi` and the MPI transport
  openmpi-bin libopenmpi-dev
  # clang reads the SDK's headers for the plugin ABI test (cmake/plugin_abi.py)
  clang
  # the metrics endpoint's test scrapes it with Prometheus and checks it with promtool
  prometheus
  # the dashboard's test drives the page in headless Chromium (WebDriver)
  chromium chromium-driver python3-selenium
)
if [ "${1:-}" = "fuzz" ]; then
  packages+=(libclang-rt-dev)
fi

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

# npm fetches the dashboard's pinned front-end library (uPlot) when CMake configures; a
# machine with Node.js from elsewhere has its own npm.
if ! command -v npm >/dev/null 2>&1; then
  missing+=(npm)
fi

if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi

echo "cohort: installing missing packages: ${missing[*]}"
sudo=""
if [ "$(id -u)" -ne 0 ]; then
  sudo="sudo"
fi
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
$sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
