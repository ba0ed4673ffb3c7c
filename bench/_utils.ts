/**
 * Shared benchmark helpers: timing, percentiles, peak RSS sampling, argument parsing.
 *
 * @module
 */
import process from "node:process";

/** "deno" or "node". */
export const runtime: "deno" | "node" = "Deno" in globalThis ? "deno" : "node";

/** Reads `--name value` (or `--name=value`) from the command line. */
export function arg(name: string, fallback: string): string {
  const argv = process.argv;
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === `--${name}`) return argv[i + 1] ?? fallback;
    if (argv[i]!.startsWith(`--${name}=`)) return argv[i]!.slice(name.length + 3);
  }
  return fallback;
}

/** The p-th percentile (0-100) of values. */
export function percentile(values: number[], p: number): number {
  if (values.length === 0) return NaN;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

/** Samples this process's RSS every `ms` and remembers the peak. */
export function rssSampler(ms = 20): { peak: () => number; stop: () => number } {
  let peak = process.memoryUsage.rss();
  const timer = setInterval(() => {
    peak = Math.max(peak, process.memoryUsage.rss());
  }, ms);
  return {
    peak: () => peak,
    stop: () => {
      clearInterval(timer);
      peak = Math.max(peak, process.memoryUsage.rss());
      return peak;
    },
  };
}

/** Bytes as MiB with one decimal. */
export function mib(bytes: number): string {
  return `${(bytes / 1048576).toFixed(1)} MiB`;
}

/** Runs the garbage collector when exposed (--expose-gc). */
export function gc(): void {
  (globalThis as { gc?: () => void }).gc?.();
}

/**
 * Starts this benchmark script again as a child process in the same runtime,
 * with `--role <role>` and extra arguments, and waits for the `URL <url>` line
 * it prints.
 */
export async function spawnRole(
  scriptUrl: string,
  role: string,
  args: string[] = [],
): Promise<{ url: string; stop: () => void }> {
  const { spawn } = await import("node:child_process");
  const self = runtime === "deno" ? ["run", "-A", new URL(scriptUrl).pathname] : [process.argv[1]!];
  const child = spawn(process.execPath, [...self, "--role", role, ...args], {
    stdio: ["ignore", "pipe", "inherit"],
  });
  return await new Promise((resolve, reject) => {
    let out = "";
    child.stdout!.on("data", (c: Uint8Array) => {
      out += new TextDecoder().decode(c);
      const m = /URL (\S+)/.exec(out);
      if (m) resolve({ url: m[1]!, stop: () => child.kill("SIGKILL") });
    });
    child.once("exit", (code) => reject(new Error(`${role} process exited with ${code}`)));
  });
}

let pool: Uint8Array | undefined;

/**
 * `total` bytes of random data, streamed as 1 MiB copies of a 64 MiB random
 * pool (made once per process), each stamped with its offset: the pool
 * repeats every 64 MiB, and duplicate blocks would cost a verify-and-refresh
 * instead of a write. The source costs a memcpy, the same for every contender.
 */
export function stampedSource(total: number): ReadableStream<Uint8Array> {
  const MiB = 1024 * 1024;
  if (pool === undefined) {
    pool = new Uint8Array(64 * MiB);
    for (let i = 0; i < pool.length; i += 65536) {
      crypto.getRandomValues(pool.subarray(i, i + 65536));
    }
  }
  const bytes = pool;
  let sent = 0;
  return new ReadableStream<Uint8Array>({
    pull(controller) {
      if (sent >= total) return controller.close();
      const size = Math.min(MiB, total - sent);
      const offset = sent % bytes.length;
      const chunk = bytes.slice(offset, offset + size);
      new DataView(chunk.buffer).setFloat64(0, sent);
      controller.enqueue(chunk);
      sent += size;
    },
  }, { highWaterMark: 0 });
}

/**
 * Runs this benchmark script again as a child process in the same runtime,
 * with `--role <role>` and extra arguments, to completion, and returns the
 * number it prints on a `RESULT <number>` line.
 */
export async function runRole(
  scriptUrl: string,
  role: string,
  args: string[] = [],
): Promise<number> {
  const { spawn } = await import("node:child_process");
  const self = runtime === "deno" ? ["run", "-A", new URL(scriptUrl).pathname] : [process.argv[1]!];
  const child = spawn(process.execPath, [...self, "--role", role, ...args], {
    stdio: ["ignore", "pipe", "inherit"],
  });
  let out = "";
  child.stdout!.on("data", (c: Uint8Array) => (out += new TextDecoder().decode(c)));
  await new Promise<void>((resolve, reject) => {
    child.once("error", reject);
    child.once("close", () => resolve());
  });
  const m = /RESULT (\S+)/.exec(out);
  if (!m) throw new Error(`${role} process printed no result: ${out}`);
  return Number(m[1]);
}
