/**
 * The one chunk index implementation: 4096 shards by the first three hex
 * digits of the chunk digest, each a run of 80-byte records (the chunk's
 * SHA-256, the block's digest and size, the offset and length, and whether it
 * is an entry or a removal), over a {@linkcode ShardStorage}: files in a
 * folder (`FileChunkIndex`) or objects in a bucket (`S3Store.chunkIndex()`).
 * Adds and drops go to a journal first (one append each, read whole into
 * memory: at most `journalRecords`, 64 Ki records, about 13 MB), merged into
 * the shards when full. Memory is bounded by the journal and the shards
 * loaded (an LRU), not the index's size.
 * Private to the package.
 *
 * @example
 * ```ts
 * import { ShardedChunkIndex, type ShardStorage } from "./_sharded_chunk_index.ts";
 *
 * const shards = new Map<string, Uint8Array>();
 * const storage: ShardStorage = {
 *   id: "memory",
 *   read: (name) => Promise.resolve(shards.get(name) ?? new Uint8Array(0)),
 *   append: (name, records) =>
 *     Promise.resolve(void shards.set(name, new Uint8Array([...shards.get(name) ?? [], ...records]))),
 *   replace: (name, records) => Promise.resolve(void shards.set(name, records)),
 *   names: () => Promise.resolve([...shards.keys()]),
 * };
 * const index = new ShardedChunkIndex(storage);
 * const digest = "ab".repeat(32);
 * await index.add([{ digest, locator: "acbd18db4cc2f85cedef654fccc4a4d8+3", offset: 0, length: 3 }]);
 * if ((await index.lookup([digest])).get(digest)?.length !== 3) throw new Error("not found");
 * ```
 *
 * @module
 */
import { LRUCache } from "npm:lru-cache@^11.2.0";
import type { ChunkEntry, ChunkIndex, ChunkLocation } from "../model/chunk_index.ts";
import { toLocator } from "../model/locator.ts";

/** Bytes per record. */
const RECORD = 80;
/** Estimated memory per loaded entry (key string, object, map slot). */
const ENTRY_MEMORY = 200;

/**
 * Where the shards live. Each shard is named by three hex digits; its
 * records are read whole, appended whole, or replaced whole.
 */
export interface ShardStorage {
  /** Identifies the storage in messages. */
  readonly id: string;
  /** The shard's records, in order (empty when it does not exist). */
  read(name: string): Promise<Uint8Array>;
  /** Appends whole records to the shard. */
  append(name: string, records: Uint8Array): Promise<void>;
  /** Replaces the shard's records, atomically. */
  replace(name: string, records: Uint8Array): Promise<void>;
  /** The shards that exist. */
  names(): Promise<string[]>;
}

/** Options for {@linkcode ShardedChunkIndex}. */
export interface ShardedChunkIndexOptions {
  /** Memory the loaded shards may take, bytes (an estimate). @default {67108864} (64 MiB) */
  maxMemory?: number;
  /** Records the journal holds before it is merged into the shards. @default {65536} */
  journalRecords?: number;
}

/**
 * The journal: every add and drop is one append here, whatever shards its
 * digests fall in (a write's chunks would touch hundreds of shard files);
 * it is merged into the shards once it holds `journalRecords` records.
 */
const JOURNAL = "log";

type Shard = Map<string, ChunkLocation>;

/** See the module doc. */
export class ShardedChunkIndex implements ChunkIndex {
  /** Identifies the index in messages. */
  readonly id: string;
  #storage: ShardStorage;
  #shards: LRUCache<string, Shard>;
  #journalLimit: number;
  /** The journal, once read: a digest's newest record (`null`: removed). */
  #journal: Map<string, ChunkLocation | null> | undefined;
  #journalRecords = 0;
  /** Journal writes (appends, merges) run one at a time: a merge empties the file. */
  #serial: Promise<unknown> = Promise.resolve();

