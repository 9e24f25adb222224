#!/usr/bin/env bash
# Soak under faults, on the production path: a FedAvg job of ROUNDS rounds with 8 sites
# (a POC project: server and clients from their kits, each under its watchdog, jobs
# through the admin kit), while this script
#   - kills a random client process with SIGKILL every KILL_EVERY rounds (its watchdog
#     starts it again; within the server's reconnect grace period the site gets its task
#     again, and the round waits for it up to wait_after_min_s),
#   - cuts a random site connection with `ss -K` every CUT_EVERY rounds, or every site
#     connection at once with CUT_ALL=1 (the clients reconnect: their tasks go on),
#   - kills the server with SIGKILL once, at round ROUNDS/2 (its watchdog starts it again
#     and the job resumes from its last completed round).
# It prints rounds completed, results lost, the job records, the RSS of every process at
# round 10 and at the end, and file descriptors at the start and the end.
#   bench/soak.sh [BUILD_DIR] [ROUNDS]
set -uo pipefail
build="${1:-build}"
rounds="${2:-200}"
kill_every="${KILL_EVERY:-15}"
cut_every="${CUT_EVERY:-10}"
cut_all="${CUT_ALL:-0}"
cohort="$(cd "$build" && pwd)/bin/cohort"
ws="$(mktemp -d /tmp/cohort-soak-XXXXXX)"
admin="$ws/admin@poc.local/startup/admin.sh"
stamp() { date +%H:%M:%S; }
say() { echo "$(stamp) $*"; }

"$cohort" poc prepare -n 8 --workspace "$ws" --force > /dev/null
trap '"$cohort" poc stop --workspace "$ws" > /dev/null 2>&1' EXIT
"$cohort" poc start --workspace "$ws" > /dev/null
fl_port=$(grep -m1 fl_port "$ws/project.toml" | grep -o '[0-9]*')
participants=(server site-1 site-2 site-3 site-4 site-5 site-6 site-7 site-8)
pid_of() { cat "$ws/$1/process.pid" 2>/dev/null; }
rss_mib() { awk '/VmRSS/ {printf "%.1f", $2 / 1024}' "/proc/$1/status" 2>/dev/null; }
fds() { ls "/proc/$1/fd" 2>/dev/null | wc -l; }

recipe() {  # recipe NAME ROUNDS
  cat > "$ws/$1.toml" <<TOML
[job]
name = "$1"
num_rounds = $2
min_clients = 8
[controller]
plugin = "fedavg"
[controller.args]
min_responses = 6
wait_after_min_s = 15
task_timeout_s = 20
final_validation = false
[executor]
plugin = "synthetic"
[executor.args]
compute_ms = 200
[model]
arch = "synthetic"
size_mb = 4
TOML
  echo "$ws/$1.toml"
}
submit() {
  local id=""
  for _ in $(seq 1 100); do
    id=$(bash "$admin" submit "$1" 2>/dev/null | head -1) && [ -n "$id" ] && break
    sleep 0.5
  done
  echo "$id"
}
rounds_done() { local f="$ws/server/jobs/$1/rounds.csv"; [ -f "$f" ] && echo $(( $(wc -l < "$f") - 1 )) || echo 0; }
status_of() { bash "$admin" show "$1" 2>/dev/null | awk '/^status/ {print $2}'; }

declare -A rss10 rss_end fd_start fd_end
jobs=()
job=$(submit "$(recipe soak-1 "$rounds")")
jobs+=("$job")
say "job $job: $rounds rounds, 8 sites"

