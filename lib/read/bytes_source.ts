/**
 * `bytesSource`: a {@linkcode RangeSource} over bytes in memory or a Blob
 * (a `File` included), for reading them through the prefetching read path.
 *
 * @module
 */
import { checkRange } from "../model/_range.ts";
import { pieceStream } from "./_piece_stream.ts";
import type { RangeSource } from "./range_source.ts";

/**
 * A source over bytes in memory or a Blob.
 *
 * @param data The bytes.
 * @returns A source.
 *
 * @example Reading a range of a Blob
 * ```ts
 * import { bytesSource } from "stowage";
 * import assert from "node:assert/strict";
 *
 * const source = bytesSource(new Blob(["hello world"]));
 * assert.equal(new TextDecoder().decode(await source.read(6, 11)), "world");
 * ```
 */
export function bytesSource(data: Uint8Array | Blob): RangeSource {
  if (data instanceof Uint8Array) {
    return {
      size: data.length,
      read(start, end, options = {}) {
        options.signal?.throwIfAborted();
        checkRange(start, end, data.length);
        return Promise.resolve(data.subarray(start, end));
      },
    };
  }
  if (typeof Blob !== "undefined" && data instanceof Blob) {
    return {
      size: data.size,
      async read(start, end, options = {}) {
        options.signal?.throwIfAborted();
        checkRange(start, end, data.size);
        return new Uint8Array(await data.slice(start, end).arrayBuffer());
      },
      stream(start, end, options = {}) {
        options.signal?.throwIfAborted();
        checkRange(start, end, data.size);
        const reader = data.slice(start, end).stream().getReader();
        return pieceStream({
          next: async () => (await reader.read()).value,
          release: () => reader.cancel().catch(() => {}),
        }, options.signal);
      },
    };
  }
  throw new TypeError("Cannot make a bytes source: expected a Uint8Array or a Blob");
}
