/**
 * `MemoryStore`: a {@linkcode BlockStore} in RAM. For tests, caches and
 * short-lived pipelines; nothing survives the process.
 *
 * @module
 */
import type {
  BlockInfo,
  BlockStore,
  GetOptions,
  ListOptions,
  PutOptions,
  PutResult,
} from "../model/block_store.ts";
import { checkPrefix, locatorFor, resolveRange, throwIfAborted } from "./_block_utils.ts";
import type { DigestAlgorithm } from "../model/digest.ts";
import { BlockNotFoundError } from "../model/errors.ts";
import { isEmptyBlock, type Locator, toLocator } from "../model/locator.ts";

/** Options for {@linkcode MemoryStore}. */
export interface MemoryStoreOptions {
  /** Identifier for rendezvous ordering and messages. @default {"memory"} */
  id?: string;
  /** The digest algorithm new blocks are named with. @default {"md5"} */
  algorithm?: DigestAlgorithm;
  /** Clock for mtimes, Unix milliseconds. @default {Date.now} */
  now?: () => number;
}

/**
 * A block store in RAM; see the module doc.
 *
 * @example Storing and reading a block
 * ```ts
 * import { MemoryStore } from "stowage";
 * import assert from "node:assert/strict";
 *
 * const store = new MemoryStore();
 * const { locator } = await store.put(new Uint8Array([1, 2, 3]));
 * assert.deepEqual(await store.get(locator, { range: { start: 1 } }), new Uint8Array([2, 3]));
 * ```
 */
export class MemoryStore implements BlockStore {
  readonly id: string;
  #blocks = new Map<string, { bytes: Uint8Array; mtime: number; atime: number }>();
  #algorithm: DigestAlgorithm;
  #now: () => number;

  /**
   * Creates a {@linkcode MemoryStore}. Give each one its own `id` when a
   * client uses several.
   *
   * @param options Identifier, digest algorithm and clock.
   */
  constructor(options: MemoryStoreOptions = {}) {
    this.id = options.id ?? "memory";
    this.#algorithm = options.algorithm ?? "md5";
    this.#now = options.now ?? Date.now;
  }

  /** Bytes held, summed over blocks. */
  get bytes(): number {
    let total = 0;
    for (const { bytes } of this.#blocks.values()) total += bytes.length;
    return total;
  }

  get(locator: string | Locator, options: GetOptions = {}): Promise<Uint8Array> {
    return Promise.resolve().then(() => {
      throwIfAborted(options.signal);
      const loc = toLocator(locator);
      const [start, end] = resolveRange(options.range, loc.size, loc.stripped);
      if (isEmptyBlock(loc)) return new Uint8Array(0);
      const entry = this.#blocks.get(loc.stripped);
      if (entry === undefined) {
        throw new BlockNotFoundError(loc.stripped, `MemoryStore '${this.id}'`);
      }
      entry.atime = this.#now();
      return entry.bytes.slice(start, end);
    });
  }

  put(bytes: Uint8Array, options: PutOptions = {}): Promise<PutResult> {
    return Promise.resolve().then(() => {
      throwIfAborted(options.signal);
      const locator = locatorFor(
        bytes,
        options.algorithm ?? this.#algorithm,
        options.expect,
        `MemoryStore '${this.id}'`,
        options.verified,
      );
      if (bytes.length === 0) return { locator, replicas: 1 };
      const existing = this.#blocks.get(locator);
      if (existing !== undefined) existing.mtime = this.#now();
      else {this.#blocks.set(locator, {
          bytes: bytes.slice(),
          mtime: this.#now(),
          atime: this.#now(),
        });}
      return { locator, replicas: 1 };
    });
  }

  has(locator: string | Locator): Promise<boolean> {
    return Promise.resolve().then(() => {
      const loc = toLocator(locator);
      return isEmptyBlock(loc) || this.#blocks.has(loc.stripped);
    });
  }

  delete(locator: string | Locator): Promise<boolean> {
    return Promise.resolve().then(() => this.#blocks.delete(toLocator(locator).stripped));
  }

  async *list(options: ListOptions = {}): AsyncGenerator<BlockInfo> {
    const prefix = options.prefix ?? "";
    checkPrefix(prefix);
    const keys = [...this.#blocks.keys()].filter((k) => k.startsWith(prefix)).sort();
    for (const locator of keys) {
      throwIfAborted(options.signal);
      const entry = this.#blocks.get(locator);
      if (entry === undefined) continue;
      yield { locator, size: entry.bytes.length, mtime: entry.mtime, atime: entry.atime };
    }
  }
}
