import { defineConfig } from "tsup";

export default defineConfig({
  entry: { mod: "mod.ts", cli: "cli.ts" },
  format: ["esm"],
  dts: { entry: { mod: "mod.ts" } },
  target: "node20",
  platform: "node",
  sourcemap: true,
  clean: true,
  splitting: true,
});
