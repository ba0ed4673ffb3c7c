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
