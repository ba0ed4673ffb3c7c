import { defineConfig } from "vitest/config";

export default defineConfig({
  // Library code names its npm dependencies as Deno does without a config
  // (`npm:p-queue@^9.0.0`); under Node they are the installed packages.
  resolve: { alias: [{ find: /^npm:((?:@[^/@]+\/)?[^/@]+)@[^/]*/, replacement: "$1" }] },
  test: {
    // Memory measurements run apart, on a quiet machine (scripts/test.sh).
    include: process.env.STOWAGE_MEMORY_TESTS ? ["test/memory/**/*_test.ts"] : ["test/**/*_test.ts"],
    exclude: process.env.STOWAGE_MEMORY_TESTS ? [] : ["test/memory/**", "node_modules/**"],
    testTimeout: 120_000,
    hookTimeout: 60_000,
    pool: "forks",
    // A real S3 server for the S3 tests (scripts/s3-test-server.sh).
    globalSetup: process.env.STOWAGE_MEMORY_TESTS ? [] : ["test/_s3_global_setup.ts"],
    // Memory tests force a collection to measure what is retained, not garbage.
    execArgv: ["--expose-gc"],
  },
});
