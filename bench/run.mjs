// `npm run bench -- <name> [--runtime node|deno|both] [args…]`: runs bench/<name>.ts
// in Node (bundled by esbuild, since Node 20 cannot run TypeScript) and/or in Deno.
// Each benchmark records its figures in bench/results/; `npm run bench -- report`
// renders them into docs/benchmarks.md.
import { spawnSync } from "node:child_process";
import { existsSync, mkdirSync, readdirSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { build } from "esbuild";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const args = process.argv.slice(2);
const name = args.shift();
const available = readdirSync(join(root, "bench")).filter((f) => /^[a-z].*\.ts$/.test(f)).map((f) =>
  f.slice(0, -3)
);
if (!name || !available.includes(name)) {
  console.error(
    `usage: npm run bench -- <${available.join("|")}> [--runtime node|deno|both] [args…]`,
  );
  process.exit(2);
}
// The report renders files; it runs once.
let runtime = name === "report" ? "node" : "both";
const at = args.indexOf("--runtime");
if (at >= 0) {
  runtime = args[at + 1] ?? "both";
  args.splice(at, 2);
}
const entry = join(root, "bench", `${name}.ts`);
process.env.STOWAGE_ROOT = root;
let status = 0;
if (runtime === "node" || runtime === "both") {
  const outdir = join(root, "node_modules", ".cache", "stowage-bench");
  mkdirSync(outdir, { recursive: true });
  const outfile = join(outdir, `${name}.mjs`);
  await build({
    entryPoints: [entry],
    bundle: true,
    platform: "node",
    format: "esm",
    target: "node20",
    packages: "external",
    outfile,
    logLevel: "warning",
    // lib/ names npm dependencies as `npm:name@range`: import the installed package.
    plugins: [{
      name: "npm-specifiers",
      setup(b) {
        b.onResolve({ filter: /^npm:/ }, (args) => ({
          path: args.path.replace(/^npm:((?:@[^/@]+\/)?[^/@]+)@[^/]*/, "$1"),
          external: true,
        }));
      },
    }],
  });
  console.log(`### ${name} — node ${process.version}`);
  status ||=
    spawnSync(process.execPath, ["--expose-gc", outfile, ...args], { stdio: "inherit" }).status ??
      1;
}
if (runtime === "deno" || runtime === "both") {
  const deno = join(root, "node_modules", ".bin", "deno");
  if (!existsSync(deno)) throw new Error("deno is missing: run npm install");
  const version = spawnSync(deno, ["--version"], { encoding: "utf8" }).stdout.split("\n")[0];
  console.log(`### ${name} — ${version}`);
  status ||= spawnSync(deno, ["run", "-A", "--v8-flags=--expose-gc", entry, ...args], {
    stdio: "inherit",
    cwd: root,
  }).status ?? 1;
}
process.exit(status);
