import { defineConfig } from "tsup";

// One entry per package export (package.json "exports", deno.json "exports"),
// plus the CLI. test/package_test.ts checks the three agree.
const entries = {
  mod: "mod.ts",
  s3: "lib/store/s3_store.ts",
  server: "lib/server/mod.ts",
  crawl: "lib/crawl/mod.ts",
};

export default defineConfig({
  entry: { ...entries, cli: "cli/main.ts" },
  format: ["esm"],
  dts: { entry: entries },
  target: "node20",
  platform: "node",
  sourcemap: true,
  clean: true,
  splitting: true,
});
