/**
 * `BlockCache`: a block cache in RAM (on lru-cache) and optionally on disk,
 * shared by every reader of a {@linkcode BlockClient}.
 *
 * - RAM tier limited by bytes (256 MiB) and slots (512), least recently used out.
 * - Concurrent gets of one block share one fetch. A caller's abort drops only
 *   that caller; the fetch is aborted when no caller wants it any more. A
 *   failed fetch is not cached and wakes every waiter with its error. Blocks
 *   still loading are never evicted (they are not in the LRU until loaded).
 * - Disk tier (`disk: { dir, maxBytes, maxSlots }`): files
 *   `<dir>/<digest[0:3]>/<digest>` written atomically (temp + rename), so
 *   processes can share the folder and no reader sees a partial file; reloaded
 *   newest first after a restart; evicted by oldest access. On ENOSPC or EMFILE
 *   it shrinks its limits and retries once rather than failing the read.
 *
 * @module
 */
import { LRUCache } from "npm:lru-cache@^11.2.0";
import { join } from "node:path";
import { errorCode, fs, makeDirectory } from "../platform/_fs.ts";
import { atomicWrite, sweepTempFiles } from "../platform/_atomic_write.ts";
import { formatLocator, type Locator, locatorOf, toLocator } from "../model/locator.ts";
import { DEFAULT_BLOCK_SIZE } from "../model/block_store.ts";

/** Options for the disk tier. */
export interface DiskCacheOptions {
  /** Folder of the cache (shared safely between processes). */
  dir: string;
  /**
   * Bytes at most. @default {the least of 10% of the file system, 25% of its
   * free space, and maxSlots × 64 MiB}
   */
  maxBytes?: number;
  /** Files at most. @default {512} */
  maxSlots?: number;
}

/** Options for {@linkcode BlockCache}. */
export interface BlockCacheOptions {
  /** RAM tier bytes. @default {268435456} (256 MiB) */
  maxBytes?: number;
  /** RAM tier blocks. @default {512} */
  maxSlots?: number;
  /** A disk tier under the RAM tier. */
  disk?: DiskCacheOptions;
}

/** Cache counters. */
export interface BlockCacheStats {
  /** Gets served from RAM or disk (or joined to a fetch in flight). */
  hits: number;
  /** Gets that had to fetch. */
  misses: number;
  /** Bytes served from the cache (what callers used, not whole blocks). */
  bytesFromCache: number;
  /** Bytes fetched from services. */
  bytesFromNetwork: number;
  /** Blocks evicted (RAM and disk). */
  evictions: number;
  /** Prefetches started. */
  prefetchesIssued: number;
  /** Prefetched blocks later read. */
  prefetchesUsed: number;
  /** Prefetched blocks evicted unread. */
  prefetchesWasted: number;
}

interface InFlight {
  promise: Promise<Uint8Array>;
  controller: AbortController;
  callers: number;
  prefetch: boolean;
}

/**
 * See the module doc.
 *
 * @example One fetch for concurrent readers of a block
 * ```ts
 * import { BlockCache, BlockClient, MemoryStore } from "stowage";
 * import assert from "node:assert/strict";
 *
 * const store = new MemoryStore();
 * const { locator } = await store.put(new TextEncoder().encode("foo"));
 * const cache = new BlockCache({ maxBytes: 64 * 1024 * 1024 });
 * const client = new BlockClient({ services: [store], cache });
 * await Promise.all([client.get(locator), client.get(locator), client.get(locator)]);
 * assert.equal(cache.stats.misses, 1);
 * assert.equal(cache.stats.hits, 2); // joined the one fetch
 * ```
 */
