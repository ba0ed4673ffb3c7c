/**
 * The read path's options and statistics, shared by {@linkcode openReader},
 * {@linkcode openReadable} and `BlockClient.readable` / `BlockClient.open`.
 *
 * @example Asking for a view and reading the statistics
 * ```ts
 * import { bytesSource, openReader, type ReadOptions } from "stowage";
 * import assert from "node:assert/strict";
 *
 * const options: ReadOptions = { start: 10, end: 20, maxRangeRequests: 2 };
 * const reader = openReader(bytesSource(new Uint8Array(100)), options);
 * assert.equal((await reader.read(10))?.length, 10);
 * assert.equal(reader.stats.bytesAsked, 10);
 * await reader.close();
 * ```
 *
 * @module
 */

/** Options for {@linkcode openReader}, {@linkcode openReadable} and manifest reads. */
export interface ReadOptions {
  /** First byte of the view. @default {0} */
  start?: number;
  /** One past the last byte of the view. @default {source.size} */
  end?: number;
  /** Range requests (or block reads, for a manifest) in flight at most. @default {4} */
  maxRangeRequests?: number;
  /** Cap on the prefetch window, bytes. @default {256 MiB} */
  maxPrefetch?: number;
  /** Cap on bytes requested and not yet arrived. @default {the window cap} */
  maxInFlightBytes?: number;
  /** Closes the reader (or errors the stream) when aborted. */
  signal?: AbortSignal;
}

/** What a reader did: requests, bytes, seeks, waiting. */
export interface ReadStats {
  /** Range requests made. */
  requests: number;
  /** Bytes the caller asked for. */
  bytesAsked: number;
  /** Bytes the source delivered, including those of requests a seek dropped. */
  bytesFetched: number;
  /** bytesFetched / bytesAsked (1 when nothing was asked). */
  amplification: number;
  /** Forward seeks served from the window. */
  softSeeks: number;
  /** Seeks that restarted the prefetch. */
  hardSeeks: number;
  /** Time reads spent waiting for bytes, ms. */
  waitMs: number;
}
