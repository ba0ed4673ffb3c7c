/**
 * bench/report: renders the latest record of every benchmark
 * (`bench/results/<name>.<runtime>.json`) into `docs/benchmarks.md`, with one
 * SVG chart per figure in `docs/bench/`: Stowage beside its baselines and the
 * machine's limits, Node and Deno side by side.
 *
 * `npm run bench -- report` (runs once, in Node).
 *
 * @module
 */
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import process from "node:process";
import { fileURLToPath } from "node:url";
import type { BenchRecord, Chart } from "./_record.ts";

const root = process.env.STOWAGE_ROOT ?? fileURLToPath(new URL("..", import.meta.url));
const resultsDir = join(root, "bench", "results");
const docsDir = join(root, "docs");
const chartsDir = join(docsDir, "bench");

/** What each benchmark measures, in one sentence, and how to run it. */
const ABOUT: Record<string, string> = {
  write: "Writing a stream through `client.writable()`: into the file store, and to three " +
    "local block servers with two copies; beside it, MD5 on one core and on every core, " +
    "and the bound the store's own writes leave.",
  read: "Reading over HTTP Range requests through `openReader`: the adaptive concurrency " +
    "against every fixed number of requests in flight, on four links; and against other " +
    "range readers.",
  cache: "Reading a manifest's blocks from local block servers through the block cache and " +
    "the prefetcher, against a client with no cache reading one block at a time.",
  server: "`stowage serve` under 64 clients doing PUT+GET pairs, against a bare `node:http` " +
    "server with the same durability.",
  memory: "Server memory while uploads stall mid-body, and a long-running client's memory " +
    "over 20,000 put+get pairs.",
  s3: "Uploading to an S3 server through `S3Store`, against the AWS SDK's `Upload`.",
  stage: "`stowage fetch` and `stowage put`: body bytes moved by a second fetch of an " +
    "unchanged object, by a fetch whose connection drops, and by reruns of a fetch and a put " +
    "killed half-way; a first fetch against a plain download to a file.",
  dedup: 'Versions of a file written with `chunking: "content"` against fixed blocks, restic ' +
    "and borg: bytes stored over bytes written, write and read speed; and the chunker's scan " +
    "speed against a wasm build of the Rust fastcdc crate.",
};

const ORDER = ["write", "dedup", "stage", "read", "cache", "server", "memory", "s3"];
const RUNTIMES = ["node", "deno"] as const;
const COLORS: Record<string, string> = { node: "#3c873a", deno: "#2b59c3" };

function load(): Map<string, Map<string, BenchRecord>> {
  const byName = new Map<string, Map<string, BenchRecord>>();
  if (!existsSync(resultsDir)) return byName;
  for (const file of readdirSync(resultsDir).filter((f) => f.endsWith(".json")).sort()) {
    const record = JSON.parse(readFileSync(join(resultsDir, file), "utf8")) as BenchRecord;
    if (!byName.has(record.name)) byName.set(record.name, new Map());
    byName.get(record.name)!.set(record.runtime, record);
  }
  return byName;
}

function escape(text: string): string {
  return text.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");
}

function format(value: number): string {
  if (value >= 100) return value.toFixed(0);
  if (value >= 10) return value.toFixed(1);
  return value.toFixed(2);
}

/**
 * One chart as SVG: a row per bar label, a bar per runtime. Stowage's bars
 * are solid, baselines pale, limits outlined and dashed.
 */
