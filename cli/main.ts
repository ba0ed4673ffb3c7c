/**
 * The `stowage` command line: one file per command in this folder, each with
 * its own options and usage; this file dispatches.
 *
 * Runs under Node (`npx stowage …`, built into `dist/cli.js`) and Deno
 * (`deno run -A cli/main.ts …`). Exit codes: 0 success; 1 a storage or I/O
 * failure, printed as one line (a stack trace only under `--debug` or
 * `STOWAGE_DEBUG=1`); 2 a bad command line, printed with the command's usage.
 *
 * @module
 */
import process from "node:process";
import { stdinReadable, stdoutWritable } from "../lib/platform/_node_io.ts";
import {
  type CliIO,
  type Command,
  commandUsage,
  Interrupted,
  overallUsage,
  parseCommand,
  UsageError,
} from "./_command.ts";
import { cat } from "./cat.ts";
import { crawl } from "./crawl.ts";
import { fetchCommand } from "./fetch.ts";
import { get } from "./get.ts";
import { keys } from "./keys.ts";
import { ls } from "./ls.ts";
import { put } from "./put.ts";
import { serve } from "./serve.ts";
import { writeText } from "./_shared.ts";

export type { CliIO };
export { parseSize } from "./_shared.ts";

/** The version `--version` prints; package.json's (a test checks). */
export const VERSION = "0.1.0";

/** The commands, in the order `--help` lists them. */
export const COMMANDS: readonly Command[] = [put, get, cat, ls, fetchCommand, keys, serve, crawl];

function defaultIO(): CliIO {
  return {
    stdin: stdinReadable,
    stdout: stdoutWritable,
    stderr: (text) => void process.stderr.write(text),
    env: process.env,
    isTTY: process.stderr.isTTY === true,
    stdoutIsTTY: process.stdout.isTTY === true,
  };
}

/**
 * Runs the CLI.
 *
 * @param argv Arguments after the program name.
 * @param io Standard streams and environment. @default {the process's}
 * @returns The exit code: 0 success, 1 failure, 2 bad arguments.
 */
export async function main(argv: string[], io: CliIO = defaultIO()): Promise<number> {
  const debug = argv.includes("--debug") || ["1", "true"].includes(io.env?.STOWAGE_DEBUG ?? "");
  let command: Command | undefined;
  try {
    const [name, ...rest] = argv;
    if (name === "--version" || name === "-V") {
      await writeText(io, `stowage ${VERSION}\n`);
      return 0;
    }
    if (name === "--help" || name === "-h" || name === "help") {
      const topic = COMMANDS.find((c) => c.name === rest[0]);
      await writeText(io, topic === undefined ? overallUsage(COMMANDS) : commandUsage(topic));
      return 0;
    }
    if (name === undefined) throw new UsageError("no command given");
    command = COMMANDS.find((c) => c.name === name);
    if (command === undefined) {
      throw new UsageError(
        name.startsWith("-") ? `expected a command before '${name}'` : `unknown command '${name}'`,
      );
    }
    const { args, values } = parseCommand(command, rest);
    if (values.help === true) {
      await writeText(io, commandUsage(command));
      return 0;
    }
    return await runInterruptible(
      command,
      (interrupted) => command!.run({ args, values, io, interrupted }),
    );
  } catch (error) {
    return report(error, command, io, debug);
  }
}

/** Runs a command, turning SIGINT/SIGTERM into its signal when it asks for that. */
async function runInterruptible(
  command: Command,
  run: (interrupted: AbortSignal) => Promise<number>,
): Promise<number> {
  const controller = new AbortController();
  if (!command.interrupts) return await run(controller.signal);
  const onSignal = (): void => controller.abort(new Interrupted());
  // Listening before the command starts, so a supervisor that stops it right
  // away still gets a graceful stop.
  process.once("SIGINT", onSignal);
  process.once("SIGTERM", onSignal);
  try {
    return await run(controller.signal);
  } finally {
    process.off("SIGINT", onSignal);
    process.off("SIGTERM", onSignal);
  }
}

/** Prints what went wrong as one line (plus usage or a stack where asked) and picks the exit code. */
function report(error: unknown, command: Command | undefined, io: CliIO, debug: boolean): number {
  if (error instanceof UsageError) {
    const about = error.command ?? command;
    io.stderr(
      `stowage: ${error.message}\n\n${
        about === undefined ? overallUsage(COMMANDS) : commandUsage(about)
      }`,
    );
    return 2;
  }
  // The reader went away (`stowage get m | head`): not our failure.
  if ((error as { code?: unknown })?.code === "EPIPE") return 0;
  if (error instanceof Interrupted) {
    io.stderr("stowage: interrupted\n");
    return 130;
  }
  const message = fileSystemMessage(error) ??
    (error instanceof Error ? error.message : String(error));
  io.stderr(`stowage: ${message}\n`);
  if (debug && error instanceof Error && error.stack) io.stderr(`${error.stack}\n`);
  return 1;
}

/** What Node's file-system errors mean, in words: `cannot read '/x': no such file or folder`. */
const FILE_SYSTEM_MEANINGS: Record<string, string> = {
  ENOENT: "no such file or folder",
  EACCES: "permission denied",
  EPERM: "operation not permitted",
  EISDIR: "it is a folder",
  ENOTDIR: "a part of the path is not a folder",
  EEXIST: "it already exists",
  EROFS: "the file system is read-only",
  ENOSPC: "no space left",
  EMFILE: "too many open files",
};

/** A file-system error as one line naming the path, or `undefined` for any other error. */
function fileSystemMessage(error: unknown): string | undefined {
  const { code, path, syscall } = (error ?? {}) as {
    code?: unknown;
    path?: unknown;
    syscall?: unknown;
  };
  if (typeof code !== "string" || typeof path !== "string") return undefined;
  const meaning = FILE_SYSTEM_MEANINGS[code] ?? code;
  const verb = syscall === "open" || syscall === "stat" || syscall === "read" ? "read" : "use";
  return `cannot ${verb} '${path}': ${meaning} (${code})`;
}

// `deno run cli/main.ts` (and Node >= 24 running dist/cli.js) sets
// import.meta.main; the npm bin script imports main() instead.
if ((import.meta as ImportMeta & { main?: boolean }).main) {
  process.exitCode = await main(process.argv.slice(2));
}