export class BlockCache {
  #ram: LRUCache<string, Uint8Array>;
  #disk: DiskTier | undefined;
  #inFlight = new Map<string, InFlight>();
  #prefetched = new Set<string>();
  #stats: BlockCacheStats = {
    hits: 0,
    misses: 0,
    bytesFromCache: 0,
    bytesFromNetwork: 0,
    evictions: 0,
    prefetchesIssued: 0,
    prefetchesUsed: 0,
    prefetchesWasted: 0,
  };

  /**
   * Creates a {@linkcode BlockCache}.
   *
   * @param options RAM limits and an optional disk tier.
   */
  constructor(options: BlockCacheOptions = {}) {
    const maxBytes = options.maxBytes ?? 256 * 1024 * 1024;
    const maxSlots = options.maxSlots ?? 512;
    if (!(maxBytes >= 1) || !Number.isSafeInteger(maxSlots) || maxSlots < 1) {
      throw new RangeError(
        `Cannot construct BlockCache with maxBytes ${maxBytes} and maxSlots ${maxSlots}`,
      );
    }
    this.#ram = new LRUCache<string, Uint8Array>({
      max: maxSlots,
      maxSize: maxBytes,
      sizeCalculation: (bytes) => Math.max(1, bytes.length),
      dispose: (_value, key, reason) => {
        if (reason !== "evict") return;
        this.#stats.evictions++;
        if (this.#prefetched.delete(key)) this.#stats.prefetchesWasted++;
      },
    });
    if (options.disk !== undefined) {
      this.#disk = new DiskTier(options.disk, () => this.#stats.evictions++);
    }
  }

  /** Counters so far. */
  get stats(): Readonly<BlockCacheStats> {
    return { ...this.#stats };
  }

  /** Whether the block is cached (in RAM or on disk) or loading. */
  async has(locator: string | Locator): Promise<boolean> {
    const key = toLocator(locator).stripped;
    return this.#ram.has(key) || this.#inFlight.has(key) || (await this.#disk?.has(key)) === true;
  }

  /** Whether the block is in RAM or loading (no I/O). */
  holds(locator: string | Locator): boolean {
    const key = toLocator(locator).stripped;
    return this.#ram.has(key) || this.#inFlight.has(key);
  }

  /**
   * Gets a block: from RAM, from disk, from a fetch already in flight, or by
   * calling `load` (once, however many callers wait).
   *
   * @param locator The block.
   * @param load Fetches it (verified) when no tier has it; receives an abort signal.
   * @param options The caller's signal; `prefetch` marks a speculative load;
   *   `bytes`, how much of the block the caller uses (for the byte counters).
   * @returns The bytes.
   */
  async get(
    locator: string | Locator,
    load: (signal: AbortSignal) => Promise<Uint8Array>,
    options: { signal?: AbortSignal; prefetch?: boolean; bytes?: number } = {},
  ): Promise<Uint8Array> {
    const loc = toLocator(locator);
    const key = loc.stripped;
    options.signal?.throwIfAborted();
    const cached = this.#ram.get(key);
    if (cached !== undefined) {
      if (!options.prefetch) this.#hit(key, options.bytes ?? cached.length);
      return cached;
    }
    let entry = this.#inFlight.get(key);
    if (entry !== undefined) {
      if (!options.prefetch) {
        this.#stats.hits++;
        if (entry.prefetch) {
          entry.prefetch = false;
          this.#stats.prefetchesUsed++;
        }
      }
    } else {
      if (options.prefetch) this.#stats.prefetchesIssued++;
      else this.#stats.misses++;
      entry = this.#startLoad(key, loc.digest, loc.algorithm, load, options.prefetch === true);
    }
    return await this.#join(key, entry, options.signal);
  }

  #hit(key: string, bytes: number): void {
    this.#stats.hits++;
    this.#stats.bytesFromCache += bytes;
    if (this.#prefetched.delete(key)) this.#stats.prefetchesUsed++;
  }

  #startLoad(
    key: string,
    digest: string,
    algorithm: "md5" | "sha256",
    load: (signal: AbortSignal) => Promise<Uint8Array>,
    prefetch: boolean,
  ): InFlight {
    const controller = new AbortController();
    const entry: InFlight = {
      promise: undefined as unknown as Promise<Uint8Array>,
      controller,
      callers: 0,
      prefetch,
    };
    entry.promise = (async () => {
      const fromDisk = await this.#disk?.read(key, digest, algorithm).catch(() => undefined);
      if (fromDisk !== undefined) {
        this.#stats.bytesFromCache += fromDisk.length;
        return fromDisk;
      }
      const bytes = await load(controller.signal);
      this.#stats.bytesFromNetwork += bytes.length;
      await this.#disk?.write(key, bytes).catch(() => {});
      return bytes;
    })().then(
      (bytes) => {
        this.#inFlight.delete(key);
        this.#ram.set(key, bytes);
        if (entry.prefetch) this.#prefetched.add(key);
        return bytes;
      },
      (error: unknown) => {
        // Not cached: the next get tries again.
        this.#inFlight.delete(key);
        throw error;
      },
    );
    // Waiters handle the rejection; this keeps an unwaited prefetch quiet.
    entry.promise.catch(() => {});
    this.#inFlight.set(key, entry);
    return entry;
  }

  /** Waits for a shared load as one caller; this caller's abort drops only it. */
  #join(key: string, entry: InFlight, signal: AbortSignal | undefined): Promise<Uint8Array> {
    entry.callers++;
    const leave = (): void => {
      entry.callers--;
      // Nobody waits any more (and it is no prefetch): stop fetching.
      if (entry.callers === 0 && !entry.prefetch && this.#inFlight.get(key) === entry) {
        entry.controller.abort(new Error("no reader wants this block any more"));
      }
    };
    if (signal === undefined) return entry.promise.finally(() => entry.callers--);
    return new Promise<Uint8Array>((resolve, reject) => {
      const onAbort = (): void => {
        leave();
        reject(signal.reason);
      };
      signal.addEventListener("abort", onAbort, { once: true });
      entry.promise.then(
        (bytes) => {
          signal.removeEventListener("abort", onAbort);
          if (signal.aborted) return;
          entry.callers--;
          resolve(bytes);
        },
        (error: unknown) => {
          signal.removeEventListener("abort", onAbort);
          if (signal.aborted) return;
          entry.callers--;
          reject(error);
        },
      );
    });
  }
}

