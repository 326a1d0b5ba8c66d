#!/usr/bin/env bash
# The short tour printed by `./dev showcase`: each step a readable table.
set -euo pipefail
build=${1:-build}
step() { printf '\n\033[1m-- %s\033[0m\n' "$*"; }
for ex in "$build"/examples/*; do
  [ -x "$ex" ] && [ -f "$ex" ] || continue
  step "example: $(basename "$ex")"
  "$ex"
done
if [ -x "$build/bench/pipeline" ]; then
  step "benchmark: pipeline"
  "$build/bench/pipeline"
fi
