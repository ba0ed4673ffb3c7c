/**
 * The crawler's built-in tasks: count blocks, verify them (scrub), and expire
 * them (cache aging within a byte budget).
 *
 * @module
 */
import { join } from "node:path";
import type { BlockInfo } from "../model/block_store.ts";
import type { ChunkIndex } from "../model/chunk_index.ts";
import type { KeyEntry, KeyIndex } from "../model/key_index.ts";
import { Manifest } from "../model/manifest.ts";
import type { CrawlContext, CrawlerTask } from "./crawler.ts";
import { BlockCorruptError, BlockNotFoundError } from "../model/errors.ts";
import { FileStore } from "../store/file_store.ts";
import { fs, makeDirectory } from "../platform/_fs.ts";

/** State of {@linkcode countTask}. */
export interface CountState {
  /** Blocks per prefix in the cycle under way. */
  current: Record<string, number>;
  /** Bytes in the cycle under way. */
  currentBytes: number;
  /** Blocks counted in the last finished cycle. */
  lastTotal: number | null;
  /** Bytes counted in the last finished cycle. */
  lastBytes: number | null;
  /** Block ids from the first prefixes that have blocks (a sample). */
  sample: string[];
}

/**
 * Counts blocks per prefix and in total, keeping a sample of block ids.
 *
 * @param options `sampleSize`: how many ids to keep. @default {10}
 * @returns The task.
 *
 * @example
 * ```ts
 * import { MemoryStore } from "stowage";
 * import { countTask, Crawler } from "stowage/crawl";
 * import assert from "node:assert/strict";
 *
 * const store = new MemoryStore();
 * await store.put(new TextEncoder().encode("foo"));
 * const crawler = new Crawler(store, countTask(), { allowedCpuFraction: 1 });
 * await crawler.runCycle();
 * assert.equal(crawler.state.task.lastBytes, 3);
 * ```
 */
export function countTask(options: { sampleSize?: number } = {}): CrawlerTask<CountState> {
  const sampleSize = options.sampleSize ?? 10;
  return {
    name: "count",
    initialState: () => ({
      current: {},
      currentBytes: 0,
      lastTotal: null,
      lastBytes: null,
      sample: [],
    }),
    startedCycle(ctx) {
      ctx.state.current = {};
      ctx.state.currentBytes = 0;
      ctx.state.sample = [];
    },
    processPrefix(ctx, prefix, blocks) {
      if (blocks.length > 0) ctx.state.current[prefix] = blocks.length;
      for (const b of blocks) {
        ctx.state.currentBytes += b.size;
        if (ctx.state.sample.length < sampleSize) ctx.state.sample.push(b.locator);
      }
    },
    finishedCycle(ctx) {
      ctx.state.lastTotal = Object.values(ctx.state.current).reduce((a, b) => a + b, 0);
      ctx.state.lastBytes = ctx.state.currentBytes;
    },
  };
}

/** State of {@linkcode verifyTask}. */
export interface VerifyState {
  /** Blocks checked in the cycle under way. */
  checked: number;
  /** Blocks that failed, with where they went. */
  corrupt: { locator: string; reason: string; quarantined: string | null; cycle: number }[];
  /** Blocks checked in the last finished cycle. */
  lastChecked: number | null;
}

/**
 * Re-hashes every block; corrupt ones are moved to a quarantine folder
 * (FileStore) or only reported (other stores).
 *
 * @param options `quarantineDir`: where corrupt FileStore blocks go. @default {"<root>/quarantine"}
 * @returns The task.
 *
 * @example Scrubbing a file store: a damaged block goes to quarantine
 * ```ts
 * import { FileStore } from "stowage";
 * import { Crawler, verifyTask } from "stowage/crawl";
 * import assert from "node:assert/strict";
 * import { mkdtemp, writeFile } from "node:fs/promises";
 * import { tmpdir } from "node:os";
 * import { join } from "node:path";
 *
 * const root = await mkdtemp(join(tmpdir(), "stowage-doc-"));
 * const store = new FileStore(join(root, "blocks"));
 * const { locator } = await store.put(new TextEncoder().encode("foo"));
 * await writeFile(store.pathOf(locator), "bar"); // bit rot
 * const task = verifyTask({ quarantineDir: join(root, "quarantine") });
 * const crawler = new Crawler(store, task, { allowedCpuFraction: 1 });
 * await crawler.runCycle();
 * assert.equal(crawler.state.task.corrupt[0]?.locator, locator);
 * assert.equal(await store.has(locator), false);
 * ```
 */
