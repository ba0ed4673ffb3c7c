/**
 * Benchmark figures as JSON: each benchmark records its charts in
 * `bench/results/<name>.<runtime>.json`, and `npm run bench -- report`
 * renders the latest of every benchmark into `docs/benchmarks.md`.
 *
 * @module
 */
import { mkdirSync, writeFileSync } from "node:fs";
import { availableParallelism, cpus, totalmem } from "node:os";
import { join } from "node:path";
import process from "node:process";
import { fileURLToPath } from "node:url";
import { runtime } from "./_utils.ts";

/** One bar: a contender, a baseline or a machine limit. */
export interface Bar {
  /** What was measured, e.g. "Stowage, FileStore". */
  label: string;
  /** The figure, in the chart's unit. */
  value: number;
  /** Stowage itself, what it is compared with, or the machine's bound. */
  kind: "stowage" | "baseline" | "limit";
}

/** One chart: bars in one unit. */
export interface Chart {
  /** The chart's title. */
  title: string;
  /** The unit, e.g. "MiB/s". */
  unit: string;
  /** Whether more is better (throughput) or less (memory, CPU). */
  better: "higher" | "lower";
  /** The bars, in display order. */
  bars: Bar[];
}

/** A benchmark run's record. */
export interface BenchRecord {
  /** The benchmark's name (bench/<name>.ts). */
  name: string;
  /** "node" or "deno". */
  runtime: string;
  /** The runtime's version. */
  version: string;
  /** When it ran, ISO 8601. */
  date: string;
  /** The machine. */
  machine: { cpus: number; model: string; memoryGiB: number; platform: string };
  /** The headline, one line per figure the issue asked for. */
  summary: string[];
  /** The charts. */
  charts: Chart[];
}

/**
 * Writes a benchmark's record to `bench/results/<name>.<runtime>.json`.
 *
 * @param name The benchmark.
 * @param summary Headline lines.
 * @param charts Its charts.
 */
export function record(name: string, summary: string[], charts: Chart[]): void {
  const root = process.env.STOWAGE_ROOT ?? fileURLToPath(new URL("..", import.meta.url));
  const dir = join(root, "bench", "results");
  mkdirSync(dir, { recursive: true });
  const version = runtime === "deno"
    ? (globalThis as unknown as { Deno: { version: { deno: string } } }).Deno.version.deno
    : process.version.replace(/^v/, "");
  const data: BenchRecord = {
    name,
    runtime,
    version,
    date: new Date().toISOString(),
    machine: {
      cpus: availableParallelism(),
      model: cpus()[0]?.model.trim() ?? "unknown",
      memoryGiB: Math.round(totalmem() / 1024 ** 3),
      platform: `${process.platform} ${process.arch}`,
    },
    summary,
    charts,
  };
  writeFileSync(join(dir, `${name}.${runtime}.json`), `${JSON.stringify(data, null, 2)}\n`);
}
