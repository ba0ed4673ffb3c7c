/**
 * The CLI as a child process (`node bin/stowage.js`, or `deno run -A
 * cli/main.ts` under Deno), killable with SIGKILL once a condition holds, and
 * the key entries a run left on disk: for the resume tests and `bench stage`.
 *
 * @module
 */
import { spawn } from "node:child_process";
import { readdir, readFile } from "node:fs/promises";
import process from "node:process";
import { fileURLToPath } from "node:url";
import type { KeyEntry } from "../mod.ts";
import { join, runtime } from "./_utils.ts";

const root = process.env.STOWAGE_ROOT ?? fileURLToPath(new URL("..", import.meta.url));
const command = runtime === "deno"
  ? ["run", "-A", join(root, "cli", "main.ts")]
  : [join(root, "bin", "stowage.js")];

/** How a run ended. */
export interface CliRun {
  code: number | null;
  out: string;
  err: string;
  /** Whether `killWhen` held and the child was SIGKILLed. */
  killed: boolean;
}

/**
 * Runs the CLI; `killWhen` is polled every 10 ms and the child SIGKILLed once
 * it holds; `stdinFile` is fed to its stdin.
 */
export function runCli(
  args: string[],
  options: { env?: Record<string, string>; killWhen?: () => Promise<boolean>; stdinFile?: string } =
    {},
): Promise<CliRun> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [...command, ...args], {
      stdio: [options.stdinFile === undefined ? "ignore" : "pipe", "pipe", "pipe"],
      env: { ...process.env, ...options.env },
    });
    if (options.stdinFile !== undefined) {
      readFile(options.stdinFile).then((bytes) => child.stdin!.end(bytes), reject);
    }
    let out = "";
    let err = "";
    let killed = false;
    child.stdout!.on("data", (c: Uint8Array) => (out += new TextDecoder().decode(c)));
    child.stderr!.on("data", (c: Uint8Array) => (err += new TextDecoder().decode(c)));
    child.once("error", reject);
    let timer: ReturnType<typeof setTimeout> | undefined;
    const killWhen = options.killWhen;
    const poll = async (): Promise<void> => {
      if (child.exitCode !== null || killWhen === undefined) return;
      if (await killWhen()) {
        killed = true;
        child.kill("SIGKILL");
        return;
      }
      timer = setTimeout(() => poll().catch(reject), 10);
    };
    poll().catch(reject);
    child.once("close", (code) => {
      clearTimeout(timer);
      resolve({ code, out, err, killed });
    });
  });
}

/** Every key entry under a folder (a key index's files); one being replaced is skipped. */
export async function keyEntriesUnder(dir: string): Promise<KeyEntry[]> {
  const found: KeyEntry[] = [];
  const files = await readdir(dir, { recursive: true }).catch(() => [] as string[]);
  for (const file of files.map(String)) {
    if (!/[0-9a-f]{3}\/[0-9a-f]{64}$/.test(file)) continue;
    try {
      found.push(JSON.parse(await readFile(join(dir, file), "utf8")) as KeyEntry);
    } catch {
      // Being replaced.
    }
  }
  return found;
}

/** Bytes an entry's unfinished transfer has recorded as stored. */
export function recordedBytes(entry: KeyEntry | undefined): number {
  return entry?.partial?.pieces.reduce((n, p) => n + p.size, 0) ?? 0;
}
