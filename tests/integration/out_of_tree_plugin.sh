#!/usr/bin/env bash
# Installs cohort into a prefix, builds a plugin out of tree against that installed
# package (find_package(cohort) + cohort_add_plugin), then loads it by name from a
# recipe's plugin_path and runs a job with it.
set -euo pipefail
build_dir=$1 source_dir=$2 work=$3
rm -rf "$work" && mkdir -p "$work"
cmake --install "$build_dir" --prefix "$work/prefix" > "$work/install.log"
cmake -S "$source_dir" -B "$work/build" -G Ninja -DCMAKE_BUILD_TYPE=Release \
      -DCMAKE_PREFIX_PATH="$work/prefix" > "$work/configure.log"
cmake --build "$work/build" > "$work/build.log"
plugin_dir="$work/build"
"$work/prefix/bin/cohort" plugins --path "$plugin_dir" | tee "$work/plugins.txt"
grep -E "^controller +equal-weights +0\.3\.0 +[0-9]+ " "$work/plugins.txt"  # listed: its ABI is this cohort's
cat > "$work/recipe.toml" <<TOML
plugin_path = ["$plugin_dir"]
[job]
name = "third-party"
num_rounds = 2
min_clients = 2
[controller]
plugin = "equal-weights"
[executor]
plugin = "synthetic"
[model]
arch = "synthetic"
size_mb = 0.1
TOML
"$work/prefix/bin/cohort" recipe check "$work/recipe.toml" | grep "max_rounds = 1000"
"$work/prefix/bin/cohort" simulate "$work/recipe.toml" --workspace "$work/ws" --insecure

# The installed python executor finds the installed Client API (no PYTHONPATH, no pip).
test -f "$work/prefix/lib/cohort/python/cohort/__init__.py"
cat > "$work/python.toml" <<TOML
[job]
name = "installed-python"
num_rounds = 1
min_clients = 1
[controller]
plugin = "fedavg"
[executor]
plugin = "python"
[executor.args]
script = "$source_dir/../python/scripted_site.py"
args = ["full"]
[model]
arch = "synthetic"
size_mb = 0.01
[simulation]
clients = 1
workers = 1
TOML
env -u PYTHONPATH "$work/prefix/bin/cohort" simulate "$work/python.toml" --workspace "$work/ws-python" --insecure
