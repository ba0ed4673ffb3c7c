/**
 * Progress for long commands: a bar on a terminal (bytes, rate, ETA, redrawn
 * five times a second, cleared at the end), one JSON line a second with
 * `--progress json`, nothing with `--quiet` or when stdout or stderr is not a
 * terminal.
 *
 * @module
 */
import { type CliIO, type OptionTable, stringValue, UsageError, type Values } from "./_command.ts";

/** The options of commands that show progress. */
export const PROGRESS_OPTIONS: OptionTable = {
  quiet: { type: "boolean", short: "q", help: "no progress, no retry notices" },
  progress: {
    type: "string",
    value: "bar|json|none",
    help: "how progress shows on stderr (default: a bar on a terminal)",
  },
};

/** `-o FILE` for commands that stream bytes: a file (written whole, with progress) for stdout. */
export const OUTPUT_OPTIONS: OptionTable = {
  output: {
    type: "string",
    short: "o",
    value: "FILE",
    help: "write to FILE instead of stdout (shows progress on a terminal)",
  },
};

/** What a command tells its progress display. */
export interface Progress {
  /** The amount done so far (bytes, or per cent for `unit: "%"`). */
  update(done: number): void;
  /** Prints a line without tearing the bar (a retry notice). */
  note(line: string): void;
  /** Stops the display and clears its line. */
  done(): void;
}

/** What is measured. */
export interface ProgressSubject {
  /** What the command is doing, e.g. `put`. */
  label: string;
  /** The amount when finished, if known. */
  total?: number | undefined;
  /** Bytes (shown as KiB, MiB, …) or per cent. @default {"bytes"} */
  unit?: "bytes" | "%";
}

const SILENT: Progress = { update() {}, note() {}, done() {} };

/**
 * Starts the progress display `--quiet` and `--progress` ask for.
 *
 * @param io Where it is drawn, and whether that is a terminal.
 * @param values The command's options.
 * @param subject What is measured.
 * @returns The display; call `done()` when finished, or it keeps a timer.
 * @throws {UsageError} On an unknown `--progress` value.
 */
export function startProgress(io: CliIO, values: Values, subject: ProgressSubject): Progress {
  const mode = stringValue(values, "progress") ?? "bar";
  if (!["bar", "json", "none"].includes(mode)) {
    throw new UsageError(`--progress must be bar, json or none, not '${mode}'`);
  }
  if (values.quiet === true || mode === "none") return SILENT;
  if (mode === "bar" && !(io.isTTY && io.stdoutIsTTY)) {
    // Not drawn, but notices still go out, one line each.
    return { update() {}, note: (line) => io.stderr(`${line}\n`), done() {} };
  }
  const started = performance.now();
  const samples: [number, number][] = [[started, 0]];
  let current = 0;
  let drawn = false;
  const rate = (): number => {
    // Over the last five seconds: a rate that follows changes, not the average since the start.
    const now = performance.now();
    while (samples.length > 2 && now - samples[1]![0] > 5000) samples.shift();
    const [t0, d0] = samples[0]!;
    return now > t0 ? ((current - d0) * 1000) / (now - t0) : 0;
  };
  const json = (): string => {
    const r = rate();
    const line: Record<string, number | string | null> = {
      task: subject.label,
      done: current,
      total: subject.total ?? null,
      rate: Math.round(r),
      eta: subject.total !== undefined && r > 0 ? Math.round((subject.total - current) / r) : null,
      elapsed: Math.round((performance.now() - started) / 1000),
    };
    return JSON.stringify(line);
  };
  const draw = (): void => {
    const r = rate();
    const total = subject.total;
    const unit = subject.unit ?? "bytes";
    const amount = unit === "%" ? `${current.toFixed(1)}%` : formatBytes(current);
    let line = `${subject.label} `;
    if (total !== undefined && total > 0 && unit === "bytes") {
      const fraction = Math.min(1, current / total);
      const filled = Math.round(fraction * 24);
      line += `${(fraction * 100).toFixed(1).padStart(5)}% [${"=".repeat(filled)}${
        " ".repeat(24 - filled)
      }] ${amount} / ${formatBytes(total)}`;
    } else line += amount;
    if (unit === "bytes") line += `  ${formatBytes(r)}/s`;
    if (total !== undefined && r > 0 && current < total) {
      line += `  ETA ${formatSeconds((total - current) / r)}`;
    }
    io.stderr(`\r\x1b[2K${line}`);
    drawn = true;
  };
  const tick = (): void => {
    samples.push([performance.now(), current]);
    if (mode === "json") io.stderr(`${json()}\n`);
    else draw();
  };
  const timer = setInterval(tick, mode === "json" ? 1000 : 200);
  // A display never keeps the process alive.
  (timer as { unref?: () => void }).unref?.();
  return {
    update(done) {
      current = done;
    },
    note(line) {
      io.stderr(`${drawn ? "\r\x1b[2K" : ""}${line}\n`);
      drawn = false;
    },
    done() {
      clearInterval(timer);
      if (mode === "json") io.stderr(`${json()}\n`);
      else if (drawn) io.stderr("\r\x1b[2K");
    },
  };
}

/** Bytes as `1.5 MiB`. */
export function formatBytes(n: number): string {
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let i = 0;
  while (n >= 1024 && i < units.length - 1) {
    n /= 1024;
    i++;
  }
  return `${n.toFixed(i === 0 ? 0 : 1)} ${units[i]}`;
}

function formatSeconds(seconds: number): string {
  const s = Math.max(0, Math.round(seconds));
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const rest = String(s % 60).padStart(2, "0");
  return h > 0 ? `${h}:${String(m).padStart(2, "0")}:${rest}` : `${m}:${rest}`;
}

/**
 * A pass-through stream that tells `progress` how many bytes have gone by.
 *
 * @param progress The display.
 * @returns The stream.
 */
export function counting(progress: Progress): TransformStream<Uint8Array, Uint8Array> {
  let seen = 0;
  return new TransformStream({
    transform(chunk, controller) {
      seen += chunk.length;
      progress.update(seen);
      controller.enqueue(chunk);
    },
  });
}
