/**
 * Random-access byte sources for the read path: anything with a size and a
 * ranged `read`. {@linkcode openReadable} and {@linkcode openReader} prefetch
 * over them. Provided here: bytes or a Blob, a local file, and a manifest read
 * through a block client; {@linkcode httpSource} reads HTTP Range requests.
 *
 * @example Reading a range of a Blob
 * ```ts
 * import { bytesSource } from "stowage";
 *
 * const source = bytesSource(new TextEncoder().encode("hello world"));
 * const bytes = await source.read(6, 11);
 * console.assert(new TextDecoder().decode(bytes) === "world");
 * ```
 *
 * @module
 */
import type { BlockStore } from "./block_store.ts";
import { fs } from "./_fs.ts";
import { type Manifest, sliceSegments } from "./manifest.ts";
import { parseLocator } from "./locator.ts";

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

/**
 * A source over bytes in memory or a Blob.
 *
 * @param data The bytes.
 * @returns A source.
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
        const signal = options.signal;
        // A Blob's stream knows nothing of the signal: it is checked before
        // each piece, as the contract asks.
        return new ReadableStream<Uint8Array>({
          async pull(controller) {
            if (signal?.aborted) {
              await reader.cancel(signal.reason).catch(() => {});
              throw signal.reason;
            }
            const { done, value } = await reader.read();
            if (done) controller.close();
            else controller.enqueue(value);
          },
          cancel: (reason) => reader.cancel(reason),
        }, { highWaterMark: 0 });
      },
    };
  }
  throw new TypeError("Cannot make a bytes source: expected a Uint8Array or a Blob");
}

/**
 * A source over a local file, kept open until `close()`.
 *
 * @param path The file.
 * @returns A source.
 */
export async function fileSource(path: string): Promise<RangeSource> {
  const handle = await fs.open(path, "r");
  const { size } = await handle.stat();
  let closed = false;
  /** Fills `out` from `position`; fewer bytes only at the end of the file. */
  const readAt = async (out: Uint8Array, position: number): Promise<Uint8Array> => {
    if (closed) throw new Error(`Cannot read file '${path}': the source is closed`);
    let done = 0;
    while (done < out.length) {
      const { bytesRead } = await handle.read(out, done, out.length - done, position + done);
      if (bytesRead === 0) break;
      done += bytesRead;
    }
    return done === out.length ? out : out.subarray(0, done);
  };
  return {
    size,
    read(start, end, options = {}) {
      options.signal?.throwIfAborted();
      checkRange(start, end, size);
      return readAt(new Uint8Array(end - start), start);
    },
    stream(start, end, options = {}) {
      checkRange(start, end, size);
      let at = start;
      return new ReadableStream<Uint8Array>({
        async pull(controller) {
          options.signal?.throwIfAborted();
          if (at >= end) return controller.close();
          const piece = await readAt(new Uint8Array(Math.min(PIECE_SIZE, end - at)), at);
          at += piece.length;
          if (piece.length > 0) controller.enqueue(piece);
          if (piece.length === 0 || at >= end) controller.close();
        },
      }, { highWaterMark: 0 });
    },
    async close() {
      if (closed) return;
      closed = true;
      await handle.close();
    },
  };
}

/** Bytes per piece when a file range is streamed. */
const PIECE_SIZE = 1024 * 1024;

/**
 * A source over a manifest's bytes (one file, or every file in order), read
 * block by block through a client or store.
 *
 * @param client Where blocks are read from (`BlockClient` or a `BlockStore`).
 * @param manifest The manifest.
 * @param options `file`: the file to read. @default {every file, in order}
 * @returns A source.
 */
export function manifestSource(
  client: Pick<BlockStore, "get">,
  manifest: Manifest,
  options: { file?: string } = {},
): RangeSource {
  const segments = manifest.segments(options.file);
  const size = segments.reduce((n, s) => n + s.length, 0);
  return {
    size,
    async read(start, end, opts = {}) {
      checkRange(start, end, size);
      const parts = sliceSegments(segments, start, end).filter((s) => s.length > 0);
      const pieces = await Promise.all(parts.map((s) => {
        const whole = s.offset === 0 && s.length === parseLocator(s.locator).size;
        return client.get(s.locator, {
          ...(opts.signal ? { signal: opts.signal } : {}),
          ...(whole ? {} : { range: { start: s.offset, end: s.offset + s.length } }),
        });
      }));
      if (pieces.length === 1) return pieces[0]!;
      const out = new Uint8Array(end - start);
      let at = 0;
      for (const p of pieces) {
        out.set(p, at);
        at += p.length;
      }
      return out;
    },
  };
}

/** Throws a RangeError unless `0 <= start <= end <= size`. */
export function checkRange(start: number, end: number, size: number): void {
  if (
    !Number.isSafeInteger(start) || !Number.isSafeInteger(end) || start < 0 || end < start ||
    end > size
  ) {
    throw new RangeError(`Cannot read range [${start}, ${end}): the source has ${size} bytes`);
  }
}
