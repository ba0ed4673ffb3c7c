/**
 * `stowage keys [rm KEY]`: the administrator's view of the key index —
 * every URL `stowage fetch` recorded (and every unfinished `put` it can
 * resume), one line or one JSON object each, sorted by size, last access or
 * last fetch; `rm` forgets a key (its blocks go with the crawler's expire
 * task, once nothing else uses them).
 *
 * @module
 */
import type { KeyEntry } from "../lib/model/key_index.ts";
import { KeyNotFoundError } from "../lib/model/errors.ts";
import { type Command, flagValue, stringValue, UsageError } from "./_command.ts";
import { makeClient, SERVICE_OPTIONS, writeText } from "./_shared.ts";
import { formatBytes } from "./_progress.ts";

/** See the module doc. */
export const keys: Command = {
  name: "keys",
  args: "[rm KEY]",
  summary: "List the keys fetch recorded (by size, last access or fetch), or remove one",
  options: {
    sort: {
      type: "string",
      value: "size|atime|mtime|key",
      help:
        "order: size (largest first), atime (least recently used first), mtime (least recently fetched first), key (default)",
    },
    json: { type: "boolean", help: "one JSON object per line, with every field" },
    ...SERVICE_OPTIONS,
  },
  async run({ args, values, io }) {
    const index = makeClient(values, io).client.keyIndex;
    if (index === undefined) throw new Error("this store has no key index");
    if (args[0] === "rm") {
      if (args.length !== 2) throw new UsageError("keys rm needs one KEY", keys);
      if (!(await index.delete(args[1]!))) throw new KeyNotFoundError(index.id, args[1]!);
      await writeText(io, "");
      return 0;
    }
    if (args.length > 0) throw new UsageError(`unknown keys action '${args[0]}'`, keys);
    const sort = stringValue(values, "sort") ?? "key";
    const order = ORDERS[sort];
    if (order === undefined) {
      throw new UsageError(`--sort must be size, atime, mtime or key, not '${sort}'`, keys);
    }
    const entries: KeyEntry[] = [];
    for await (const entry of index.list()) entries.push(entry);
    entries.sort((a, b) => order(a, b) || a.key.localeCompare(b.key));
    const json = flagValue(values, "json");
    await writeText(io, entries.map((e) => `${json ? JSON.stringify(e) : line(e)}\n`).join(""));
    return 0;
  },
};

const ORDERS: Record<string, (a: KeyEntry, b: KeyEntry) => number> = {
  size: (a, b) => b.size - a.size,
  atime: (a, b) => a.accessed - b.accessed,
  mtime: (a, b) => a.fetched - b.fetched,
  key: () => 0,
};

/** One entry as a line: size, last access, last fetch, key, and an unfinished transfer. */
function line(entry: KeyEntry): string {
  const time = (ms: number): string =>
    ms > 0 ? new Date(ms).toISOString().replace(/\.\d+Z$/, "Z") : "-".padEnd(20);
  const partial = entry.partial;
  const stored = partial?.pieces.reduce((n, p) => n + p.size, 0) ?? 0;
  const total = partial?.validators.contentLength;
  return [
    formatBytes(entry.size).padStart(10),
    time(entry.accessed),
    time(entry.fetched),
    entry.key,
  ].join("  ") +
    (partial === undefined
      ? ""
      : `  (unfinished: ${formatBytes(stored)}${
        total === undefined ? "" : ` of ${formatBytes(total)}`
      } stored)`);
}
