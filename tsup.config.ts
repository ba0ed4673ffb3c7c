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
  // Library code names its npm dependencies as Deno does without a config
  // (`npm:p-queue@^9.0.0`); the npm build imports the installed packages.
  esbuildPlugins: [{
    name: "npm-specifiers",
    setup(build) {
      build.onResolve({ filter: /^npm:/ }, (args) => ({
        path: args.path.replace(/^npm:((?:@[^/@]+\/)?[^/@]+)@[^/]*/, "$1"),
        external: true,
      }));
    },
  }],
  format: ["esm"],
  dts: { entry: entries },
  target: "node20",
  platform: "node",
  sourcemap: true,
  clean: true,
  splitting: true,
});
