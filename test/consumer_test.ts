/**
 * The package as a user gets it: `npm pack`, installed into a fresh project,
 * then used the ways users use it — ESM import, `require`, a subpath, the
 * `stowage` command, and TypeScript with and without the DOM library.
 * Needs `dist/` (npm install builds it; CI runs `npm run build`).
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import { mkdir, readdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { tempDir } from "./_utils.ts";

const root = fileURLToPath(new URL("..", import.meta.url));

function run(command: string, args: string[], cwd: string): { code: number; out: string } {
  const result = spawnSync(command, args, {
    cwd,
    encoding: "utf8",
    timeout: 180_000,
    env: { ...process.env, npm_config_update_notifier: "false" },
  });
  return { code: result.status ?? -1, out: `${result.stdout ?? ""}${result.stderr ?? ""}` };
}

describe("the packed package, in a fresh project", () => {
  let dir: { path: string; cleanup: () => Promise<void> };
  let project: string;

  beforeAll(async () => {
    expect(existsSync(join(root, "dist", "mod.js")), "dist/ is built").toBe(true);
    dir = await tempDir();
    const packed = run("npm", ["pack", "--ignore-scripts", "--pack-destination", dir.path], root);
    expect(packed.code, packed.out).toBe(0);
    const tarball = (await readdir(dir.path)).find((f) => f.endsWith(".tgz"))!;
    project = join(dir.path, "consumer");
    await mkdir(project);
    await writeFile(
      join(project, "package.json"),
      JSON.stringify({
        name: "consumer",
        private: true,
        type: "module",
        dependencies: {
          stowage: `file:../${tarball}`,
          "@types/node": `file:${join(root, "node_modules", "@types", "node")}`,
        },
      }),
    );
    const installed = run(
      "npm",
      ["install", "--prefer-offline", "--no-audit", "--no-fund", "--ignore-scripts"],
      project,
    );
    expect(installed.code, installed.out).toBe(0);
  }, 300_000);

  afterAll(() => dir?.cleanup());

  it("ships only what a user runs", async () => {
    const files = await readdir(join(project, "node_modules", "stowage", "dist"));
    expect(files.some((f) => f.endsWith(".map"))).toBe(false);
    expect(existsSync(join(project, "node_modules", "stowage", "test"))).toBe(false);
    expect(existsSync(join(project, "node_modules", "stowage", "lib"))).toBe(false);
  });

  it("imports as ESM, requires as CommonJS, and loads its subpaths", () => {
    const esm = run("node", [
      "-e",
      'import("stowage").then((m) => console.log(typeof m.BlockClient))',
    ], project);
    expect(esm.out.trim()).toBe("function");
    const cjs = run("node", ["-e", 'console.log(typeof require("stowage").BlockClient)'], project);
    expect(cjs.out.trim()).toBe("function");
    for (const sub of ["s3", "server", "crawl"]) {
      const loaded = run(
        "node",
        ["-e", `import("stowage/${sub}").then(() => console.log("ok"))`],
        project,
      );
      expect(loaded.out.trim(), sub).toBe("ok");
    }
  });

  it("runs npx stowage --help", () => {
    const help = run("npx", ["--no-install", "stowage", "--help"], project);
    expect(help.code, help.out).toBe(0);
    expect(help.out).toMatch(/^Usage: stowage <command>/);
  });

  it("type-checks in a project with and without the DOM library", async () => {
    await writeFile(
      join(project, "index.ts"),
      [
        'import { BlockClient, MemoryStore, httpSource, type WriteProgress } from "stowage";',
        'import { S3Store } from "stowage/s3";',
        'import { createBlockHandler, serve } from "stowage/server";',
        'import { Crawler, countTask } from "stowage/crawl";',
        "const client = new BlockClient({ services: [new MemoryStore()] });",
        "const sink = client.writable({ blockSize: 1024 });",
        'sink.addEventListener("progress", (e) => console.log((e as CustomEvent<WriteProgress>).detail.bytesSent));',
        "console.log(httpSource, S3Store, createBlockHandler, serve, Crawler, countTask);",
      ].join("\n"),
    );
    const tsc = join(root, "node_modules", "typescript", "bin", "tsc");
    for (const lib of [["ES2022"], ["ES2022", "DOM"]]) {
      await writeFile(
        join(project, "tsconfig.json"),
        JSON.stringify({
          compilerOptions: {
            target: "ES2022",
            module: "NodeNext",
            moduleResolution: "NodeNext",
            lib,
            types: ["node"],
            strict: true,
            noEmit: true,
          },
          files: ["index.ts"],
        }),
      );
      const checked = run("node", [tsc, "-p", "."], project);
      expect(checked.code, `lib ${lib.join(",")}: ${checked.out}`).toBe(0);
    }
  });
});
