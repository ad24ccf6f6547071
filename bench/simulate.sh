#!/usr/bin/env bash
# The simulate benchmark (issue: 100,000 cases in under 5 s and 512 MiB on a 2-core machine,
# cost linear in N). Generates N synthetic cases with a mix of all six workflows over 2027
# (`waakvlam generate`), then times `waakvlam simulate` on them with GNU time: wall-clock
# seconds and peak resident memory. Each size is simulated three times: the median time is the
# figure (one run of a small size can be thrown off by tens of milliseconds), every run is shown,
# and the peak memory is the largest of the three.
# Usage: bench/simulate.sh [N ...] (default 10000 100000 1000000).
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --quiet
bin=target/release/waakvlam
timer=/usr/bin/time
[ -x "$timer" ] || { echo "needs GNU time: apt-get install time" >&2; exit 1; }
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
sizes=("$@")
[ ${#sizes[@]} -gt 0 ] || sizes=(10000 100000 1000000)
printf '%-9s %-9s %-13s %-9s %-10s %-12s %s\n' cases events notifications seconds peak_MiB us_per_case runs
for n in "${sizes[@]}"; do
  "$bin" generate --cases "$n" --seed 1 > "$work/events.jsonl"
  events=$(wc -l < "$work/events.jsonl")
  runs=()
  peak=0
  for _ in 1 2 3; do
    # What the generator and the previous run wrote is flushed first: its writeback is not
    # this run's.
    rm -f "$work/out.jsonl"
    sync
    "$timer" -f '%e %M' -o "$work/time" "$bin" simulate --events "$work/events.jsonl" --until 2027-12-31 > "$work/out.jsonl" 2> "$work/err"
    read -r seconds kib < "$work/time"
    runs+=("$seconds")
    [ "$kib" -gt "$peak" ] && peak=$kib
  done
  median=$(printf '%s\n' "${runs[@]}" | sort -n | sed -n 2p)
  notifications=$(wc -l < "$work/out.jsonl")
  printf '%-9s %-9s %-13s %-9s %-10s %-12s %s\n' "$n" "$events" "$notifications" "$median" "$((peak / 1024))" \
    "$(awk -v s="$median" -v n="$n" 'BEGIN { printf "%.1f", s * 1e6 / n }')" "${runs[*]}"
done