done_before=0
killed_at=0
last_kill=0
last_cut=0
server_killed=0
kills=0
cuts=0
began=$(date +%s)
while :; do
  r=$(( done_before + $(rounds_done "$job") ))
  if [ "$r" -ge 10 ] && [ -z "${rss10[server]:-}" ]; then
    for p in "${participants[@]}"; do rss10[$p]=$(rss_mib "$(pid_of "$p")"); fd_start[$p]=$(fds "$(pid_of "$p")"); done
  fi
  # The restarted server, 10 rounds into its job.
  if [ "$server_killed" -eq 1 ] && [ "$r" -ge $((killed_at + 10)) ] && [ -z "${rss10[server2]:-}" ]; then
    rss10[server2]=$(rss_mib "$(pid_of server)"); fd_start[server2]=$(fds "$(pid_of server)")
  fi
  if [ $((r - last_kill)) -ge "$kill_every" ]; then
    victim="site-$(( RANDOM % 8 + 1 ))"
    kill -KILL "$(pid_of "$victim")" 2>/dev/null && kills=$((kills + 1)) && say "round $r: killed $victim"
    last_kill=$r
  fi
  if [ $((r - last_cut)) -ge "$cut_every" ]; then
    if [ "$cut_all" = 1 ]; then
      n=$(ss -Htn state established "( sport = :$fl_port )" | wc -l)
      ss -K state established "( sport = :$fl_port )" > /dev/null 2>&1
      cuts=$((cuts + n)); say "round $r: cut all $n site connections at once"
    else
      peer=$(ss -Htn state established "( sport = :$fl_port )" | awk '{print $4}' | shuf -n 1)
      if [ -n "$peer" ] && ss -K state established "( sport = :$fl_port and dport = :${peer##*:} )" > /dev/null 2>&1; then
        cuts=$((cuts + 1)); say "round $r: cut the connection from $peer"
      else say "round $r: could not cut a connection (ss -K needs CONFIG_INET_DIAG_DESTROY)"; fi
    fi
    last_cut=$r
  fi
  st=$(status_of "$job")
  if [ "$server_killed" -eq 0 ] && [ "$r" -ge $((rounds / 2)) ]; then
    old=$(pid_of server)
    kill -KILL "$old"
    server_killed=1
    killed_at=$r
    say "round $r: killed the server (pid $old)"
    for _ in $(seq 1 100); do new=$(pid_of server); [ -n "$new" ] && [ "$new" != "$old" ] && break; sleep 0.2; done
    for _ in $(seq 1 100); do st=$(status_of "$job"); [ "$st" = "RESUMED" ] && break; sleep 0.5; done
    say "server back (pid $(pid_of server)); job $job is $st after $(rounds_done "$job") rounds"
    continue
  fi
  case "$st" in COMPLETED|ABORTED|EXECUTION_EXCEPTION|ABNORMAL|CAN_NOT_SCHEDULE) break ;; esac
  sleep 0.5
done
total=$(( done_before + $(rounds_done "$job") ))
for p in "${participants[@]}"; do rss_end[$p]=$(rss_mib "$(pid_of "$p")"); fd_end[$p]=$(fds "$(pid_of "$p")"); done
rss_end[server2]=${rss_end[server]}; fd_end[server2]=${fd_end[server]}
rss_end[server]="(killed)"; fd_end[server]="(killed)"
elapsed=$(( $(date +%s) - began ))

echo
echo "soak: $total of $rounds rounds in ${elapsed} s; $kills client kills, $cuts connection cuts, $server_killed server kill"
for j in "${jobs[@]}"; do
  f="$ws/server/jobs/$j/rounds.csv"
  lost=$(awk -F, 'NR > 1 {lost += 8 - $3} END {print lost + 0}' "$f")
  echo "job $j: $(status_of "$j"), $(rounds_done "$j") rounds, $lost of $(( 8 * $(rounds_done "$j") )) results lost"
done
listed=$(bash "$admin" list 2>/dev/null | tail -n +2 | wc -l)
echo "job records listed by the server: $listed of ${#jobs[@]} submitted"
printf '%-8s %12s %12s %10s %8s\n' process "rss r10 MiB" "rss end MiB" "fds r10" "fds end"
for p in server server2 "${participants[@]:1}"; do
  printf '%-8s %12s %12s %10s %8s\n' "$p" "${rss10[$p]:-?}" "${rss_end[$p]:-?}" "${fd_start[$p]:-?}" "${fd_end[$p]:-?}"
done
echo "(server: the first server process, at round 10; server2: the one its watchdog started, 10 rounds"
echo " after the restart and at the end; a client killed during the run restarted with fresh memory; logs in $ws)"
