/**
 * The folder map in docs/architecture.md, enforced: imports under `lib/` point
 * down the layers only, never sideways between the folders of one layer, and
 * form no cycle; what `mod.ts` loads never loads `aws4fetch` (S3 users load it
 * on their first request).
 */
import { readdirSync, readFileSync } from "node:fs";
import { dirname, join, normalize, relative } from "node:path";
import { describe, expect, it } from "vitest";

const ROOT = join(dirname(new URL(import.meta.url).pathname), "..");

/** Each folder's layer: a file may import from its own folder and from lower layers. */
const LAYERS: Record<string, number> = {
  model: 0,
  platform: 1,
  store: 2,
  read: 3,
  write: 3,
  client: 4,
  server: 5,
  crawl: 5,
};

/** Static imports only: `import(…)` is how a module defers a dependency. */
const STATIC_IMPORT = /^\s*(?:import|export)\s[^;]*?from\s*"([^"]+)"|^\s*import\s*"([^"]+)"/gm;

function staticImports(file: string): string[] {
  const text = readFileSync(join(ROOT, file), "utf8");
  return [...text.matchAll(STATIC_IMPORT)].map((m) => (m[1] ?? m[2])!);
}

function libFiles(dir = "lib"): string[] {
  return readdirSync(join(ROOT, dir), { withFileTypes: true }).flatMap((entry) =>
    entry.isDirectory()
      ? libFiles(join(dir, entry.name))
      : entry.name.endsWith(".ts")
      ? [join(dir, entry.name)]
      : []
  );
}

/** The repository-relative file a relative specifier names. */
function resolve(from: string, specifier: string): string {
  return normalize(join(dirname(from), specifier));
}

function folderOf(file: string): string {
  return relative("lib", file).split("/")[0]!;
}

describe("lib/ layers", () => {
  const files = libFiles();

  it("puts every file in a known folder", () => {
    const stray = files.filter((f) => !(folderOf(f) in LAYERS));
    expect(stray).toEqual([]);
  });

  it("imports point down the layers, never sideways", () => {
    const wrong: string[] = [];
    for (const file of files) {
      for (const spec of staticImports(file)) {
        if (!spec.startsWith(".")) continue;
        const target = resolve(file, spec);
        const [from, to] = [folderOf(file), folderOf(target)];
        if (from === to) continue;
        if (!(LAYERS[to]! < LAYERS[from]!)) wrong.push(`${file} → ${target}`);
      }
    }
    expect(wrong).toEqual([]);
  });

  it("has no import cycle", () => {
    const graph = new Map(files.map((f) => [
      f,
      staticImports(f).filter((s) => s.startsWith(".")).map((s) => resolve(f, s)),
    ]));
    const cycles: string[] = [];
    const state = new Map<string, "active" | "done">();
    const visit = (file: string, path: string[]): void => {
      if (state.get(file) === "done") return;
      if (state.get(file) === "active") {
        cycles.push([...path.slice(path.indexOf(file)), file].join(" → "));
        return;
      }
      state.set(file, "active");
      for (const next of graph.get(file) ?? []) visit(next, [...path, file]);
      state.set(file, "done");
    };
    for (const file of files) visit(file, []);
    expect(cycles).toEqual([]);
  });

  it("calls Deno.* only in the server adapter; everything else uses Web and node: APIs", () => {
    const code = (f: string): string =>
      readFileSync(join(ROOT, f), "utf8").replace(/\/\*[\s\S]*?\*\//g, "").replace(/\/\/.*$/gm, "");
    const offenders = files.filter((f) => f !== "lib/server/serve.ts")
      .filter((f) => /\bDeno\.[a-z]/.test(code(f)));
    expect(offenders).toEqual([]);
  });

  it("loading mod.ts does not load aws4fetch", () => {
    const seen = new Set<string>();
    const bare = new Set<string>();
    const walk = (file: string): void => {
      if (seen.has(file)) return;
      seen.add(file);
      for (const spec of staticImports(file)) {
        if (spec.startsWith(".")) walk(resolve(file, spec));
        else bare.add(spec);
      }
    };
    walk("mod.ts");
    expect([...bare].filter((spec) => /^(npm:)?aws4fetch\b/.test(spec))).toEqual([]);
    expect([...seen].filter((f) => f.startsWith("lib/crawl/") || f.startsWith("lib/server/")))
      .toEqual([]);
  });
});
