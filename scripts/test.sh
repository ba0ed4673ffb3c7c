#!/usr/bin/env bash
# npm test: type check, Deno check, then the one vitest suite in Node and in Deno.
# Fails if any step fails; prints each runtime's test count and a total.
set -uo pipefail
cd "$(dirname "$0")/.."

out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
status=0

step() {
  local name=$1; shift
  echo "::: $name: $*"
  if ! "$@"; then
    echo "::: $name FAILED"
    status=1
  fi
}

step typecheck npx --no-install tsc --noEmit -p .
step deno-check npx --no-install deno check mod.ts cli.ts $(ls examples/*.ts bench/*.ts 2>/dev/null)
step deno-lint npx --no-install deno lint
step deno-fmt npx --no-install deno fmt --check
step node npx --no-install vitest run --reporter=default --reporter=json --outputFile.json="$out/node.json" "$@"
STOWAGE_EXPECT_RUNTIME=deno step deno npx --no-install deno run -A npm:vitest run --reporter=default --reporter=json --outputFile.json="$out/deno.json" "$@"

# Memory measurements last, one runtime at a time, with nothing else running.
STOWAGE_MEMORY_TESTS=1 step node-memory npx --no-install vitest run --reporter=default --reporter=json --outputFile.json="$out/node-memory.json"
STOWAGE_MEMORY_TESTS=1 STOWAGE_EXPECT_RUNTIME=deno step deno-memory npx --no-install deno run -A npm:vitest run --reporter=default --reporter=json --outputFile.json="$out/deno-memory.json"

node scripts/test_summary.mjs "$out/node.json" "$out/deno.json" "$out/node-memory.json" "$out/deno-memory.json" || status=1
exit $status