  /**
   * Creates a {@linkcode ShardedChunkIndex}.
   *
   * @param storage Where the shards live.
   * @param options Memory bound, journal size.
   */
  constructor(storage: ShardStorage, options: ShardedChunkIndexOptions = {}) {
    this.#storage = storage;
    this.id = storage.id;
    this.#journalLimit = options.journalRecords ?? 65536;
    this.#shards = new LRUCache<string, Shard>({
      maxSize: options.maxMemory ?? 64 * 1024 * 1024,
      sizeCalculation: (shard) => Math.max(1, shard.size * ENTRY_MEMORY),
    });
  }

  /**
   * Finds chunks: in the journal, else in their shards.
   *
   * @param digests SHA-256 hex digests.
   * @returns The locations of those found.
   * @throws The storage's error when a shard cannot be read.
   */
  async lookup(digests: readonly string[]): Promise<Map<string, ChunkLocation>> {
    const found = new Map<string, ChunkLocation>();
    const journal = await this.#loadJournal();
    const rest: string[] = [];
    for (const digest of digests) {
      const newest = journal.get(digest);
      if (newest === undefined) rest.push(digest);
      else if (newest !== null) found.set(digest, newest);
    }
    // A window of chunks touches hundreds of shards: read several at once.
    await eachLimit(groupByShard(rest, (d) => d), async ([name, wanted]) => {
      const shard = await this.#load(name);
      for (const digest of wanted) {
        const location = shard.get(digest);
        if (location !== undefined) found.set(digest, location);
      }
    });
    return found;
  }

  /**
   * Records chunks: one append to the journal (merged into the shards once
   * it holds `journalRecords`).
   *
   * @param entries The chunks and where they lie.
   * @throws The storage's error when the journal or a shard cannot be written.
   */
  async add(entries: readonly ChunkEntry[]): Promise<void> {
    const records = new Uint8Array(entries.length * RECORD);
    entries.forEach((entry, i) => encode(records.subarray(i * RECORD), entry, true));
    await this.#exclusive(async () => {
      const journal = await this.#loadJournal();
      await this.#storage.append(JOURNAL, records);
      for (const { digest, locator, offset, length } of entries) {
        journal.set(digest, { locator: toLocator(locator).stripped, offset, length });
      }
      this.#journalRecords += entries.length;
      if (this.#journalRecords >= this.#journalLimit) await this.#merge();
    });
  }

  /**
   * Forgets chunks: a removal record each, in the journal.
   *
   * @param digests SHA-256 hex digests.
   * @throws The storage's error when the journal or a shard cannot be written.
   */
  async drop(digests: readonly string[]): Promise<void> {
    const records = new Uint8Array(digests.length * RECORD);
    digests.forEach((digest, i) =>
      encode(records.subarray(i * RECORD), { digest, locator: "", offset: 0, length: 0 }, false)
    );
    await this.#exclusive(async () => {
      const journal = await this.#loadJournal();
      await this.#storage.append(JOURNAL, records);
      for (const digest of digests) journal.set(digest, null);
      this.#journalRecords += digests.length;
      if (this.#journalRecords >= this.#journalLimit) await this.#merge();
    });
  }

  /**
   * Forgets every chunk inside these blocks: the journal is merged, then each
   * shard is read, and those holding such a chunk are replaced without it.
   *
   * @param locators The blocks.
   * @returns How many entries were dropped.
   * @throws The storage's error when a shard cannot be read or written.
   */
  async dropBlocks(locators: readonly string[]): Promise<number> {
    if (locators.length === 0) return 0;
    await this.#exclusive(() => this.#merge());
    const gone = new Set(locators.map((l) => toLocator(l).stripped));
    let dropped = 0;
    for (const name of await this.#storage.names()) {
      const shard = await this.#read(name);
      let hit = 0;
      for (const [digest, location] of shard) {
        if (gone.has(location.locator)) {
          shard.delete(digest);
          hit++;
        }
      }
      if (hit === 0) continue;
      const records = new Uint8Array(shard.size * RECORD);
      let i = 0;
      for (const [digest, location] of shard) {
        encode(records.subarray(i++ * RECORD), { digest, ...location }, true);
      }
      await this.#storage.replace(name, records);
      this.#shards.set(name, shard);
      dropped += hit;
    }
    return dropped;
  }

  async #loadJournal(): Promise<Map<string, ChunkLocation | null>> {
    if (this.#journal !== undefined) return this.#journal;
    const journal = new Map<string, ChunkLocation | null>();
    const count = parse(await this.#storage.read(JOURNAL), (digest, location) => {
      journal.set(digest, location);
    });
    // Another call may have read it meanwhile: the first one read stays.
    if (this.#journal === undefined) {
      this.#journal = journal;
      this.#journalRecords = count;
    }
    return this.#journal;
  }

  /** Runs `task` after every journal write before it. */
  #exclusive<T>(task: () => Promise<T>): Promise<T> {
    const run = this.#serial.then(task);
    this.#serial = run.catch(() => {});
    return run;
  }

  /**
   * Moves the journal into the shards (under `#exclusive`): each shard
   * touched gets one append, then the journal is emptied. A crash between the
   * two leaves the journal whole, merged again later: the same records twice,
   * which changes nothing.
   */
  async #merge(): Promise<void> {
    const journal = await this.#loadJournal();
    if (journal.size === 0) return;
    await eachLimit(groupByShard([...journal], ([d]) => d), async ([name, group]) => {
      const records = new Uint8Array(group.length * RECORD);
      group.forEach(([digest, location], i) =>
        encode(
          records.subarray(i * RECORD),
          { digest, ...(location ?? { locator: "", offset: 0, length: 0 }) },
          location !== null,
        )
      );
      await this.#storage.append(name, records);
      const shard = this.#shards.get(name);
      for (const [digest, location] of group) {
        if (location === null) shard?.delete(digest);
        else shard?.set(digest, location);
      }
    });
    await this.#storage.replace(JOURNAL, new Uint8Array(0));
    journal.clear();
    this.#journalRecords = 0;
  }

  async #load(name: string): Promise<Shard> {
    const cached = this.#shards.get(name);
    if (cached !== undefined) return cached;
    const shard = await this.#read(name);
    this.#shards.set(name, shard);
    return shard;
  }

  async #read(name: string): Promise<Shard> {
    const shard: Shard = new Map();
    parse(await this.#storage.read(name), (digest, location) => {
      if (location === null) shard.delete(digest);
      else shard.set(digest, location);
    });
    return shard;
  }
}

