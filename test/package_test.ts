import { describe, expect, it } from "vitest";
import { readFile } from "node:fs/promises";
import { fileURLToPath } from "node:url";
import * as api from "../mod.ts";

const root = fileURLToPath(new URL("..", import.meta.url));
const readJson = async (name: string) => JSON.parse(await readFile(`${root}/${name}`, "utf8"));

describe("package manifests", () => {
  it("deno.json and package.json agree on version and entry points", async () => {
    const pkg = await readJson("package.json");
    const deno = await readJson("deno.json");
    expect(deno.version).toBe(pkg.version);
    const denoEntries = Object.keys(deno.exports).sort();
    const npmEntries = Object.keys(pkg.exports).sort();
    expect(denoEntries).toEqual(npmEntries);
    for (const entry of npmEntries) {
      const source = deno.exports[entry].replace(/^\.\//, "").replace(/\.ts$/, "");
      expect(pkg.exports[entry].import).toBe(`./dist/${source}.js`);
      expect(pkg.exports[entry].types).toBe(`./dist/${source}.d.ts`);
    }
  });

  it("deno.json maps the runtime dependencies package.json declares", async () => {
    const pkg = await readJson("package.json");
    const deno = await readJson("deno.json");
    for (const dep of Object.keys(pkg.dependencies)) {
      expect(deno.imports[dep]).toMatch(new RegExp(`^npm:${dep}@`));
    }
    expect(deno.nodeModulesDir).toBe("manual");
  });

  it("the CLI reports the package version", async () => {
    const pkg = await readJson("package.json");
    const cli = await readFile(`${root}/cli.ts`, "utf8");
    expect(cli).toContain(`const VERSION = "${pkg.version}"`);
  });

  it("exports the public API from mod.ts", () => {
    for (
      const name of [
        "parseLocator",
        "formatLocator",
        "LocatorError",
        "digest",
        "createHasher",
        "FixedChunkStream",
        "BlockHashStream",
        "Manifest",
        "ManifestError",
        "MemoryStore",
        "FileStore",
        "putStream",
        "getStream",
        "BlockNotFoundError",
        "BlockCorruptError",
        "StoreFullError",
      ]
    ) {
      expect(api).toHaveProperty(name);
    }
  });
});