function svg(title: string, unit: string, charts: Map<string, Chart>): string {
  const labels: string[] = [];
  const kinds = new Map<string, string>();
  for (const chart of charts.values()) {
    for (const bar of chart.bars) {
      if (!labels.includes(bar.label)) labels.push(bar.label);
      kinds.set(bar.label, bar.kind);
    }
  }
  const max = Math.max(
    1e-9,
    ...[...charts.values()].flatMap((c) => c.bars.map((b) => b.value)),
  );
  const runtimes = RUNTIMES.filter((r) => charts.has(r));
  const labelWidth = 290;
  const barArea = 360;
  const barHeight = 13;
  const rowHeight = runtimes.length * barHeight + 12;
  const top = 44;
  const width = labelWidth + barArea + 70;
  const height = top + labels.length * rowHeight + 10;
  const out: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" ` +
    `viewBox="0 0 ${width} ${height}" font-family="system-ui, sans-serif" font-size="12">`,
    `<rect width="100%" height="100%" fill="#ffffff"/>`,
    `<text x="8" y="18" font-size="14" font-weight="600">${escape(title)}</text>`,
  ];
  let legendX = 8;
  for (const runtime of runtimes) {
    out.push(
      `<rect x="${legendX}" y="28" width="10" height="10" fill="${COLORS[runtime]}"/>`,
      `<text x="${legendX + 14}" y="37">${runtime === "node" ? "Node" : "Deno"}</text>`,
    );
    legendX += 60;
  }
  out.push(
    `<text x="${legendX + 10}" y="37" fill="#555">${
      escape(unit)
    } · solid: Stowage · pale: baseline · dashed: machine limit</text>`,
  );
  labels.forEach((label, row) => {
    const y = top + row * rowHeight;
    const kind = kinds.get(label)!;
    out.push(
      `<text x="${labelWidth - 8}" y="${y + rowHeight / 2 + 2}" text-anchor="end"${
        kind === "stowage" ? ' font-weight="600"' : ""
      }>${escape(label)}</text>`,
    );
    runtimes.forEach((runtime, i) => {
      const bar = charts.get(runtime)!.bars.find((b) => b.label === label);
      if (bar === undefined) return;
      const w = Math.max(1, (bar.value / max) * barArea);
      const by = y + 4 + i * barHeight;
      const color = COLORS[runtime]!;
      const style = kind === "stowage"
        ? `fill="${color}"`
        : kind === "baseline"
        ? `fill="${color}" fill-opacity="0.35"`
        : `fill="none" stroke="${color}" stroke-dasharray="4 2"`;
      out.push(
        `<rect x="${labelWidth}" y="${by}" width="${w.toFixed(1)}" height="${
          barHeight - 2
        }" ${style}/>`,
        `<text x="${(labelWidth + w + 4).toFixed(1)}" y="${by + barHeight - 3}" fill="#333">${
          format(bar.value)
        }</text>`,
      );
    });
  });
  out.push("</svg>");
  return `${out.join("\n")}\n`;
}

const records = load();
if (records.size === 0) {
  console.error("no results in bench/results: run `npm run bench -- <name>` first");
  process.exit(1);
}
rmSync(chartsDir, { recursive: true, force: true });
mkdirSync(chartsDir, { recursive: true });
const names = [...records.keys()].sort((a, b) =>
  (ORDER.indexOf(a) + 1 || 99) - (ORDER.indexOf(b) + 1 || 99)
);
const any = [...records.values()][0]!.values().next().value!;
const versions = new Map<string, string>();
for (const byRuntime of records.values()) {
  for (const r of byRuntime.values()) versions.set(r.runtime, r.version);
}
const md: string[] = [
  "# Benchmarks",
  "",
  "Generated by `npm run bench -- report` from the latest run of each benchmark",
  "(`bench/results/*.json`); do not edit by hand. Each benchmark runs with",
  "`npm run bench -- <name>`, in Node and in Deno, with its baselines measured",
  "side by side in the same run.",
  "",
  `- **Machine:** ${any.machine.cpus} cores (${any.machine.model}), ${any.machine.memoryGiB} GiB, ` +
  `${any.machine.platform}; a virtual machine, loopback network only.`,
  `- **Runtimes:** ${
    [...versions].map(([r, v]) => `${r === "node" ? "Node" : "Deno"} ${v}`).join(", ")
  }.`,
  "",
];
for (const name of names) {
  const byRuntime = records.get(name)!;
  md.push(`## ${name}`, "", ABOUT[name] ?? "", "");
  md.push(`\`npm run bench -- ${name}\``, "");
  for (const runtime of RUNTIMES) {
    const r = byRuntime.get(runtime);
    if (r === undefined) continue;
    md.push(
      `**${runtime === "node" ? "Node" : "Deno"} ${r.version}** (${r.date.slice(0, 10)}):`,
      "",
    );
    for (const line of r.summary) md.push(`- ${line}`);
    md.push("");
  }
  const first = [...byRuntime.values()][0]!;
  first.charts.forEach((chart, i) => {
    const perRuntime = new Map<string, Chart>();
    for (const [runtime, r] of byRuntime) {
      const match = r.charts.find((c) => c.title === chart.title) ?? r.charts[i];
      if (match !== undefined) perRuntime.set(runtime, match);
    }
    const file = `${name}-${i + 1}.svg`;
    writeFileSync(join(chartsDir, file), svg(chart.title, chart.unit, perRuntime));
    md.push(`![${chart.title}](bench/${file})`, "");
  });
}
writeFileSync(join(docsDir, "benchmarks.md"), md.join("\n").replace(/\n+$/, "\n"));
console.log(`wrote docs/benchmarks.md and ${chartsDir}`);
