/**
 * `openReader`: a seekable reader over any {@linkcode RangeSource}, with
 * adaptive prefetch (see the read-path notes in docs/architecture.md).
 *
 * @module
 */
import { Prefetcher } from "./_prefetcher.ts";
import type { RangeSource } from "./range_source.ts";
import type { ReadOptions, ReadStats } from "./read_options.ts";

/** A seekable reader; see {@linkcode openReader}. */
export interface Reader {
  /** Reads up to `n` bytes at the position (exactly `n` before the end); `null` at the end. */
  read(n: number): Promise<Uint8Array | null>;
  /** Seeks, then reads. */
  readAt(position: number, n: number): Promise<Uint8Array | null>;
  /** Moves the position (soft inside the prefetch window, hard elsewhere). */
  seek(position: number): void;
  /** The next byte read. */
  readonly position: number;
  /** Bytes in the view (`end - start`). */
  readonly size: number;
  /** Requests, bytes asked and fetched, seeks, waiting time. */
  readonly stats: ReadStats;
  /** Aborts every request in flight and settles every read. */
  close(): Promise<void>;
  /** `close()`, for `await using`. */
  [Symbol.asyncDispose](): Promise<void>;
}

/**
 * Opens a reader over a source.
 *
 * @param source The bytes.
 * @param options View (`start`, `end`), `maxRangeRequests`, `maxPrefetch`, `maxInFlightBytes`, `signal`.
 * @returns The reader.
 *
 * @example Reading a header, then the tail
 * ```ts
 * import { bytesSource, openReader } from "stowage";
 * import assert from "node:assert/strict";
 *
 * const data = new Uint8Array(100_000).map((_, i) => i & 0xff);
 * const reader = openReader(bytesSource(data));
 * try {
 *   assert.deepEqual(await reader.read(4), data.subarray(0, 4));
 *   assert.deepEqual(await reader.readAt(reader.size - 10, 10), data.subarray(-10));
 *   assert.equal(reader.stats.hardSeeks, 1);
 * } finally {
 *   await reader.close();
 * }
 * ```
 */
export function openReader(source: RangeSource, options: ReadOptions = {}): Reader {
  const engine = new Prefetcher(source, options);
  const signal = options.signal;
  // A failing source close must not surface as an unhandled rejection.
  const onAbort = (): void => void engine.close(signal!.reason).catch(() => {});
  if (signal?.aborted) onAbort();
  signal?.addEventListener("abort", onAbort, { once: true });
  const close = async (): Promise<void> => {
    signal?.removeEventListener("abort", onAbort);
    await engine.close();
  };
  return {
    read: (n) => engine.read(n),
    readAt: (position, n) => {
      engine.seek(position);
      return engine.read(n);
    },
    seek: (position) => engine.seek(position),
    get position() {
      return engine.position;
    },
    size: engine.end - engine.start,
    get stats() {
      return engine.stats;
    },
    close,
    [Symbol.asyncDispose]: close,
  };
}
