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
  /**
   * Range requests (or block reads, for a manifest) in flight at most. The
   * read path chooses how many it uses, up to this, from the goodput it
   * measures; with `adaptive: false` it uses exactly this many.
   * @default {32, or 4 with `adaptive: false`}
   */
  maxRangeRequests?: number;
  /**
   * Whether the number of requests in flight adapts to the link: it grows
   * while goodput rises and shrinks when the server pushes back (503, 429).
   * `false` keeps `maxRangeRequests` fixed. @default {true}
   */
  adaptive?: boolean;
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
  /** Requests allowed in flight now (what the controller chose). */
  concurrency: number;
  /** The most requests allowed in flight so far. */
  peakConcurrency: number;
  /** How the limit changed over time (the first 16 changes and the latest 48). */
  concurrencyChanges: ConcurrencyChange[];
  /** Answers that pushed back (503, 429), each asked again. */
  pushbacks: number;
}

/** A change of the concurrency limit, and why. */
export interface ConcurrencyChange {
  /** Milliseconds since the reader opened. */
  atMs: number;
  /** The limit from then on. */
  concurrency: number;
  /**
   * Why: `"start"`; `"grow"` (a doubling paid); `"revert"` (one did not);
   * `"probe"` and `"keep"` (a probe from holding, and one that paid);
   * `"pushback"` (the server answered 503 or 429).
   */
  reason: "start" | "grow" | "revert" | "probe" | "keep" | "pushback";
}
