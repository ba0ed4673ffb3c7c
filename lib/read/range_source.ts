/**
 * `RangeSource`: a random-access byte source, anything with a size and a
 * ranged `read` (and, optionally, a ranged `stream`). The read path
 * ({@linkcode openReader}, {@linkcode openReadable}) prefetches over any of
 * them: {@linkcode httpSource}, {@linkcode fileSource}, {@linkcode bytesSource},
 * or a manifest through `BlockClient.readable`.
 *
 * @example A source of your own
 * ```ts
 * import { type RangeSource, openReader } from "stowage";
 * import assert from "node:assert/strict";
 *
 * const zeros: RangeSource = {
 *   size: 1000,
 *   read: (start, end) => Promise.resolve(new Uint8Array(end - start)),
 * };
 * const reader = openReader(zeros);
 * assert.equal((await reader.readAt(990, 100))?.length, 10);
 * await reader.close();
 * ```
 *
 * @module
 */

/** A random-access byte source. */
export interface RangeSource {
  /** Total bytes. */
  readonly size: number;
  /**
   * Reads bytes `[start, end)`; must resolve with exactly `end - start` bytes
   * (fewer only at the end of the source).
   */
  read(start: number, end: number, options?: { signal?: AbortSignal }): Promise<Uint8Array>;
  /**
   * Optional: bytes `[start, end)` as a stream of pieces, in order, as they
   * arrive; exactly `end - start` bytes, or the stream errors. When present,
   * the read path prefers it: a read resolves as soon as its own bytes are in,
   * not when its whole range request has finished, and large ranges need no
   * buffer of their own. `signal` (and cancelling the stream) must end the
   * request.
   */
  stream?(
    start: number,
    end: number,
    options?: { signal?: AbortSignal },
  ): ReadableStream<Uint8Array>;
  /** Releases resources (open files). */
  close?(): Promise<void>;
}
