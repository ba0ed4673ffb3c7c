/**
 * How a CLI command is declared: its arguments, its option table, and `run`.
 * Parsing (`node:util` `parseArgs`, strict) and the usage text both come from
 * the table, so `--help` cannot drift from what is accepted, and a flag of
 * another command is a usage error.
 *
 * @module
 */
import { parseArgs } from "node:util";

/** One option of a command. */
export interface OptionSpec {
  /** A string takes a value; a boolean is a switch. */
  type: "string" | "boolean";
  /** A one-letter alias, e.g. `o` for `-o`. */
  short?: string;
  /** May be given several times. */
  multiple?: boolean;
  /** The value's placeholder in the usage text, e.g. `SIZE`. */
  value?: string;
  /** One line of help. */
  help: string;
}

/** An option table: flag name (without `--`) to its spec. */
export type OptionTable = Record<string, OptionSpec>;

/** Parsed option values, by flag name. */
export type Values = Record<string, string | boolean | string[] | undefined>;

/** Where a command reads and writes; injectable so tests run the CLI in-process. */
export interface CliIO {
  /** Standard input. */
  stdin: () => ReadableStream<Uint8Array>;
  /** Standard output. */
  stdout: () => WritableStream<Uint8Array>;
  /** Standard error, as text. */
  stderr: (text: string) => void;
  /** Environment variables. @default {process.env} */
  env?: Record<string, string | undefined>;
  /** Whether standard error is a terminal (progress bars). @default {false} */
  isTTY?: boolean;
  /** Whether standard output is a terminal (no bar when it is redirected). @default {false} */
  stdoutIsTTY?: boolean;
}

/** What `run` gets. */
export interface CommandContext {
  /** Positional arguments after the command name. */
  args: string[];
  /** Option values. */
  values: Values;
  /** Standard streams and environment. */
  io: CliIO;
  /** Aborts when the user interrupts (SIGINT, SIGTERM); only for commands with `interrupts`. */
  interrupted: AbortSignal;
}

/** A command of the CLI. */
export interface Command {
  /** Its name, e.g. `put`. */
  name: string;
  /** Its positional arguments for the usage line, e.g. `<file|->`. */
  args: string;
  /** One line saying what it does. */
  summary: string;
  /** Its options (the common ones are added). */
  options: OptionTable;
  /**
   * It ends gracefully on SIGINT/SIGTERM (through `interrupted`); other
   * commands keep the default, which ends the process at once.
   */
  interrupts?: boolean;
  /** Runs it; resolves with the exit code. */
  run(context: CommandContext): Promise<number>;
}

/** A bad command line: printed with the command's usage, exit 2. */
export class UsageError extends Error {
  /** The command whose usage to print, if known. */
  readonly command: Command | undefined;

  /**
   * @param message What was wrong.
   * @param command The command whose usage to print.
   */
  constructor(message: string, command?: Command) {
    super(message);
    this.name = "UsageError";
    this.command = command;
  }
}

/** What an interrupted command is stopped with: exit 130, as shells expect. */
export class Interrupted extends Error {
  /** Creates an {@linkcode Interrupted}. */
  constructor() {
    super("interrupted");
    this.name = "Interrupted";
  }
}

/** Options every command takes. */
export const COMMON_OPTIONS: OptionTable = {
  dir: {
    type: "string",
    value: "DIR",
    help: "the local store folder (default $STOWAGE_DIR, else $XDG_DATA_HOME/stowage, " +
      "else ~/.local/share/stowage)",
  },
  debug: { type: "boolean", help: "print stack traces of unexpected errors (or STOWAGE_DEBUG=1)" },
  help: { type: "boolean", short: "h", help: "show this command's help" },
};

/**
 * Parses a command's arguments against its table plus the common options.
 *
 * @param command The command.
 * @param argv The arguments after the command name.
 * @returns Positionals and values.
 * @throws {UsageError} On an unknown flag, a missing value, or a flag given twice.
 */
export function parseCommand(command: Command, argv: string[]): { args: string[]; values: Values } {
  const options = { ...command.options, ...COMMON_OPTIONS };
  const table: Record<string, { type: "string" | "boolean"; short?: string; multiple?: boolean }> =
    {};
  for (const [name, spec] of Object.entries(options)) {
    table[name] = { type: spec.type };
    if (spec.short !== undefined) table[name].short = spec.short;
    if (spec.multiple) table[name].multiple = true;
  }
  try {
    const { values, positionals } = parseArgs({
      args: argv,
      options: table,
      allowPositionals: true,
      strict: true,
    });
    return { args: positionals, values: values as Values };
  } catch (error) {
    throw new UsageError(shortParseError(error), command);
  }
}

/** parseArgs's messages, without the advice to use `--` that does not apply here. */
function shortParseError(error: unknown): string {
  const message = error instanceof Error ? error.message : String(error);
  return message.replace(/\. To specify a positional argument.*$/s, "").replace(/\.$/, "");
}

/**
 * The usage text of one command, generated from its table.
 *
 * @param command The command.
 * @returns The text.
 */
export function commandUsage(command: Command): string {
  const lines = [`Usage: stowage ${command.name} ${command.args}`.trimEnd(), "", command.summary];
  lines.push("", "Options:");
  for (const [name, spec] of Object.entries({ ...command.options, ...COMMON_OPTIONS })) {
    const flag = `${spec.short ? `-${spec.short}, ` : ""}--${name}${
      spec.type === "string" ? ` ${spec.value ?? "VALUE"}` : ""
    }`;
    const repeat = spec.multiple ? " (repeatable)" : "";
    lines.push(`  ${flag.padEnd(26)} ${spec.help}${repeat}`);
  }
  return `${lines.join("\n")}\n`;
}

/**
 * The usage text of the whole CLI: the commands and their summaries.
 *
 * @param commands The commands.
 * @returns The text.
 */
export function overallUsage(commands: readonly Command[]): string {
  const lines = ["Usage: stowage <command> [options]", "", "Commands:"];
  for (const c of commands) lines.push(`  ${`${c.name} ${c.args}`.padEnd(26)} ${c.summary}`);
  lines.push(
    "",
    "Run 'stowage <command> --help' for a command's options.",
    "  -h, --help                 show this help",
    "  -V, --version              show the version",
    "",
    "Exit codes: 0 success, 1 a storage or I/O failure (or damage found by crawl --task verify),",
    "2 a bad command line.",
  );
  return `${lines.join("\n")}\n`;
}

/** A string option's value, if given. */
export function stringValue(values: Values, name: string): string | undefined {
  const value = values[name];
  return typeof value === "string" ? value : undefined;
}

/** A repeatable string option's values (empty if not given). */
export function listValue(values: Values, name: string): string[] {
  const value = values[name];
  return Array.isArray(value) ? value : typeof value === "string" ? [value] : [];
}

/** Whether a switch was given. */
export function flagValue(values: Values, name: string): boolean {
  return values[name] === true;
}