export function verifyTask(options: { quarantineDir?: string } = {}): CrawlerTask<VerifyState> {
  return {
    name: "verify",
    initialState: () => ({ checked: 0, corrupt: [], lastChecked: null }),
    startedCycle(ctx) {
      ctx.state.checked = 0;
    },
    async processBlock(ctx, block) {
      ctx.state.checked++;
      try {
        await ctx.store.get(block.locator, { signal: ctx.signal });
      } catch (error) {
        if (error instanceof BlockNotFoundError) return; // deleted meanwhile
        if (!(error instanceof BlockCorruptError)) throw error;
        ctx.state.corrupt.push({
          locator: block.locator,
          reason: error.message,
          quarantined: await quarantine(ctx, block, options.quarantineDir),
          cycle: ctx.cycle,
        });
      }
    },
    finishedCycle(ctx) {
      ctx.state.lastChecked = ctx.state.checked;
    },
  };
}

async function quarantine(
  ctx: CrawlContext<unknown>,
  block: BlockInfo,
  dir: string | undefined,
): Promise<string | null> {
  if (!(ctx.store instanceof FileStore)) return null;
  const target = dir ?? join(ctx.store.root, "quarantine");
  await makeDirectory(target);
  const path = join(target, `${block.locator.split("+")[0]}.${ctx.clock.now()}`);
  await fs.rename(ctx.store.pathOf(block.locator), path);
  return path;
}

/** State of {@linkcode expireTask}. */
export interface ExpireState {
  /** Blocks seen in the cycle under way: locator, size, last access. */
  seen: [string, number, number][];
  /** What the last finished cycle did. */
  last: {
    blocks: number;
    bytes: number;
    expired: { locator: string; size: number; lastAccess: number }[];
    keptRecent: number;
    /** Blocks kept because a key's manifest (or unfinished transfer) uses them. */
    keptByKeys: number;
    /** Keys removed because they were last used more than `keyMaxAge` ago. */
    keysExpired: string[];
    /** Chunk index entries dropped because their block expired. */
    chunkEntriesDropped: number;
    /** The largest blocks, for an administrator. */
    bySize: { locator: string; size: number; lastAccess: number }[];
    /** The least recently used blocks, for an administrator. */
    byAccess: { locator: string; size: number; lastAccess: number }[];
  } | null;
}

/**
 * Cache aging: at the end of each cycle, while the store holds more than
 * `maxBytes`, removes the least recently accessed blocks — never one read in
 * the last `minAge` ms — and reports blocks by size and by last access.
 *
 * With a `chunkIndex`, the entries that point into the blocks about to go
 * are dropped first, so a later content-chunked write never points a
 * manifest at a block that is gone.
 *
 * With a `keyIndex` (what `BlockClient.stage` records), keys last used more
 * than `keyMaxAge` ms ago are removed first (never, without `keyMaxAge`), and
 * no block a remaining key uses — in its manifest, or stored so far by an
 * unfinished transfer — is expired, whatever the budget.
 *
 * @param options `maxBytes` budget; `minAge` guard (default 10 min); `reportSize` rows
 *   (default 20); the store's `chunkIndex`, if content-chunked writes use one;
 *   its `keyIndex` and `keyMaxAge`.
 * @returns The task.
 *
 * @example Aging a store down to a 3-byte budget
 * ```ts
 * import { MemoryStore } from "stowage";
 * import { Crawler, expireTask } from "stowage/crawl";
 * import assert from "node:assert/strict";
 *
 * let now = 1_700_000_000_000;
 * const store = new MemoryStore({ now: () => now });
 * await store.put(new TextEncoder().encode("old"));
 * now += 3_600_000;
 * await store.put(new TextEncoder().encode("new"));
 * const task = expireTask({ maxBytes: 3, minAge: 0 });
 * await new Crawler(store, task, { allowedCpuFraction: 1 }).runCycle();
 * assert.deepEqual(
 *   (await Array.fromAsync(store.list())).map((b) => b.locator),
 *   ["22af645d1859cb5ca6da0c484f1f37ea+3"],
 * );
 * ```
 */
