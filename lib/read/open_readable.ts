/**
 * `openReadable`: a `ReadableStream<Uint8Array>` of type `"bytes"` over any
 * {@linkcode RangeSource}, with adaptive prefetch. BYOB readers read straight
 * into their buffers; `cancel()` aborts every request in flight.
 *
 * @module
 */
import { Prefetcher } from "./_prefetcher.ts";
import type { ReadOptions } from "./read_options.ts";
import type { RangeSource } from "./range_source.ts";

/** Options for {@linkcode openReadable}. */
export interface ReadableOptions extends ReadOptions {
  /** Bytes per chunk for default (non-BYOB) readers. @default {1048576} */
  readSize?: number;
}

/**
 * Streams a source's bytes.
 *
 * @param source The bytes.
 * @param options View, range requests, prefetch cap, chunk size, signal.
 * @returns A byte stream.
 *
 * @example A range of a source as a Response body
 * ```ts
 * import { bytesSource, openReadable } from "stowage";
 * import assert from "node:assert/strict";
 *
 * const source = bytesSource(new TextEncoder().encode("hello world"));
 * const body = openReadable(source, { start: 6, maxRangeRequests: 4 });
 * assert.equal(await new Response(body).text(), "world");
 * ```
 */
export function openReadable(
  source: RangeSource,
  options: ReadableOptions = {},
): ReadableStream<Uint8Array> {
  const engine = new Prefetcher(source, options);
  const readSize = options.readSize ?? 1024 * 1024;
  if (!Number.isSafeInteger(readSize) || readSize < 1) {
    throw new RangeError(`Cannot stream with readSize ${readSize}: expected an integer >= 1`);
  }
  const signal = options.signal;
  let onAbort: (() => void) | undefined;
  return new ReadableStream({
    type: "bytes",
    start(controller) {
      if (signal === undefined) return;
      onAbort = () => {
        controller.error(signal.reason);
        engine.close(signal.reason).catch(() => {});
      };
      if (signal.aborted) onAbort();
      else signal.addEventListener("abort", onAbort, { once: true });
    },
    async pull(controller) {
      const request = controller.byobRequest;
      const view = request?.view;
      const want = view ? view.byteLength : readSize;
      let bytes: Uint8Array | null;
      try {
        bytes = await engine.read(want);
      } catch (error) {
        if (signal?.aborted) return;
        throw error;
      }
      if (bytes === null) {
        if (signal !== undefined && onAbort !== undefined) {
          signal.removeEventListener("abort", onAbort);
        }
        controller.close();
        request?.respond(0);
        engine.close().catch(() => {});
        return;
      }
      if (request && view) {
        new Uint8Array(view.buffer, view.byteOffset, view.byteLength).set(bytes);
        request.respond(bytes.length);
      } else {
        // enqueue() transfers the buffer: hand over a copy, never a view of the
        // engine's (or the caller's) buffers.
        controller.enqueue(bytes.slice());
      }
    },
    async cancel(reason) {
      if (signal !== undefined && onAbort !== undefined) {
        signal.removeEventListener("abort", onAbort);
      }
      await engine.close(reason);
    },
  }, { highWaterMark: 0 });
}
