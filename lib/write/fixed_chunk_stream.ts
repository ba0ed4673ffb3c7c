/**
 * Re-chunks a byte stream into chunks of exactly `size` bytes (the last may be
 * shorter). Named as `@std/streams`' `FixedChunkStream`, which cannot be
 * installed here.
 *
 * Every output chunk owns its own `ArrayBuffer` of exactly its length: never a
 * view that pins a caller's larger buffer, and never shared with a later chunk,
 * so a consumer may keep, transfer or hand the chunk to another thread. Memory is
 * one partial chunk whatever the input's chunking.
 *
 * @module
 */
import { Chunker } from "../platform/_chunker.ts";

/** Options for {@linkcode FixedChunkStream}. */
export interface FixedChunkStreamOptions {
  /** Queuing strategy of the writable side. @default {highWaterMark: 1} */
  writableStrategy?: QueuingStrategy<Uint8Array>;
  /** Queuing strategy of the readable side. @default {highWaterMark: 0} */
  readableStrategy?: QueuingStrategy<Uint8Array>;
}

/**
 * A `TransformStream` emitting chunks of exactly `size` bytes; see the module doc.
 *
 * @example Cutting a stream into 4-byte blocks
 * ```ts
 * import { FixedChunkStream } from "stowage";
 * import assert from "node:assert/strict";
 *
 * const chunks = await Array.fromAsync(
 *   ReadableStream.from([new Uint8Array(6), new Uint8Array(3)])
 *     .pipeThrough(new FixedChunkStream(4)),
 * );
 * assert.ok(chunks.map((c) => c.length).join() === "4,4,1");
 * ```
 */
export class FixedChunkStream extends TransformStream<Uint8Array, Uint8Array> {
  /** The chunk size in bytes. */
  readonly size: number;

  /**
   * Creates a {@linkcode FixedChunkStream}.
   *
   * @param size Chunk size in bytes, a positive safe integer.
   * @param options Queuing strategies.
   * @throws {RangeError} When `size` is not a positive safe integer.
   */
  constructor(size: number, options: FixedChunkStreamOptions = {}) {
    if (!Number.isSafeInteger(size) || size <= 0) {
      throw new RangeError(
        `Cannot construct FixedChunkStream as size must be a positive integer: current value is ${size}`,
      );
    }
    // A fresh buffer per chunk is what lets each output own its memory.
    const chunker = new Chunker(size);
    super(
      {
        transform(chunk, controller) {
          if (!(chunk instanceof Uint8Array)) {
            throw new TypeError(
              `Cannot write to FixedChunkStream: expected a Uint8Array chunk, received ${
                describe(chunk)
              }`,
            );
          }
          for (const piece of chunker.push(chunk)) controller.enqueue(piece);
        },
        flush(controller) {
          const tail = chunker.flush(true);
          if (tail !== undefined) controller.enqueue(tail);
        },
      },
      options.writableStrategy ?? { highWaterMark: 1 },
      options.readableStrategy ?? { highWaterMark: 0 },
    );
    this.size = size;
  }
}

function describe(value: unknown): string {
  if (value === null) return "null";
  if (typeof value === "object") return (value as object).constructor?.name ?? "object";
  return typeof value;
}