export function expireTask(
  options: {
    maxBytes: number;
    minAge?: number;
    reportSize?: number;
    chunkIndex?: ChunkIndex;
    keyIndex?: KeyIndex;
    keyMaxAge?: number;
  },
): CrawlerTask<ExpireState> {
  if (!(options.maxBytes >= 0)) {
    throw new RangeError(
      `Cannot expire blocks as maxBytes must be >= 0: current value is ${options.maxBytes}`,
    );
  }
  const minAge = options.minAge ?? 10 * 60_000;
  const reportSize = options.reportSize ?? 20;
  return {
    name: "expire",
    initialState: () => ({ seen: [], last: null }),
    startedCycle(ctx) {
      ctx.state.seen = [];
    },
    processPrefix(ctx, _prefix, blocks) {
      for (const b of blocks) {
        ctx.state.seen.push([b.locator, b.size, Math.max(b.atime ?? 0, b.mtime)]);
      }
    },
    async finishedCycle(ctx) {
      const rows = ctx.state.seen.map(([locator, size, lastAccess]) => ({
        locator,
        size,
        lastAccess,
      }));
      let bytes = rows.reduce((n, r) => n + r.size, 0);
      const total = bytes;
      const now = ctx.clock.now();
      const { referenced, keysExpired } = options.keyIndex === undefined
        ? { referenced: new Set<string>(), keysExpired: [] }
        : await keyedBlocks(options.keyIndex, now, options.keyMaxAge);
      const chosen: typeof rows = [];
      let keptRecent = 0;
      let keptByKeys = 0;
      let left = bytes;
      for (
        const row of [...rows].sort((a, b) =>
          a.lastAccess - b.lastAccess || a.locator.localeCompare(b.locator)
        )
      ) {
        if (left <= options.maxBytes) break;
        if (now - row.lastAccess < minAge) {
          keptRecent++;
          continue;
        }
        if (referenced.has(row.locator.split("+")[0]!)) {
          keptByKeys++;
          continue;
        }
        chosen.push(row);
        left -= row.size;
      }
      // The index lets go of the blocks before they go: never an entry
      // pointing at a block removed.
      const chunkEntriesDropped = chosen.length === 0 || options.chunkIndex === undefined
        ? 0
        : await options.chunkIndex.dropBlocks(chosen.map((r) => r.locator));
      const expired: typeof rows = [];
      for (const row of chosen) {
        if (await ctx.store.delete(row.locator, { signal: ctx.signal })) {
          expired.push(row);
          bytes -= row.size;
        }
      }
      ctx.state.last = {
        blocks: rows.length,
        bytes: total,
        expired,
        keptRecent,
        keptByKeys,
        keysExpired,
        chunkEntriesDropped,
        bySize: [...rows].sort((a, b) => b.size - a.size).slice(0, reportSize),
        byAccess: [...rows].sort((a, b) => a.lastAccess - b.lastAccess).slice(0, reportSize),
      };
      ctx.state.seen = [];
    },
  };
}

/**
 * Ages out keys unused for `maxAge` ms, and gives the digests of the blocks
 * the remaining ones use.
 */
async function keyedBlocks(
  index: KeyIndex,
  now: number,
  maxAge: number | undefined,
): Promise<{ referenced: Set<string>; keysExpired: string[] }> {
  const referenced = new Set<string>();
  const keysExpired: string[] = [];
  const entries: KeyEntry[] = [];
  for await (const entry of index.list()) entries.push(entry);
  for (const entry of entries) {
    if (maxAge !== undefined && now - entry.accessed > maxAge) {
      if (await index.delete(entry.key)) keysExpired.push(entry.key);
      continue;
    }
    if (entry.manifest !== "") {
      for (const file of Manifest.parse(entry.manifest).files) {
        for (const segment of file.segments) referenced.add(segment.locator.split("+")[0]!);
      }
    }
    for (const piece of entry.partial?.pieces ?? []) {
      referenced.add(piece.locator.split("+")[0]!);
    }
  }
  return { referenced, keysExpired };
}
