#!/usr/bin/env bash
# bench/eval_dp.sh: wr-eval in one process on 2 threads against two data-parallel processes on 1 thread each (what
# torchrun --nproc-per-node 2 starts: c10d Gloo over loopback), on the same model and documents. The two layouts
# alternate for ROUNDS rounds, so both see the same machine; each round prints both wall times and their ratio, and
# the last line the median ratio (> 1: the two processes are faster).
# Usage: bench/eval_dp.sh [--rounds N] [--build DIR] -- WR-EVAL-ARGUMENTS...
#   bench/eval_dp.sh --rounds 3 -- --tasks piqa,arc_easy --limit 300 --offline --data-dir DATA ckpt.pt
set -euo pipefail
rounds=3
build=build
while [[ $# -gt 0 && $1 != -- ]]; do
  case $1 in
    --rounds) rounds=$2; shift 2 ;;
    --build) build=$2; shift 2 ;;
    *) echo "bench/eval_dp.sh: unknown option $1 (usage: bench/eval_dp.sh [--rounds N] [--build DIR] -- WR-EVAL-ARGUMENTS...)" >&2; exit 2 ;;
  esac
done
[[ ${1:-} == -- ]] || { echo "bench/eval_dp.sh: expected -- and wr-eval's arguments" >&2; exit 2; }
shift
eval_bin=$build/eval/wr-eval
[[ -x $eval_bin ]] || { echo "bench/eval_dp.sh: $eval_bin not found (build it, or pass --build)" >&2; exit 2; }
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT

now() { date +%s.%N; }
free_port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }

one_process() {
  "$eval_bin" --threads 2 "$@" > "$out/one.out" 2> "$out/one.err" || { cat "$out/one.err" >&2; exit 1; }
}

two_processes() {
  local port
  port=$(free_port)
  local env=(GLOO_SOCKET_IFNAME=lo WORLD_SIZE=2 MASTER_ADDR=127.0.0.1 MASTER_PORT=$port)
  env "${env[@]}" RANK=1 "$eval_bin" --threads 1 "$@" > "$out/two1.out" 2> "$out/two1.err" &
  local r1=$!
  env "${env[@]}" RANK=0 "$eval_bin" --threads 1 "$@" > "$out/two0.out" 2> "$out/two0.err" || { cat "$out/two0.err" >&2; exit 1; }
  wait $r1 || { cat "$out/two1.err" >&2; exit 1; }
}

echo "load before: $(cut -d' ' -f1-3 /proc/loadavg) on $(nproc) cores"
printf '%-6s %12s %12s %8s\n' round "1x2 s" "2x1 s" ratio
ratios=()
for ((k = 1; k <= rounds; ++k)); do
  t0=$(now); one_process "$@"; t1=$(now); two_processes "$@"; t2=$(now)
  a=$(echo "$t1 - $t0" | bc -l); b=$(echo "$t2 - $t1" | bc -l); r=$(echo "$a / $b" | bc -l)
  ratios+=("$r")
  printf '%-6s %12.2f %12.2f %8.3f\n' "$k" "$a" "$b" "$r"
done
# the metrics are the same either way (tests/eval/data_parallel_test.cpp checks it); the tables must be too
if ! diff <(awk '{print $1, $2, $3, $4, $5}' "$out/one.out") <(awk '{print $1, $2, $3, $4, $5}' "$out/two0.out") > /dev/null; then
  echo "bench/eval_dp.sh: the two layouts printed different metrics:" >&2
  diff "$out/one.out" "$out/two0.out" >&2 || true
  exit 1
fi
median=$(printf '%s\n' "${ratios[@]}" | sort -g | awk '{v[NR] = $1} END {print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2}')
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)"
printf 'median (1 process x 2 threads) / (2 processes x 1 thread): %.3f\n' "$median"