/** Reads records in order; a torn last record (a crash mid-append) is left out. */
function parse(
  bytes: Uint8Array,
  apply: (digest: string, location: ChunkLocation | null) => void,
): number {
  const whole = bytes.length - (bytes.length % RECORD);
  let count = 0;
  for (let at = 0; at < whole; at += RECORD) {
    const record = decode(bytes.subarray(at, at + RECORD));
    if (record === undefined) continue;
    apply(record.digest, record.live ? record.location : null);
    count++;
  }
  return count;
}

/** Shards read or written at once. */
const PARALLEL = 16;

/** Runs `task` on each item, `PARALLEL` at a time; the first failure rejects once all have settled. */
async function eachLimit<T>(items: Iterable<T>, task: (item: T) => Promise<void>): Promise<void> {
  const queue = [...items];
  let failure: { error: unknown } | undefined;
  const worker = async (): Promise<void> => {
    while (queue.length > 0 && failure === undefined) {
      try {
        await task(queue.shift()!);
      } catch (error) {
        failure ??= { error };
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(PARALLEL, queue.length) }, worker));
  if (failure !== undefined) throw failure.error;
}

function groupByShard<T>(items: readonly T[], digestOf: (item: T) => string): Map<string, T[]> {
  const groups = new Map<string, T[]>();
  for (const item of items) {
    const digest = checkDigest(digestOf(item));
    const name = digest.slice(0, 3);
    const group = groups.get(name);
    if (group === undefined) groups.set(name, [item]);
    else group.push(item);
  }
  return groups;
}

/** Returns `digest`, or throws a TypeError unless it is a SHA-256 in lowercase hex. */
function checkDigest(digest: string): string {
  if (!/^[0-9a-f]{64}$/.test(digest)) {
    throw new TypeError(
      `Cannot use chunk digest '${digest}': expected 64 lowercase hex digits (SHA-256)`,
    );
  }
  return digest;
}

/** Writes one record: digest 32, block digest length 1 + digest 32, size, offset, length (u32 LE), live flag. */
function encode(out: Uint8Array, entry: ChunkEntry, live: boolean): void {
  out.fill(0, 0, RECORD);
  hexInto(checkDigest(entry.digest), out, 0);
  if (live) {
    const loc = toLocator(entry.locator);
    out[32] = loc.digest.length / 2;
    hexInto(loc.digest, out, 33);
    const view = new DataView(out.buffer, out.byteOffset, RECORD);
    view.setUint32(65, loc.size, true);
    view.setUint32(69, entry.offset, true);
    view.setUint32(73, entry.length, true);
  }
  out[77] = live ? 1 : 0;
}

function decode(
  record: Uint8Array,
): { digest: string; live: boolean; location: ChunkLocation } | undefined {
  const digest = hexOf(record, 0, 32);
  const live = record[77] === 1;
  if (!live) return { digest, live, location: { locator: "", offset: 0, length: 0 } };
  const digestLength = record[32]!;
  if (digestLength !== 16 && digestLength !== 32) return undefined;
  const view = new DataView(record.buffer, record.byteOffset, RECORD);
  return {
    digest,
    live,
    location: {
      locator: `${hexOf(record, 33, digestLength)}+${view.getUint32(65, true)}`,
      offset: view.getUint32(69, true),
      length: view.getUint32(73, true),
    },
  };
}

function hexInto(hex: string, out: Uint8Array, at: number): void {
  for (let i = 0; i < hex.length / 2; i++) out[at + i] = parseInt(hex.slice(2 * i, 2 * i + 2), 16);
}

function hexOf(bytes: Uint8Array, at: number, length: number): string {
  let hex = "";
  for (let i = at; i < at + length; i++) hex += bytes[i]!.toString(16).padStart(2, "0");
  return hex;
}