/** The disk tier: atomic files, size-bounded, oldest access out. */
class DiskTier {
  #dir: string;
  #maxBytes: number | undefined;
  #maxSlots: number;
  #index = new Map<string, { size: number; access: number }>();
  #bytes = 0;
  #ready: Promise<void> | undefined;
  #onEvict: () => void;

  constructor(options: DiskCacheOptions, onEvict: () => void) {
    this.#dir = options.dir;
    this.#maxBytes = options.maxBytes;
    this.#maxSlots = options.maxSlots ?? 512;
    this.#onEvict = onEvict;
  }

  /** Scans the folder once: newest files are kept, the rest trimmed to the limits. */
  #open(): Promise<void> {
    this.#ready ??= (async () => {
      await makeDirectory(this.#dir);
      if (this.#maxBytes === undefined) {
        try {
          const s = await fs.statfs(this.#dir);
          const total = s.blocks * s.bsize;
          const free = s.bavail * s.bsize;
          this.#maxBytes = Math.min(total * 0.1, free * 0.25, this.#maxSlots * DEFAULT_BLOCK_SIZE);
        } catch {
          this.#maxBytes = this.#maxSlots * DEFAULT_BLOCK_SIZE;
        }
      }
      const found: { key: string; size: number; access: number }[] = [];
      // Temp files a crashed process left: a minute old is long past any write.
      const staleTemps = Date.now() - 60_000;
      for (const sub of await fs.readdir(this.#dir).catch(() => [] as string[])) {
        if (!/^[0-9a-f]{3}$/.test(sub)) continue;
        await sweepTempFiles(join(this.#dir, sub), staleTemps);
        for (const name of await fs.readdir(join(this.#dir, sub)).catch(() => [] as string[])) {
          if (!/^[0-9a-f]{32}$|^[0-9a-f]{64}$/.test(name)) continue;
          const info = await fs.stat(join(this.#dir, sub, name)).catch(() => undefined);
          if (info) {
            found.push({
              key: formatLocator({ digest: name, size: info.size }),
              size: info.size,
              access: Math.max(info.atimeMs, info.mtimeMs),
            });
          }
        }
      }
      // Newest first: those are the ones a restart most likely wants again.
      found.sort((a, b) => b.access - a.access);
      for (const f of found) {
        this.#index.set(f.key, { size: f.size, access: f.access });
        this.#bytes += f.size;
      }
      await this.#trim();
    })();
    return this.#ready;
  }

  #path(key: string): string {
    const digest = key.split("+")[0]!;
    return join(this.#dir, digest.slice(0, 3), digest);
  }

  async has(key: string): Promise<boolean> {
    await this.#open();
    return this.#index.has(key) || (await fs.stat(this.#path(key)).then(() => true, () => false));
  }

  /** Reads and verifies a cached block; undefined when absent or damaged. */
  async read(
    key: string,
    digest: string,
    algorithm: "md5" | "sha256",
  ): Promise<Uint8Array | undefined> {
    await this.#open();
    let bytes: Uint8Array;
    try {
      bytes = new Uint8Array(await fs.readFile(this.#path(key)));
    } catch {
      this.#forget(key);
      return undefined;
    }
    if (locatorOf(bytes, algorithm) !== key || !key.startsWith(`${digest}+`)) {
      // Damaged (or another process's partial write that is not ours): drop it.
      await fs.unlink(this.#path(key)).catch(() => {});
      this.#forget(key);
      return undefined;
    }
    const now = Date.now();
    this.#index.set(key, { size: bytes.length, access: now });
    fs.utimes(this.#path(key), new Date(now), new Date(now)).catch(() => {});
    return bytes;
  }

  /** Writes a block atomically; on ENOSPC or EMFILE shrinks the limits and retries once. */
  async write(key: string, bytes: Uint8Array): Promise<void> {
    await this.#open();
    if (this.#index.has(key)) return;
    for (let attempt = 0; attempt < 2; attempt++) {
      try {
        await atomicWrite(this.#path(key), bytes);
        if (!this.#index.has(key)) {
          this.#index.set(key, { size: bytes.length, access: Date.now() });
          this.#bytes += bytes.length;
        }
        await this.#trim();
        return;
      } catch (error) {
        const code = errorCode(error);
        if (attempt === 0 && (code === "ENOSPC" || code === "EDQUOT" || code === "EMFILE")) {
          // Give back half of what the cache holds (keeping room for this
          // block), then try once more.
          if (this.#index.size > 0) {
            this.#maxBytes = Math.max(bytes.length, Math.floor(this.#bytes / 2));
            this.#maxSlots = Math.max(1, Math.floor(this.#index.size / 2));
          }
          await this.#trim();
          continue;
        }
        throw error;
      }
    }
  }

  #forget(key: string): void {
    const entry = this.#index.get(key);
    if (entry === undefined) return;
    this.#index.delete(key);
    this.#bytes -= entry.size;
  }

  /** Evicts the least recently accessed files until within the limits. */
  async #trim(): Promise<void> {
    const maxBytes = this.#maxBytes ?? Infinity;
    if (this.#bytes <= maxBytes && this.#index.size <= this.#maxSlots) return;
    const byAccess = [...this.#index.entries()].sort((a, b) => a[1].access - b[1].access);
    for (const [key] of byAccess) {
      if (this.#bytes <= maxBytes && this.#index.size <= this.#maxSlots) break;
      this.#forget(key);
      await fs.unlink(this.#path(key)).catch(() => {});
      this.#onEvict();
    }
  }
}
