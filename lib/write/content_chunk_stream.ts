/**
 * Re-chunks a byte stream at content-defined boundaries (FastCDC over a Gear
 * rolling hash, normalized chunking): a boundary depends only on the bytes
 * around it, so inserting or deleting bytes moves the boundaries near the
 * edit and no others, and the chunks after it are the same chunks as before.
 * That is what lets a store keep each chunk once across versions of a file.
 *
 * Cut points are the same whatever sizes the input arrives in, and in Node and
 * Deno alike. Each output chunk owns its own `ArrayBuffer` of exactly its
 * length. Memory is one partial chunk (at most `max` bytes).
 *
 * @module
 */
import { type ChunkSizes, DEFAULT_CHUNK_SIZES, FastCdc } from "./_fastcdc.ts";

export { type ChunkSizes, DEFAULT_CHUNK_SIZES };

/** Options for {@linkcode ContentChunkStream}. */
export interface ContentChunkStreamOptions extends ChunkSizes {
  /** Queuing strategy of the writable side. @default {highWaterMark: 1} */
  writableStrategy?: QueuingStrategy<Uint8Array>;
  /** Queuing strategy of the readable side. @default {highWaterMark: 0} */
  readableStrategy?: QueuingStrategy<Uint8Array>;
}

/**
 * A `TransformStream` emitting content-defined chunks; see the module doc.
 *
 * @example Chunks that survive an edit
 * ```ts
 * import { ContentChunkStream } from "stowage";
 * import assert from "node:assert/strict";
 *
 * const random = (n: number, seed: number) =>
 *   new Uint8Array(n).map((_, i) => (Math.imul(i + seed, 2654435761) >>> 13) & 255);
 * const v1 = random(1 << 20, 1);
 * // v2: 100 bytes inserted near the start.
 * const v2 = new Uint8Array([...v1.subarray(0, 5000), ...random(100, 2), ...v1.subarray(5000)]);
 * const chunks = async (bytes: Uint8Array) =>
 *   (await Array.fromAsync(
 *     ReadableStream.from([bytes]).pipeThrough(new ContentChunkStream({ avg: 4096 })),
 *   )).map((c) => c.join());
 * const [a, b] = [await chunks(v1), await chunks(v2)];
 * const shared = b.filter((c) => a.includes(c)).length;
 * assert.ok(shared >= a.length - 2); // only the chunk with the edit is new
 * ```
 */
export class ContentChunkStream extends TransformStream<Uint8Array, Uint8Array> {
  /** The chunk sizes in use. */
  readonly sizes: Readonly<Required<ChunkSizes>>;

  /**
   * Creates a {@linkcode ContentChunkStream}.
   *
   * @param options Min, average (a power of two) and max chunk sizes, in
   *   bytes (default 16 / 64 / 256 KiB); queuing strategies.
   * @throws {RangeError} Unless 64 ≤ min ≤ avg ≤ max ≤ 64 MiB and avg is a power of two.
   */
  constructor(options: ContentChunkStreamOptions = {}) {
    const cdc = new FastCdc(options);
    // The partial chunk: a buffer of `max` bytes, handed out when a cut ends it.
    let piece = new Uint8Array(cdc.sizes.max);
    let filled = 0;
    super(
      {
        transform(chunk, controller) {
          if (!(chunk instanceof Uint8Array)) {
            throw new TypeError(
              `Cannot write to ContentChunkStream: expected a Uint8Array chunk, received ${
                chunk === null ? "null" : typeof chunk
              }`,
            );
          }
          let at = 0;
          for (;;) {
            const cut = cdc.next(chunk, at);
            const end = cut < 0 ? chunk.length : cut;
            piece.set(chunk.subarray(at, end), filled);
            filled += end - at;
            if (cut < 0) return;
            controller.enqueue(piece.slice(0, filled));
            filled = 0;
            at = cut;
          }
        },
        flush(controller) {
          if (filled > 0) controller.enqueue(piece.slice(0, filled));
          piece = new Uint8Array(0);
          filled = 0;
          cdc.reset();
        },
      },
      options.writableStrategy ?? { highWaterMark: 1 },
      options.readableStrategy ?? { highWaterMark: 0 },
    );
    this.sizes = cdc.sizes;
  }
}
