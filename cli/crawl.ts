/**
 * `stowage crawl --task count|verify|expire`: walks the local store (or one
 * service) once, or continuously, at a share of the CPU, resuming where it
 * left off, and prints a summary. Ends gracefully on SIGINT/SIGTERM, saving
 * its progress.
 *
 * @module
 */
import { join } from "node:path";
import { Crawler, type CrawlerTask } from "../lib/crawl/crawler.ts";
import { FileChunkIndex } from "../lib/store/file_chunk_index.ts";
import {
  type CountState,
  countTask,
  type ExpireState,
  expireTask,
  type VerifyState,
  verifyTask,
} from "../lib/crawl/crawler_tasks.ts";
import {
  type CliIO,
  type Command,
  flagValue,
  listValue,
  stringValue,
  UsageError,
  type Values,
} from "./_command.ts";
import {
  integer,
  localStore,
  makeClient,
  parseSize,
  SERVICE_OPTIONS,
  walkedStore,
  writeText,
} from "./_shared.ts";
import { PROGRESS_OPTIONS, startProgress } from "./_progress.ts";

/** See the module doc. */
export const crawl: Command = {
  name: "crawl",
  args: "",
  summary: "Walk the store: count, verify (scrub; exit 1 if damage is found) or expire blocks",
  interrupts: true,
  options: {
    task: { type: "string", value: "count|verify|expire", help: "what to do with each block" },
    cpu: { type: "string", value: "F", help: "share of time spent working, 0-1 (default 0.1)" },
    continuous: { type: "boolean", help: "keep cycling (every 5 minutes at most) until stopped" },
    "max-bytes": { type: "string", value: "SIZE", help: "expire: the store's byte budget" },
    "min-age": {
      type: "string",
      value: "MINUTES",
      help: "expire: never remove a block read this recently (default 10)",
    },
    "key-max-age": {
      type: "string",
      value: "DAYS",
      help:
        "expire: remove keys (stowage fetch) not used for this many days; blocks a key uses are never expired (default: keys stay)",
    },
    quarantine: {
      type: "string",
      value: "DIR",
      help: "verify: where corrupt blocks go (default <dir>/quarantine)",
    },
    state: {
      type: "string",
      value: "FILE",
      help: "where progress is saved (default <dir>/.crawl-<task>.json)",
    },
    ...SERVICE_OPTIONS,
    ...PROGRESS_OPTIONS,
  },
  async run({ args, values, io, interrupted }) {
    if (args.length > 0) throw new UsageError("crawl takes no arguments", crawl);
    const name = stringValue(values, "task");
    const task = taskFor(name, values, io);
    const cpuText = stringValue(values, "cpu");
    const cpu = cpuText === undefined ? 0.1 : Number(cpuText);
    if (!(cpu > 0 && cpu <= 1)) {
      throw new UsageError(`--cpu must be a number in (0, 1], not '${cpuText}'`, crawl);
    }
    const store = localStore(values);
    const local = listValue(values, "service").length === 0;
    const target = local ? store : walkedStore(values, io, "crawl");
    if (local) await store.open();
    const progress = startProgress(io, values, { label: `crawl ${name}`, total: 100, unit: "%" });
    const crawler = new Crawler(target, task, {
      statePath: stringValue(values, "state") ??
        join(
          store.root,
          local
            ? `.crawl-${name}.json`
            : `.crawl-${name}-${target.id.replace(/[^A-Za-z0-9.-]+/g, "_")}.json`,
        ),
      allowedCpuFraction: cpu,
      signal: interrupted,
      onSlice: (p) => progress.update(p.percentDone),
    });
    try {
      if (flagValue(values, "continuous")) {
        crawler.start();
        await crawler.stopped;
      } else {
        await crawler.runCycle();
      }
    } catch (error) {
      if (!interrupted.aborted) throw error;
    } finally {
      progress.done();
      await crawler.save();
    }
    await writeText(io, `${summarise(name!, crawler.state.task)}\n`);
    // A scrub that found damage fails, as scrubbing tools do, so scripts notice.
    return name === "verify" && (crawler.state.task as VerifyState).corrupt.length > 0 ? 1 : 0;
  },
};

function taskFor(name: string | undefined, values: Values, io: CliIO): CrawlerTask<unknown> {
  if (name === "count") return countTask() as CrawlerTask<unknown>;
  if (name === "verify") {
    const quarantine = stringValue(values, "quarantine");
    return verifyTask(
      quarantine === undefined ? {} : { quarantineDir: quarantine },
    ) as CrawlerTask<unknown>;
  }
  if (name === "expire") {
    const maxBytes = stringValue(values, "max-bytes");
    if (maxBytes === undefined) throw new UsageError("--task expire needs --max-bytes", crawl);
    const minAgeText = stringValue(values, "min-age");
    const minAge = minAgeText === undefined ? 10 : integer(minAgeText, "--min-age", 0, 10_000_000);
    // The local store's chunk index lets go of the blocks that expire.
    const local = listValue(values, "service").length === 0;
    const keyAgeText = stringValue(values, "key-max-age");
    const keyMaxAge = keyAgeText === undefined
      ? undefined
      : integer(keyAgeText, "--key-max-age", 0, 100_000) * 86_400_000;
    // The keys `stowage fetch` recorded for this store keep their blocks.
    const keyIndex = makeClient(values, io).client.keyIndex;
    return expireTask({
      // 0 is a budget too: expire everything old enough that no key uses.
      maxBytes: parseSize(maxBytes, "--max-bytes", 0),
      minAge: minAge * 60_000,
      ...(local ? { chunkIndex: new FileChunkIndex(join(localStore(values).root, "chunks")) } : {}),
      ...(keyIndex === undefined ? {} : { keyIndex }),
      ...(keyMaxAge === undefined ? {} : { keyMaxAge }),
    }) as CrawlerTask<unknown>;
  }
  throw new UsageError("crawl needs --task count, verify or expire", crawl);
}

function summarise(task: string, state: unknown): string {
  if (task === "count") {
    const s = state as CountState;
    return `count: ${s.lastTotal ?? 0} blocks, ${s.lastBytes ?? 0} bytes`;
  }
  if (task === "verify") {
    const s = state as VerifyState;
    const quarantined = s.corrupt.filter((c) => c.quarantined !== null).length;
    return `verify: ${
      s.lastChecked ?? s.checked
    } blocks seen, ${s.corrupt.length} corrupt, ${quarantined} quarantined` +
      s.corrupt.map((c) => `\n  corrupt ${c.locator} -> ${c.quarantined ?? "(left in place)"}`)
        .join("");
  }
  const s = state as ExpireState;
  const last = s.last;
  if (last === null) return "expire: no cycle finished";
  return `expire: ${last.blocks} blocks seen (${last.bytes} bytes), ${last.expired.length} expired (${
    last.expired.reduce((n, e) => n + e.size, 0)
  } bytes), ${last.keptRecent} kept as recently read, ${last.keptByKeys} kept for keys, ${last.keysExpired.length} keys expired`;
}
