/**
 * The `BlockStore` interface: what every place that holds blocks offers —
 * {@linkcode MemoryStore}, {@linkcode FileStore}, and (in later layers) HTTP block
 * services and S3 buckets.
 *
 * Stores are content-addressed: a block's locator is its digest and size, so a
 * put of the same bytes is idempotent, and every get is verifiable.
 *
 * @example Any store, same calls
 * ```ts
 * import { type BlockStore, MemoryStore } from "stowage";
 * import assert from "node:assert/strict";
 *
 * const store: BlockStore = new MemoryStore();
 * const { locator } = await store.put(new TextEncoder().encode("foo"));
 * assert.equal(new TextDecoder().decode(await store.get(locator)), "foo");
 * ```
 *
 * @module
 */
import type { DigestAlgorithm } from "./digest.ts";
import type { Locator } from "./locator.ts";

/**
 * 64 MiB, Keep's block size: the default block size and the largest block a server takes.
 *
 * @example
 * ```ts
 * import { DEFAULT_BLOCK_SIZE } from "stowage";
 * import assert from "node:assert/strict";
 *
 * assert.equal(DEFAULT_BLOCK_SIZE, 64 * 1024 * 1024);
 * ```
 */
export const DEFAULT_BLOCK_SIZE: number = 64 * 1024 * 1024;

/** A byte range inside a block: `start` inclusive, `end` exclusive. */
export interface ByteRange {
  /** First byte, 0-based. */
  start: number;
  /** One past the last byte. @default {the block's size} */
  end?: number;
}

/** Options for {@linkcode BlockStore.get}. */
export interface GetOptions {
  /** Aborts the read; the promise rejects with `signal.reason`. */
  signal?: AbortSignal;
  /** Reads only this range of the block. */
  range?: ByteRange;
  /**
   * Called when a service pushes back (503, 429) and the read will ask again:
   * the read path takes it as a sign to send fewer requests at once.
   */
  onPushback?: () => void;
}

/** Options for {@linkcode BlockStore.put}. */
export interface PutOptions {
  /** Aborts the write; nothing partial is left behind. */
  signal?: AbortSignal;
  /** The digest algorithm the new block is named with. @default {the store's, "md5"} */
  algorithm?: DigestAlgorithm;
  /**
   * The locator the caller expects; when the bytes do not match it the put
   * fails with `BlockCorruptError` and nothing is stored.
   */
  expect?: string | Locator;
  /**
   * The caller has already hashed these bytes and they match `expect`, so the
   * store may skip hashing them again (the block server hashes bodies as they
   * stream in; the write pipeline hashes to find the locator). Ignored without
   * `expect`. @default {false}
   */
  verified?: boolean;
  /** Copies wanted, for services that replicate themselves (Keep proxies). @default {1} */
  copies?: number;
  /** Storage classes wanted, for services that know them. */
  classes?: readonly string[];
  /** `X-Request-Id` to send, for services that log it. */
  requestId?: string;
  /**
   * Told how many of the block's bytes have been written (to disk, or handed
   * to the network) so far, as they go, where the store can tell.
   */
  onProgress?: (sent: number) => void;
}

/** What a put achieved. */
export interface PutResult {
  /** `<digest>+<size>`, plus any hints the store adds (e.g. a permission signature). */
  locator: string;
  /** Copies the store confirmed. */
  replicas: number;
  /**
   * Copies confirmed per storage class, when the store reports them
   * (`X-Keep-Storage-Classes-Confirmed`); absent when it does not.
   */
  classes?: Record<string, number>;
}

/** One stored block, as listed. */
export interface BlockInfo {
  /** `<digest>+<size>`. */
  locator: string;
  /** Size in bytes. */
  size: number;
  /** Last modification (or refresh) time, Unix milliseconds. */
  mtime: number;
  /** Last access time, Unix milliseconds, when the store knows it. */
  atime?: number;
}

/** Options for {@linkcode BlockStore.list}. */
export interface ListOptions {
  /** Lists only blocks whose digest starts with this lowercase hex prefix. */
  prefix?: string;
  /** Stops the listing. */
  signal?: AbortSignal;
}

/** A content-addressed block store. */
export interface BlockStore {
  /** Stable identifier, used for rendezvous ordering and in error messages. */
  readonly id: string;
  /**
   * Reads a block (or a range of it).
   * @throws {BlockNotFoundError} When the block is not stored.
   * @throws {BlockCorruptError} When stored bytes fail verification.
   */
  get(locator: string | Locator, options?: GetOptions): Promise<Uint8Array>;
  /**
   * Stores a block. Storing bytes already present only refreshes them.
   * The store must not keep `bytes` (or its memory) once the returned promise
   * settles: the block server and the write stream reuse the buffer for the
   * next block. A store that keeps blocks in memory keeps a copy.
   * @throws {BlockCorruptError} When `expect` does not match the bytes.
   * @throws {StoreFullError} When there is no room.
   */
  put(bytes: Uint8Array, options?: PutOptions): Promise<PutResult>;
  /** Tells whether the block is stored. */
  has(locator: string | Locator, options?: { signal?: AbortSignal }): Promise<boolean>;
  /** Removes the block; resolves `false` when it was not there. */
  delete(locator: string | Locator, options?: { signal?: AbortSignal }): Promise<boolean>;
  /** Lists stored blocks in digest order. */
  list(options?: ListOptions): AsyncIterable<BlockInfo>;
}
