#!/usr/bin/env bash
# The plugin boundary benchmark (issue: gemeente plugins): calls per second of `params` and
# `recipients` on Haaksbergen's plugin, and the simulate benchmark's 100,000 cases with and
# without the plugins (target: plugins add under 5%). Alternates the two runs three times.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --workspace --quiet
bin=target/release/waakvlam
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
"$bin" plugin-calls --gemeente GM0158 --calls 100000 2>/dev/null
"$bin" generate --cases 100000 --seed 1 > "$work/events.jsonl"
# The shipped configuration without its plugins section, next to the holiday file.
cp config/feestdagen.yaml "$work/"
awk '/^plugins:/ {skip=1; next} skip && /^  - / {next} {skip=0; print}' config/waakvlam.yaml > "$work/without.yaml"
cp -r config/plugins "$work/plugins"
cp config/waakvlam.yaml "$work/with.yaml"
for round in 1 2 3; do
  for variant in without with; do
    /usr/bin/time -f "$variant %e s %M KiB" "$bin" simulate --events "$work/events.jsonl" --until 2027-12-31 --config "$work/$variant.yaml" 2>&1 >/dev/null | tail -1
  done
done
