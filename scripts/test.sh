#!/usr/bin/env bash
# npm test: type check, Deno check, then the one vitest suite in Node and in Deno.
# Fails if any step fails; prints each runtime's test count and a total.
set -uo pipefail
cd "$(dirname "$0")/.."

out=$(mktemp -d)
status=0

# The S3 tests need a real S3 server (scripts/s3-test-server.sh: OpenStack
# Swift's s3api on 127.0.0.1). Start it once for both runtimes; vitest's
# globalSetup starts it itself when a single vitest run needs it. If it cannot
# start, the S3 tests fail and print why.
s3_started=0
if [ -z "${STOWAGE_S3_ENDPOINT:-}" ] && ! bash scripts/s3-test-server.sh status 2>/dev/null; then
  if bash scripts/s3-test-server.sh start; then
    s3_started=1
  else
    echo "::: the S3 test server did not start; the S3 tests will fail with the reason"
  fi
fi
cleanup() {
  rm -rf "$out"
  if [ $s3_started = 1 ]; then bash scripts/s3-test-server.sh stop; fi
}
trap cleanup EXIT

step() {
  local name=$1; shift
  echo "::: $name: $*"
  if ! "$@"; then
    echo "::: $name FAILED"
    status=1
  fi
}

# The package's entry points (deno.json "exports"), the CLI, examples, benchmarks.
entries="mod.ts lib/store/s3_store.ts lib/server/mod.ts lib/crawl/mod.ts"
step typecheck npx --no-install tsc --noEmit -p .
step deno-check npx --no-install deno check $entries cli/main.ts $(ls examples/*.mjs bench/*.ts 2>/dev/null)
step deno-lint npx --no-install deno lint
step deno-fmt npx --no-install deno fmt --check
# Every export documented, every example run and asserting, and the package
# as JSR would take it.
doc_lint() {
  # deno doc (not deno check) misreads @types/node's `/// <reference path>`
  # lines as packages and warns about each (denoland/deno#36751, upstream);
  # those warnings are left out, anything else is shown.
  NO_COLOR=1 npx --no-install deno doc --lint $entries > "$out/doc-lint.log" 2>&1
  local rc=$?
  grep -v -e "^Warning Failed resolving types. Could not find package '[^']*' from referrer 'file://.*/node_modules/@types/node/" \
    -e "^    at file://.*/node_modules/@types/node/" "$out/doc-lint.log"
  return $rc
}
step deno-doc-lint doc_lint
doc_tests() {
  NO_COLOR=1 npx --no-install deno test -A --doc mod.ts lib/ > "$out/doc.log" 2>&1
  local rc=$?
  grep -E "^(ok|FAILED) \|" "$out/doc.log" || tail -30 "$out/doc.log"
  node -e '
    const m = /(\d+) passed \| (\d+) failed/.exec(require("fs").readFileSync(process.argv[1], "utf8"));
    if (m) require("fs").writeFileSync(process.argv[2],
      JSON.stringify({ numPassedTests: +m[1], numFailedTests: +m[2] }));
  ' "$out/doc.log" "$out/deno-doc.json"
  return $rc
}
step deno-doc-test doc_tests
step deno-publish npx --no-install deno publish --dry-run --allow-dirty --quiet
step node npx --no-install vitest run --reporter=default --reporter=json --outputFile.json="$out/node.json" "$@"
STOWAGE_EXPECT_RUNTIME=deno step deno npx --no-install deno run -A npm:vitest run --reporter=default --reporter=json --outputFile.json="$out/deno.json" "$@"

# Memory measurements last, one runtime at a time, with nothing else running.
STOWAGE_MEMORY_TESTS=1 step node-memory npx --no-install vitest run --reporter=default --reporter=json --outputFile.json="$out/node-memory.json"
STOWAGE_MEMORY_TESTS=1 STOWAGE_EXPECT_RUNTIME=deno step deno-memory npx --no-install deno run -A npm:vitest run --reporter=default --reporter=json --outputFile.json="$out/deno-memory.json"

node scripts/test_summary.mjs "$out/deno-doc.json" "$out/node.json" "$out/deno.json" "$out/node-memory.json" "$out/deno-memory.json" || status=1
exit $status
