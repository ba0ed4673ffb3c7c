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

/** Options the read path passes to a {@linkcode RangeSource}'s `read` and `stream`. */
export interface RangeReadOptions {
  /** Ends the request. */
  signal?: AbortSignal;
  /**
   * Called when the server pushes back (503, 429) before the source asks
   * again: the read path takes it as a sign to send fewer requests at once.
   */
  onPushback?: () => void;
}

/** A random-access byte source. */
export interface RangeSource {
  /** Total bytes. */
  readonly size: number;
  /**
   * Reads bytes `[start, end)`; must resolve with exactly `end - start` bytes
   * (fewer only at the end of the source).
   */
  read(start: number, end: number, options?: RangeReadOptions): Promise<Uint8Array>;
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
    options?: RangeReadOptions,
  ): ReadableStream<Uint8Array>;
  /**
   * Optional: the end of the natural unit (a block of a manifest) that holds
   * byte `offset`. The read path then cuts its requests there, so that each
   * request is whole units: one block GET rather than several ranges of it.
   */
  boundary?(offset: number): number;
  /**
   * Optional: the size of the units the source is stored in (a manifest's
   * largest block). A sequential read's window then holds three, so that the
   * next units are fetched while one is read, even when the source's
   * boundaries come closer together (a content-chunked file's runs).
   */
  readonly unit?: number;
  /** Releases resources (open files). */
  close?(): Promise<void>;
}
