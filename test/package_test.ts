import { describe, expect, it } from "vitest";
import { readFile } from "node:fs/promises";
import { fileURLToPath } from "node:url";
import * as api from "../mod.ts";
import * as s3 from "../lib/store/s3_store.ts";
import * as server from "../lib/server/mod.ts";
import * as crawl from "../lib/crawl/mod.ts";

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
    // tsup builds each deno.json entry's source into dist/<name>.js, named
    // after the export ("." is mod).
    const tsup = await readFile(`${root}/tsup.config.ts`, "utf8");
    for (const entry of npmEntries) {
      const name = entry === "." ? "mod" : entry.slice(2);
      expect(tsup).toContain(`${name}: "${deno.exports[entry].replace(/^\.\//, "")}"`);
      expect(pkg.exports[entry].import).toBe(`./dist/${name}.js`);
      expect(pkg.exports[entry].types).toBe(`./dist/${name}.d.ts`);
      // deno test --doc resolves the package's own name through deno.json's imports.
      expect(deno.imports[entry === "." ? "stowage" : `stowage/${name}`]).toBe(deno.exports[entry]);
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
    const cli = await readFile(`${root}/cli/main.ts`, "utf8");
    expect(cli).toContain(`const VERSION = "${pkg.version}"`);
  });

  it("exports exactly the curated API from each entry point", () => {
    expect(Object.keys(api).sort()).toEqual([
      "AuthError",
      "BlockCache",
      "BlockClient",
      "BlockCorruptError",
      "BlockNotFoundError",
      "BlockReadError",
      "BlockWriteStream",
      "DEFAULT_BLOCK_SIZE",
      "DeadlineError",
      "FileStore",
      "FixedChunkStream",
      "InsufficientReplicasError",
      "KeepService",
      "LocatorError",
      "Manifest",
      "ManifestError",
      "MemoryStore",
      "RangeNotSupportedError",
      "ServiceError",
      "SourceChangedError",
      "StoreError",
      "StoreFullError",
      "StowageError",
      "bytesSource",
      "createHasher",
      "defaultStoreDir",
      "digest",
      "fileSource",
      "formatLocator",
      "httpSource",
      "isEmptyBlock",
      "locatorOf",
      "openReadable",
      "openReader",
      "parseLocator",
      "storeFromUrl",
    ]);
    expect(Object.keys(s3).sort()).toEqual(["S3Store"]);
    expect(Object.keys(server).sort()).toEqual([
      "createBlockHandler",
      "serve",
      "signLocator",
      "verifyLocatorSignature",
    ]);
    expect(Object.keys(crawl).sort()).toEqual(["Crawler", "countTask", "expireTask", "verifyTask"]);
  });
});
