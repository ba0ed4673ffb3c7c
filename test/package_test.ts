import { describe, expect, it } from "vitest";
import { readFile } from "node:fs/promises";
import { spawnSync } from "node:child_process";
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

  it("lib/ names each npm dependency as npm:<name>@<the range package.json declares>", async () => {
    // So a Deno script outside this folder, with no import map, can import mod.ts.
    const pkg = await readJson("package.json");
    const deno = await readJson("deno.json");
    const { execFileSync } = await import("node:child_process");
    const used = execFileSync("grep", ["-rhoE", '"npm:[^"]+"', "lib"], {
      cwd: root,
      encoding: "utf8",
    })
      .split("\n").filter((l) => l !== "").map((l) => l.slice(1, -1));
    expect(used.length).toBeGreaterThan(0);
    for (const spec of new Set(used)) {
      const [, name, range] = /^npm:((?:@[^/@]+\/)?[^/@]+)@([^/]+)/.exec(spec)!;
      expect(pkg.dependencies[name!], spec).toBe(range);
    }
    expect(Object.keys(pkg.dependencies).sort()).toEqual(
      [...new Set(used.map((s) => /^npm:((?:@[^/@]+\/)?[^/@]+)/.exec(s)![1]))].sort(),
    );
    expect(deno.nodeModulesDir).toBe("manual");
  });

  it("is importable by a Deno script outside this folder, with no config", async () => {
    const { mkdtemp, rm, writeFile } = await import("node:fs/promises");
    const { tmpdir } = await import("node:os");
    const dir = await mkdtemp(`${tmpdir()}/stowage-outside-`);
    try {
      await writeFile(
        `${dir}/main.ts`,
        [
          `import { BlockClient, MemoryStore } from "${root}/mod.ts";`,
          "const client = new BlockClient({ services: [new MemoryStore()] });",
          "console.log((await client.put(new TextEncoder().encode('foo'))).locator);",
        ].join("\n"),
      );
      const out = spawnSync(`${root}/node_modules/.bin/deno`, ["run", "-A", "main.ts"], {
        cwd: dir,
        encoding: "utf8",
        timeout: 120_000,
      });
      expect(out.stdout.trim(), out.stderr).toBe("acbd18db4cc2f85cedef654fccc4a4d8+3");
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it("runs deno task with the Deno from npm", () => {
    const deno = `${root}/node_modules/.bin/deno`;
    const out = spawnSync(deno, ["task", "cli", "-V"], { cwd: root, encoding: "utf8" });
    expect(out.stdout.trim().split("\n").pop()).toBe("stowage 0.1.0");
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
      "ChecksumMismatchError",
      "ContentChunkStream",
      "DEFAULT_BLOCK_SIZE",
      "DEFAULT_CHUNK_SIZES",
      "DeadlineError",
      "FileChunkIndex",
      "FileKeyIndex",
      "FileStore",
      "FixedChunkStream",
      "InsufficientReplicasError",
      "KeepService",
      "KeyCollisionError",
      "KeyNotFoundError",
      "LocatorError",
      "Manifest",
      "ManifestError",
      "MemoryChunkIndex",
      "MemoryKeyIndex",
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
      "stage",
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
