/**
 * `BlockPutter`: what the write side stores blocks through, a replicated put.
 * `BlockClient` is the implementation; the write stream depends only on this
 * contract, so the client can offer `writable()` without an import cycle.
 *
 * @example A putter that keeps blocks in a Map (one replica each)
 * ```ts
 * import { type BlockPutter, locatorOf } from "stowage";
 *
 * const blocks = new Map<string, Uint8Array>();
 * const putter: BlockPutter = {
 *   algorithm: "md5",
 *   copies: 1,
 *   put(bytes, options = {}) {
 *     const locator = options.expect ?? locatorOf(bytes);
 *     blocks.set(locator, bytes);
 *     return Promise.resolve({ locator, replicas: 1, classes: {}, overReplicated: 0 });
 *   },
 *   replicas: (locator) => Promise.resolve(blocks.has(locator) ? 1 : 0),
 * };
 * const { replicas } = await putter.put(new Uint8Array(3));
 * if (replicas !== 1) throw new Error("expected one replica");
 * ```
 *
 * @module
 */
import type { ChunkIndex } from "./chunk_index.ts";
import type { DigestAlgorithm } from "./digest.ts";

/** Options for a replicated put ({@linkcode BlockPutter.put}). */
export interface ReplicatedPutOptions {
  /** Replicas wanted. @default {the putter's copies} */
  copies?: number;
  /** Storage classes wanted. @default {the putter's classes} */
  classes?: readonly string[];
  /** Cancels every request in flight; the put rejects with the reason. */
  signal?: AbortSignal;
  /**
   * The block's expected locator, when the caller has already hashed it: the
   * put skips hashing and sends it for the services to check.
   */
  expect?: string;
  /** `X-Request-Id` for every PUT of this block. @default {a fresh id} */
  requestId?: string;
  /**
   * Told how many of the block's bytes its furthest replica has been sent so
   * far; the last call, before the put resolves, gives the whole size.
   */
  onProgress?: (sent: number) => void;
}

/** What a replicated put achieved. */
export interface ReplicatedPutResult {
  /** The locator, with hints (a signature) when a service gave them. */
  locator: string;
  /** Replicas confirmed. */
  replicas: number;
  /** Replicas confirmed per storage class (empty when not tracked). */
  classes: Record<string, number>;
  /** Replicas stored beyond those wanted (a proxy storing more, a timed-out PUT that landed). */
  overReplicated: number;
}

/** Stores blocks replicated; `BlockClient` implements it. */
export interface BlockPutter {
  /** The digest algorithm new blocks are named with. */
  readonly algorithm: DigestAlgorithm;
  /** Replicas per block unless a put asks otherwise. */
  readonly copies: number;
  /**
   * Stores a block on `copies` services. `bytes` must not be kept once the
   * promise settles: the write stream reuses the buffer for a later block.
   */
  put(bytes: Uint8Array, options?: ReplicatedPutOptions): Promise<ReplicatedPutResult>;
  /**
   * Where chunks stored before are found, for `chunking: "content"`; none:
   * only repeats within one write are stored once.
   */
  readonly chunkIndex?: ChunkIndex | undefined;
  /** Counts the services that hold a block, stopping at `enough`. */
  replicas(locator: string, options?: { signal?: AbortSignal; enough?: number }): Promise<number>;
}
