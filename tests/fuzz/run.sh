#!/usr/bin/env bash
# Runs every fuzz target of a COHORT_FUZZ build for SECONDS each, starting from the
# committed corpus; prints one line per target (executions, coverage, new inputs) and
# keeps what it found under BUILD/fuzz-work. A crash or a broken invariant fails the
# run; its input is in BUILD/fuzz-work/findings/ to be fixed and added to the corpus.
#   run.sh BUILD SECONDS [TARGET...]
set -euo pipefail
build="$1"
seconds="$2"
shift 2
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
  for f in "$here"/corpus/*/; do targets+=("$(basename "$f")"); done
fi
work="$build/fuzz-work"
mkdir -p "$work/findings"
status=0
for t in "${targets[@]}"; do
  mkdir -p "$work/corpus/$t"
  log="$work/$t.log"
  # New inputs go to the work corpus; the committed one is only read.
  if "$build/fuzz/fuzz_$t" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=4096 -print_final_stats=1 \
       -artifact_prefix="$work/findings/$t-" "$work/corpus/$t" "$here/corpus/$t" > "$log" 2>&1; then
    result="ok"
  else
    result="FAILED (see $log and $work/findings/)"
    status=1
  fi
  runs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$' || echo "?")
  cov=$(grep -o 'cov: [0-9]*' "$log" | tail -1 | grep -o '[0-9]*' || echo "?")
  inputs=$(ls "$work/corpus/$t" | wc -l)
  printf '%-16s %s: %s executions in %s s, coverage %s edges, %s new inputs\n' "$t" "$result" "$runs" "$seconds" "$cov" "$inputs"
done
exit $status
